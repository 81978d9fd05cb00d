"""SQL helpers for projections: statements built once per shape (insert, update, select, upsert),
the writer connection a projection applies its micro-batches on, one SQLite writer at a time per
file, and the SQLite setup every connection gets."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    func,
    or_,
    select,
)
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_PLANS: dict[tuple[Any, ...], _Plan] = {}


def _statement(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """A statement built once per shape: SQLAlchemy then reuses its compiled form, and a row
    costs only its parameters (building `.where(..).values(..)` per row cost four times more)."""
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build()
    return statement


@dataclass(frozen=True)
class _Plan:
    """A write statement compiled once for one dialect: its SQL, the order of its parameters
    (for positional drivers such as sqlite3), how each value is bound, and the values of
    columns with a constant default that the caller left out. A plain INSERT on PostgreSQL also
    has its COPY: a run of them goes as one COPY instead (a tenth of a row's cost)."""

    table: str
    sql: str
    order: tuple[str, ...] | None
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    defaults: tuple[tuple[str, Any], ...]
    copy: str | None = None
    copy_columns: tuple[str, ...] = ()


def _plan(
    conn: Connection,
    key: tuple[Any, ...],
    build: Callable[[], Any],
    table: Table,
    given: Sequence[str],
    *,
    plain_insert: bool = False,
) -> _Plan:
    dialect = conn.dialect
    plan = _PLANS.get((dialect.name, *key))
    if plan is None:
        compiled = build().compile(dialect=dialect, column_keys=list(given))
        processors = []
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        defaults = []
        for name in compiled.binds:
            if name not in given and name in table.c:
                default = table.c[name].default
                if default is None or not default.is_scalar:
                    raise ValueError(f"{table.name}.{name}: no value given and no constant default")
                defaults.append((name, default.arg))
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        copy, columns = None, tuple(compiled.binds)
        if plain_insert and dialect.name == "postgresql":
            quoted = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
            copy = f"COPY {dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN"
        plan = _PLANS[(dialect.name, *key)] = _Plan(
            table.name, compiled.string, order, tuple(processors), tuple(defaults), copy, columns
        )
    return plan


def _run(conn: Connection, plan: _Plan, values: dict[str, Any]) -> None:
    """Execute a planned write on the transaction's own DBAPI connection: the same SQL and bound
    values SQLAlchemy would send, without its per-statement bookkeeping (about three quarters of
    a row's cost in a replay). Inside `batched_writes` the write waits to go with others."""
    parameters = dict(plan.defaults)
    parameters.update(values)
    for name, process in plan.processors:
        if name in parameters:
            parameters[name] = process(parameters[name])
    arguments: Any = parameters if plan.order is None else tuple(parameters[n] for n in plan.order)
    pending: _PendingWrites | None = conn.info.get(_PENDING)
    if pending is not None:
        pending.add(plan, arguments)
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(plan.sql, arguments)
    finally:
        cursor.close()


_PENDING = "fourlinks.pending_writes"


class _PendingWrites:
    """Planned writes held back, per table, in order. Writes to different tables commute (the read
    models have no foreign keys or triggers, and a planned write reads only its own table), so each
    table's writes go in their order and a run of one statement goes as one `executemany`: one
    round trip to PostgreSQL instead of one a row."""

    def __init__(self) -> None:
        self.by_table: dict[str, list[tuple[_Plan, list[Any]]]] = {}

    def add(self, plan: _Plan, arguments: Any) -> None:
        runs = self.by_table.setdefault(plan.table, [])
        if runs and runs[-1][0] is plan:
            runs[-1][1].append(arguments)
        else:
            runs.append((plan, [arguments]))

    def send(self, dbapi_connection: Any) -> None:
        by_table, self.by_table = self.by_table, {}
        runs = [run for table_runs in by_table.values() for run in table_runs]
        # psycopg: statements sent in a pipeline share one round trip instead of one each (a batch
        # often holds many runs of one row: an insert, then updates of other rows); COPY cannot
        # be pipelined and goes between.
        pipeline = getattr(dbapi_connection, "pipeline", None)
        cursor = dbapi_connection.cursor()
        try:
            for copying, group in itertools.groupby(runs, key=_copied):
                if copying:
                    for plan, rows in group:
                        with cursor.copy(plan.copy) as copy:
                            for row in rows:
                                copy.write_row([row[c] for c in plan.copy_columns])
                    continue
                with pipeline() if pipeline is not None else contextlib.nullcontext():
                    for plan, rows in group:
                        if len(rows) == 1:
                            cursor.execute(plan.sql, rows[0])
                        else:
                            cursor.executemany(plan.sql, rows)
        finally:
            cursor.close()


def _copied(run: tuple[_Plan, list[Any]]) -> bool:
    plan, rows = run
    return plan.copy is not None and len(rows) > 1


@contextlib.contextmanager
def batched_writes(conn: Connection) -> Iterator[None]:
    """Hold the row helpers' writes and send them in runs: before anything else runs on the
    connection (a read sees every write before it; see `sync_writer`) and at the end of the block.
    An exception discards what is held: the transaction rolls back anyway."""
    pending = conn.info[_PENDING] = _PendingWrites()
    try:
        yield
        pending.send(conn.connection.dbapi_connection)
    finally:
        conn.info.pop(_PENDING, None)


def _send_pending_first(conn: Connection, *_: Any, **__: Any) -> None:
    """Before SQLAlchemy runs a statement on a writer connection: what the row helpers hold goes
    first, so the statement sees it (or follows it)."""
    pending: _PendingWrites | None = conn.info.get(_PENDING)
    if pending is not None and pending.by_table:
        pending.send(conn.connection.dbapi_connection)


def insert_row(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """INSERT one row."""
    plan = _plan(
        conn, ("insert", table, tuple(values)), table.insert, table, tuple(values), plain_insert=True
    )
    _run(conn, plan, values)


@dataclass(frozen=True)
class Added:
    """For update_rows: add `amount` to the column (a counter) instead of setting it."""

    amount: int


@dataclass(frozen=True)
class KeepFirst:
    """For update_rows: set the column to `value` only if it has none yet (the first one counts)."""

    value: Any


@dataclass(frozen=True)
class CopiedFrom:
    """For update_rows: set the column to another column's value, or `otherwise` where that is
    NULL (one statement: the row is not read first)."""

    column: str
    otherwise: Any = None


def update_rows(conn: Connection, table: Table, where: dict[str, Any], changes: dict[str, Any]) -> None:
    """UPDATE the rows whose columns equal `where`: set the changes; `Added`, `KeepFirst` and
    `CopiedFrom` say how a column changes from its own or another column's value."""
    if any(isinstance(v, ClauseElement) for v in changes.values()):  # any other SQL expression
        match = and_(*(table.c[c] == v for c, v in where.items()))
        conn.execute(table.update().where(match).values(_expressions(table, changes)))
        return
    shape = tuple((c, type(v), v.column if isinstance(v, CopiedFrom) else None) for c, v in changes.items())
    key = ("update", table, tuple(where), shape)

    def build() -> Any:
        match = and_(*(table.c[c] == bindparam(f"w_{c}") for c in where))
        return table.update().where(match).values(_expressions(table, changes, bound=True))

    parameters = {f"w_{c}": v for c, v in where.items()}
    parameters.update({f"v_{c}": _value_of(v) for c, v in changes.items()})
    _run(conn, _plan(conn, key, build, table, tuple(parameters)), parameters)


def folded_row(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The row after `update_rows(.., changes)`, computed in memory from the row before it (for a
    projection that keeps what it changes in hand, or folds a history instead of writing it)."""
    return before | {column: _folded(before, column, change) for column, change in changes.items()}


def _folded(before: dict[str, Any], column: str, change: Any) -> Any:
    if isinstance(change, Added):
        return (before[column] or 0) + change.amount
    if isinstance(change, KeepFirst):
        return change.value if before[column] is None else before[column]
    if isinstance(change, CopiedFrom):
        return change.otherwise if before[change.column] is None else before[change.column]
    return change


def _value_of(change: Any) -> Any:
    if isinstance(change, Added):
        return change.amount
    if isinstance(change, KeepFirst):
        return change.value
    if isinstance(change, CopiedFrom):
        return change.otherwise
    return change


def _expressions(table: Table, changes: dict[str, Any], *, bound: bool = False) -> dict[str, Any]:
    """The SET clause: each column's new value as SQL, with `:v_<column>` parameters if `bound`."""
    expressions: dict[str, Any] = {}
    for column, change in changes.items():
        source = change.column if isinstance(change, CopiedFrom) else column
        # Typed as the column it lands in, so a value is bound (a date as text on SQLite, say)
        # exactly as a plain assignment binds it.
        value = bindparam(f"v_{column}", type_=table.c[source].type) if bound else _value_of(change)
        if isinstance(change, Added):
            expressions[column] = table.c[column] + value
        elif isinstance(change, KeepFirst):
            expressions[column] = func.coalesce(table.c[column], value)
        elif isinstance(change, CopiedFrom):
            expressions[column] = func.coalesce(table.c[change.column], value)
        else:
            expressions[column] = value
    return expressions


def select_row(conn: Connection, table: Table, columns: Sequence[str], where: dict[str, Any]) -> Any:
    """The first row whose columns equal `where` (None if there is none)."""
    key = ("select", table, tuple(columns), tuple(where))

    def build() -> Any:
        match = and_(*(table.c[c] == bindparam(f"w_{c}") for c in where))
        return select(*(table.c[c] for c in columns)).where(match)

    return conn.execute(_statement(key, build), {f"w_{c}": v for c, v in where.items()}).first()


def select_rows_by(
    conn: Connection, table: Table, columns: Sequence[str], key: str, values: Sequence[Any]
) -> dict[Any, dict[str, Any]]:
    """The rows whose `key` column is one of `values` (a few hundred at most), each as a dict of
    `columns` (the key among them), by key: what a micro-batch will change, read in one query."""
    if not values:
        return {}

    def build() -> Any:
        wanted = table.c[key].in_(bindparam("keys", expanding=True))
        return select(*(table.c[c] for c in columns)).where(wanted)

    statement = _statement(("select_in", table, tuple(columns), key), build)
    rows = conn.execute(statement, {"keys": list(values)}).mappings()
    return {row[key]: dict(row) for row in rows}


def under(column: Any, unit: str) -> Any:
    """Rows whose org unit is `unit` or lies beneath it (paths are `district/street/...`)."""
    return _Under(column, unit.strip("/"))


class _Under(ColumnElement[Any]):
    """`under` as SQL that can use the column's index where the database allows it."""

    # Untyped on purpose: a Boolean element in WHERE is compared with 1 on SQLite ("(...) = 1"),
    # which hides the range from the query planner.
    type = NullType()
    inherit_cache = True
    # The unit travels in bound parameters that SQLAlchemy's statement cache can see: a statement
    # is compiled once, and each query binds its own unit.
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy declares it as a list on the base class
        ("column", InternalTraversal.dp_clauseelement),
        ("exact", InternalTraversal.dp_clauseelement),
        ("low", InternalTraversal.dp_clauseelement),
        ("high", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, unit: str) -> None:
        self.column = column
        self.exact = bindparam(None, unit, type_=String(), unique=True)
        self.low = bindparam(None, unit + "/", type_=String(), unique=True)
        self.high = bindparam(None, unit + "0", type_=String(), unique=True)  # "0" follows "/"
        escaped = unit.replace("/", "//").replace("%", "/%").replace("_", "/_")
        self.pattern = bindparam(None, escaped + "//%", type_=String(), unique=True)


@compiles(_Under)
def _under_as_prefix(element: _Under, compiler: Any, **kw: Any) -> str:
    column = element.column
    matches = or_(column == element.exact, column.like(element.pattern, escape="/"))
    return str(compiler.process(matches.self_group(), **kw))  # in parentheses, whatever surrounds it


@compiles(_Under, "sqlite")
def _under_as_range(element: _Under, compiler: Any, **kw: Any) -> str:
    # SQLite compares text byte by byte (BINARY): "u/" <= path < "u0" holds exactly for the paths
    # starting with "u/", and a range is an index search where LIKE is a scan.
    column = element.column
    matches = or_(column == element.exact, and_(column >= element.low, column < element.high))
    return str(compiler.process(matches.self_group(), **kw))


def upsert_row(
    conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str], *, replace: bool = True
) -> None:
    """INSERT .. ON CONFLICT (keys) DO UPDATE the other columns, on SQLite or PostgreSQL; with
    `replace=False`, DO NOTHING: a row already there stays as it is."""
    dialect = conn.dialect.name

    def build() -> Any:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        changes = {k: statement.excluded[k] for k in values if k not in keys}
        if not changes or not replace:
            return statement.on_conflict_do_nothing(index_elements=list(keys))
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)

    key = ("upsert", table, tuple(values), tuple(keys), replace)
    _run(conn, _plan(conn, key, build, table, tuple(values)), values)


def add_to_row(conn: Connection, table: Table, keys: dict[str, Any], amounts: dict[str, int]) -> None:
    """Add `amounts` to the counters of the row with these keys, creating it (from zero) if there is
    none: INSERT .. ON CONFLICT (keys) DO UPDATE SET n = n + excluded.n."""
    dialect = conn.dialect.name

    def build() -> Any:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        changes = {k: table.c[k] + statement.excluded[k] for k in amounts}
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)

    key = ("add", table, tuple(keys), tuple(amounts))
    values = {**keys, **amounts}
    _run(conn, _plan(conn, key, build, table, tuple(values)), values)


