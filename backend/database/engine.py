"""Engines and transactions: the one place that knows SQLite from PostgreSQL.

``open_database`` is the one way the front ends get an engine: the ``portal`` command one per
command (its ``--db`` option or the configured database), Excel one per Python session.
Every write of a batch runs in one ``write_transaction``: SQLite takes its write lock at BEGIN
(``BEGIN IMMEDIATE``), PostgreSQL a transaction-scoped advisory lock, so concurrent applies run one
after another and each plans against what the one before it committed.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVarTuple, cast

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from backend.errors import PortalError, SettingsError
from backend.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import ColumnElement, Result, Row, Select, SQLColumnExpression

_Ts = TypeVarTuple("_Ts")

MIGRATIONS = "backend.database:migrations"
"""The Alembic scripts as package data: Alembic finds them through importlib.resources, wherever
the package is installed."""
# The newest migration; a test keeps it equal to Alembic's head. Knowing it here spares every
# command the import of Alembic (a quarter of a second) when the schema is already current.
SCHEMA_HEAD = "0007_outcomes_digest"
# Any constant will do: it names "the portal's write lock" among the server's advisory locks.
ADVISORY_LOCK_KEY = 0x706F7274616C  # "portal"
CHUNK = 5000
"""Rows per ``executemany`` on SQLite."""


def normalise_url(url_or_path: str) -> str:
    """Accept a plain file path as a SQLite database, and prefer psycopg 3 for PostgreSQL."""
    if "://" not in url_or_path:
        return f"sqlite:///{Path(url_or_path).expanduser().resolve()}"
    url = make_url(url_or_path)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: the configured database), its schema left as it is."""
    url = normalise_url(url or get_settings().database_url)
    timeout = get_settings().lock_timeout_s
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            _make_folder(Path(database).parent)
        engine = create_engine(url, connect_args={"timeout": timeout})
        _use_sqlite_transactions(engine, timeout)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _make_folder(folder: Path) -> None:
    """The SQLite file's folder, made if need be; one that cannot be is said in one line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"The database's folder {folder} cannot be made ({exc.strerror}): give --db or "
            "PORTAL_DATABASE_URL a file in a folder you may write in"
        ) from None


def _use_sqlite_transactions(engine: Engine, timeout: int) -> None:
    """SQLAlchemy's documented pysqlite recipe: we emit BEGIN ourselves so transactions are real."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={timeout * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("portal_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin():
        yield connection


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the portal's write lock: all of it commits, or none of it.

    A wait for the lock that runs out (``PORTAL_LOCK_TIMEOUT_S``) is one plain message: the
    transaction was rolled back, so nothing was saved.
    """
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(portal_write=True)
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"SET LOCAL lock_timeout = '{get_settings().lock_timeout_s}s'"
                    )
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
                yield connection
    except OperationalError as exc:
        if not _is_lock_timeout(exc):
            raise
        raise PortalError(
            "The database is busy: another portal command kept it for longer than "
            f"{get_settings().lock_timeout_s} s (PORTAL_LOCK_TIMEOUT_S) while this one waited; "
            "nothing was saved. Try again in a minute."
        ) from None


ANALYZE_ROWS = 10_000
"""Rows an apply must write before it refreshes the planner's statistics of its tables."""


def refresh_statistics(engine: Engine, tables: Iterable[str]) -> None:
    """Let PostgreSQL's planner see tables a large apply changed as they now are.

    Until they are analyzed (by autovacuum, when the server runs it at all), the next run's
    queries are planned on the tables' old sizes: a state's AutoCreate then scans whole tables
    in every part where an index finds its rows. ANALYZE reads a sample of each table, so it
    takes about the same time at any size (0.3 s for 100,000 students' roster, 0.6 s for
    1,000,000). SQLite plans by its indexes and needs nothing.
    """
    names = sorted(set(tables))
    if engine.dialect.name == "postgresql" and names:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ANALYZE {', '.join(names)}")


