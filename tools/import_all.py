"""Import every module under a package's src/: fails on a dependency the package did not declare."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(src: str) -> int:
    """Import all modules of the packages found in `src`; report the first failure."""
    root = Path(src)
    for package in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        importlib.import_module(package.name)
        for module in pkgutil.walk_packages([str(package)], prefix=f"{package.name}."):
            if module.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(module.name)
            except ImportError as exc:
                print(f"{module.name}: {exc}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