def sync_writer(engine: AsyncEngine, search_path: str | None = None) -> Engine:
    """A synchronous engine on the same database, for applying whole micro-batches in a thread.

    Through an async driver every statement is a round of the event loop (for SQLite, a hop to
    the driver's thread and back; for PostgreSQL, a greenlet switch per statement); a batch of a
    thousand events is thousands of them. One thread running the whole transaction on a plain
    driver (sqlite3, psycopg) does the same work several times faster, and leaves the event loop
    free to read and decode the next batch meanwhile."""
    if engine.dialect.name == "sqlite":
        url = engine.url.set(drivername="sqlite")
        writer = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sqlalchemy_event.listen(writer, "connect", sqlite_pragmas)
        sqlalchemy_event.listen(writer, "before_execute", _send_pending_first)
        return writer
    # libpq splits `options` on spaces: `"$user", public` must travel as `"$user",public`.
    options = {"options": f"-csearch_path={search_path.replace(' ', '')}"} if search_path else {}
    url = engine.url.set(drivername="postgresql+psycopg")
    writer = create_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True, connect_args=options)
    sqlalchemy_event.listen(writer, "before_execute", _send_pending_first)
    return writer


_SQLITE_WRITERS: dict[str, threading.Lock] = {}


def write_turn(engine: Engine) -> AbstractContextManager[Any]:
    """SQLite has one writer at a time. Projections of one process sharing a file take turns here;
    otherwise the loser of each collision sleeps in SQLite's busy handler (up to 100 ms a try),
    which at a hundred events a second let the read models fall seconds behind."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _SQLITE_WRITERS.setdefault(str(engine.url.database), threading.Lock())


def sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """Every SQLite connection of a service, the projections' writers included: WAL, so readers
    never block the projection, and erased personal data leaving no bytes behind."""
    cursor = dbapi_connection.cursor()
    # Switching the journal mode needs an exclusive lock: only the very first connection does it,
    # so later ones never wait behind a projection's write transaction.
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")  # erased personal data leaves no bytes behind
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