def _alembic_config(connection: Connection) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


def is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return list(versions) == [SCHEMA_HEAD]


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration, under the portal's write lock.

    Processes that start together on an empty database wait for each other here: the first one
    builds the schema and commits, and the others, reading the schema's version once the lock is
    theirs, find nothing left to do.
    """
    from alembic import command

    with write_transaction(engine) as connection:
        command.upgrade(_alembic_config(connection), "head")


def _is_lock_timeout(exc: OperationalError) -> bool:
    """SQLite's busy timeout or PostgreSQL's lock_timeout ran out (SQLSTATE 55P03)."""
    return getattr(exc.orig, "sqlstate", None) == "55P03" or "database is locked" in str(exc.orig)


_SESSION_ENGINES: dict[str, Engine] = {}


def open_database(url: str | None = None, *, per_session: bool = False) -> Engine:
    """The engine for a database that exists and is up to date, created on first use.

    ``url`` is a database URL or a SQLite file path; without it, the configured database.
    With ``per_session`` the engine is kept and handed out again for the same database for the
    rest of the process: Excel's Python session serves many button clicks, and each would
    otherwise pay for a new connection pool and the schema check.
    """
    resolved = normalise_url(url or get_settings().database_url)
    if per_session and resolved in _SESSION_ENGINES:
        return _SESSION_ENGINES[resolved]
    engine = make_engine(resolved)
    if not is_current(engine):
        migrate(engine)
    if per_session:
        _SESSION_ENGINES[resolved] = engine
    return engine


def new_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """Ids for ``count`` rows about to go into ``table`` (inside the write transaction), so the
    rows that name them need not read them back: PostgreSQL draws them from the id's sequence,
    as each insert would; SQLite counts on from the largest id, as it would itself."""
    if not count:
        return []
    if connection.dialect.name == "postgresql":
        drawn = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return list(connection.execute(drawn, {"table": table.name, "n": count}).scalars())
    top = connection.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(top + 1, top + count + 1))


def bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows, each a dict of the same columns (``insert_rows``)."""
    if rows:
        columns = list(rows[0])
        insert_rows(connection, table, columns, (tuple([row[c] for c in columns]) for row in rows))


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Insert many rows, each a sequence of ``columns``' values, past SQLAlchemy's per-row work:
    PostgreSQL's ``COPY``, else one driver ``executemany`` per 5,000 rows.

    Each value still goes through its column's bind processor (SQLite's text dates, JSON), but
    once per distinct value: a batch's rows share their timestamps and batch id. ``COPY`` runs on
    the same connection, in the same transaction, and stores the same values an ``INSERT`` would
    (a 20,000-row users apply spent half its time in ``executemany``, ``COPY`` is 10x faster).
    One ``COPY`` takes all the rows: the server stores them while the next ones are made.
    """
    convert = _converter(connection, table, columns)
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
        ):
            write = copy.write_row
            for row in rows if convert is None else map(convert, rows):
                write(row)
        return
    marks = ", ".join(["?" if connection.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
    converted = map(tuple, rows if convert is None else map(convert, rows))
    while chunk := list(islice(converted, CHUNK)):
        connection.exec_driver_sql(sql, chunk)


def _converter(
    connection: Connection, table: Table, columns: Sequence[str]
) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """``convert(row)``: the row as the driver takes it, each distinct value of a column with a
    bind processor processed once (JSON's values, unhashable, every time); None when no column
    has one."""
    processed = [
        (index, processor, not isinstance(table.c[name].type, JSON))
        for index, name in enumerate(columns)
        if (processor := table.c[name].type._cached_bind_processor(connection.dialect))
    ]
    if not processed:
        return None
    caches: list[dict[Any, Any]] = [{} for _ in columns]

    def convert(row: Sequence[Any]) -> Sequence[Any]:
        values = list(row)
        for index, processor, cached in processed:
            value = values[index]
            if value is None:
                continue
            if not cached:
                values[index] = processor(value)
                continue
            cache = caches[index]
            if value not in cache:
                cache[value] = processor(value)
            values[index] = cache[value]
        return tuple(values)

    return convert


def where_in(
    connection: Connection, column: "SQLColumnExpression[Any]", keys: Iterable[Any]
) -> "ColumnElement[bool] | None":
    """The condition that picks the rows whose ``column`` is one of ``keys`` (None for no keys:
    then there is nothing to ask the database).

    The keys go as one parameter, whatever their number, a JSON list the database takes apart
    itself (``column IN (SELECT value FROM json_each(:keys))`` on SQLite,
    ``json_array_elements_text`` on PostgreSQL), and each is looked up in the column's index. An
    ``IN (...)`` list costs SQLAlchemy, the driver and the server one parameter per key (a third
    of a 20,000-row link import's reading on SQLite); a PostgreSQL array of 20,000 keys costs
    the driver, then the server, nearly three times what their JSON does.
    """
    distinct = list(set(keys))
    if not distinct:
        return None
    listed = bindparam(None, json.dumps(distinct), type_=String)
    if connection.dialect.name == "postgresql":
        element_type = cast("ColumnElement[Any]", column).type  # a mapped attribute has it too
        texts = func.json_array_elements_text(sql_cast(listed, JSON)).table_valued("value")
        value = texts.c.value
        return column.in_(
            select(value if isinstance(element_type, String) else sql_cast(value, element_type))
        )
    values = func.json_each(listed).table_valued("value")
    return column.in_(select(values.c.value))


def rows_in(
    connection: Connection,
    query: "Select[*_Ts]",
    column: "SQLColumnExpression[Any]",
    keys: Iterable[Any],
) -> Iterator["Row[*_Ts]"]:
    """The rows of ``query`` whose ``column`` is one of ``keys``: every loader's bulk read."""
    condition = where_in(connection, column, keys)
    if condition is not None:  # fetched at once: a row at a time costs the driver 2x more
        yield from connection.execute(query.where(condition)).all()


def as_dicts(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Rows as dicts, zipping the names of the first row's fields with each row's values
    (``dict(row._mapping)`` costs 3x more per row)."""
    names: tuple[str, ...] | None = None
    for row in rows:
        names = names or row._fields
        yield dict(zip(names, row, strict=True))


def records(result: "Result[Any]") -> list[dict[str, Any]]:
    """Rows as dicts, zipping the keys once (``dict(row._mapping)`` costs 3x more per row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def bulk_update(
    connection: Connection,
    model: Any,
    rows: list[dict[str, Any]],
    fields: Iterable[str],
    **same: Any,
) -> None:
    """Update rows by id: each row holds ``_id`` and ``new_<field>`` values (a bind name may
    not be a column's name); ``same`` sets values shared by all.

    PostgreSQL takes one statement, each field's values as one array (``UPDATE ... FROM
    unnest(...)``), a third faster than an ``executemany`` of 50,000 rows; SQLite one
    ``executemany``.
    """
    if not rows:
        return
    fields = list(fields)
    if connection.dialect.name != "postgresql":
        connection.execute(
            update(model)
            .where(model.id == bindparam("_id"))
            .values({f: bindparam(f"new_{f}") for f in fields} | same),
            rows,
        )
        return
    from sqlalchemy.dialects.postgresql import ARRAY

    table = model.__table__
    columns = [("_id", table.c.id), *((f"new_{f}", table.c[f]) for f in fields)]
    arrays = select(
        *(
            func.unnest(
                bindparam(None, [row[name] for row in rows], type_=ARRAY(column.type))
            ).label(name)
            for name, column in columns
        )
    ).subquery()
    connection.execute(
        update(table)
        .where(table.c.id == arrays.c["_id"])
        .values({f: arrays.c[f"new_{f}"] for f in fields} | same)
    )
