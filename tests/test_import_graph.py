"""The floor plan, checked from the code's own imports: arrows point down only (apps → services →
libraries), no service imports another, every package imports only what it declares, and no
module imports itself back through others."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
FLOORS = {"shared": 1, "services": 2, "apps": 3}


def packages() -> dict[str, tuple[int, Path, set[str]]]:
    """Import name → (floor, source folder, declared workspace dependencies as import names)."""
    found = {}
    for floor_name, floor in FLOORS.items():
        for project in sorted((ROOT / floor_name).glob("*/pyproject.toml")):
            meta = tomllib.loads(project.read_text())["project"]
            extras = [d for group in meta.get("optional-dependencies", {}).values() for d in group]
            declared = {
                d.split("[")[0].split(">")[0].split("=")[0].strip().replace("-", "_")
                for d in [*meta.get("dependencies", []), *extras]
                if d.startswith("fourlinks-")
            }
            found[meta["name"].replace("-", "_")] = (floor, project.parent / "src", declared)
    return found


def modules(source: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(path: Path) -> set[str]:
    """Every fourlinks module a file imports, at any depth of the file (imports for type checking
    only are not arrows: nothing is loaded)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("fourlinks_")}


def test_arrows_point_down_and_every_package_imports_only_what_it_declares() -> None:
    found = packages()
    assert {"fourlinks_kernel", "fourlinks_cli", "fourlinks_members"} <= set(found)
    wrong = []
    for name, (floor, source, declared) in found.items():
        for module, path in modules(source):
            for target in {i.split(".")[0] for i in imports(path)} - {name}:
                target_floor = found[target][0]
                if target_floor > floor:
                    wrong.append(f"{module} (floor {floor}) imports {target} (floor {target_floor}): upward")
                elif target_floor == floor == FLOORS["services"]:
                    wrong.append(f"{module} imports another service, {target}: services talk through events")
                elif target not in declared:
                    wrong.append(f"{module} imports {target}, which {name} does not declare")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back_through_others() -> None:
    graph: dict[str, set[str]] = {}
    for _, source, _ in packages().values():
        for module, path in modules(source):
            graph[module] = imports(path)
    graph = {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}
    assert not cycles(graph), cycles(graph)


def test_a_library_never_names_a_service_or_an_application_even_lazily() -> None:
    """The `fourlinks` command used to load audit, bench and the seed through importlib."""
    for _, (floor, source, _) in packages().items():
        if floor != FLOORS["shared"]:
            continue
        for module, path in modules(source):
            text = path.read_text()
            assert "import_module(" not in text, f"{module} loads code by name"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_pure_model_loads_no_machinery() -> None:
    """Aggregates decide and record: importing them loads no crypto, NATS, database or web code."""
    probe = (
        "import sys, fourlinks_kernel.aggregate, fourlinks_kernel.events; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'cryptography', 'nats', 'sqlalchemy', 'fastapi', 'faststream', 'structlog'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_rebuild_loads_no_http_and_no_policies() -> None:
    """`fourlinks replay rebuild` needs read models, the store and a database: nothing of the web."""
    probe = (
        "import sys, fourlinks_audit.cli; web = {'fastapi', 'faststream', 'starlette', 'uvicorn'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & web), "
        "sorted(m for m in sys.modules if '.adapters' in m or m.endswith('.bootstrap')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[] []"


def test_no_application_module_of_a_service_imports_an_adapter() -> None:
    found = []
    for service in sorted((ROOT / "services").glob("*/src/*")):
        for name, path in modules(service):
            if ".application" in f".{name}" or name.startswith("application"):
                found += [(name, i) for i in imports(path) if ".adapters" in i]
    assert found == []


def test_no_command_is_wrapped_in_a_closure_on_its_way_to_its_handler() -> None:
    """The write path stays straight: `dispatch(command, handler, ...)`, never `lambda uow: ...`."""
    wrapped = [
        str(path.relative_to(ROOT))
        for floor in ("shared", "services")
        for path in sorted((ROOT / floor).glob("*/src/**/*.py"))
        if "lambda uow" in path.read_text()
    ]
    assert wrapped == []
