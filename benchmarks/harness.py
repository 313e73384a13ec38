"""What every benchmark here shares: phases in fresh child processes, a floor, a table of ratios.

A benchmark script defines its phases as functions of paths and database URLs and hands them to
``child_main``; the parent runs them once per database (SQLite, PostgreSQL), each database fresh
and dropped afterwards, times each phase with ``run_phase`` and prints ``print_table``, the two
databases side by side. The floor is the same work done with the fastest raw tools:
python-calamine reads the sheet, ``insert_raw`` writes its rows (``sqlite3`` ``executemany``,
psycopg ``COPY``), XlsxWriter writes a log of the same size. A floor that does an import's
database work reads with ``keyed_rows`` and writes into the portal's own tables with
``insert_into``, naming a batch of ``open_floor_batch``, all rolled back.
"""

import argparse
import compileall
import functools
import json
import os
import resource
import signal
import site
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import xlsxwriter
from python_calamine import CalamineWorkbook

Phase = Callable[..., None]
Run = tuple[float, float]
"""Seconds and peak resident MB of one phase."""
Runs = tuple[Run, list[tuple[str, Run]]]
"""The floor's run, then each labelled phase's run, on one database."""

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        choices=[*KINDS, "both"],
        default="both",
        help="which database to measure (default: both, side by side)",
    )


def chosen_kinds(args: argparse.Namespace) -> list[str]:
    return list(KINDS) if args.db == "both" else [args.db]


@contextmanager
def fresh_database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """An empty database of this kind (a SQLite path or a PostgreSQL URL), gone afterwards."""
    database = f"bench_{name}_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = folder / f"{database}.sqlite"
        try:
            yield str(path)
        finally:
            for leftover in folder.glob(f"{database}.sqlite*"):  # with its -wal and -shm
                leftover.unlink()
        return
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"{PG_SERVER}/{database}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def connect_raw(database: str) -> Any:
    """A bare driver connection: ``sqlite3`` for a path, psycopg for a URL."""
    return psycopg.connect(database) if "://" in database else sqlite3.connect(database)


def insert_raw(database: str, table: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """Create a table of ``width`` text columns and fill it the fastest raw way for its kind."""
    columns = ", ".join(f"c{i} TEXT" for i in range(width))
    connection = connect_raw(database)
    connection.execute(f"CREATE TABLE {table} ({columns})")
    if "://" in database:
        with connection.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * width)
        connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    connection.commit()
    connection.close()


def keyed_rows(connection: Any, query: str, keys: Iterable[Any]) -> list[Any]:
    """The rows of ``query`` (ending in the key column) whose key is one of ``keys``, keys sent
    as one parameter: an array on PostgreSQL, a JSON list on SQLite, as the product sends them."""
    listed = list(set(keys))
    if "psycopg" in type(connection).__module__:
        return connection.execute(f"{query} = ANY(%s)", (listed,)).fetchall()
    return connection.execute(
        f"{query} IN (SELECT value FROM json_each(?))", (json.dumps(listed),)
    ).fetchall()


def open_floor_batch(connection: Any) -> tuple[int, Any]:
    """A batch row for the floor's rows to name, as the product's are (``created_batch_id``),
    and the time they are stamped with; rolled back with them."""
    now = datetime.now(UTC)
    if "psycopg" not in type(connection).__module__:
        connection.execute("PRAGMA foreign_keys=ON")  # as the product's connections
        now = now.isoformat(" ")
    cursor = connection.execute(
        "INSERT INTO batches (kind, mode, options, actor, started_at, finished_at, added, "
        "updated, skipped, errors, removed) VALUES ('floor', 'apply', '{}', 'floor', "
        + ("%s, %s" if "psycopg" in type(connection).__module__ else "?, ?")
        + ", 0, 0, 0, 0, 0) RETURNING id",
        (now, now),
    )
    return cursor.fetchone()[0], now


NEW_LINK = (  # the columns a floor fills for a new student link
    "user_id",
    "student_id",
    "relationship",
    "is_primary",
    "notices",
    "created_at",
    "updated_at",
    "created_batch_id",
    "updated_batch_id",
)


def insert_into(connection: Any, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    """Rows into one of the portal's own tables (its indexes and foreign keys checked), the
    fastest raw way for its kind."""
    names = ", ".join(columns)
    if "psycopg" in type(connection).__module__:
        with connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def write_floor_log(out: str, keys: Iterable[str]) -> None:
    """XlsxWriter writing a log of one row per key."""
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet_out = log.add_worksheet("Import Log")
        sheet_out.write_row(0, 0, ["Row", "Key", "Action", "Changes", "Reason"])
        for n, key in enumerate(keys, start=1):
            sheet_out.write_row(n, 0, [n + 1, key, "added", "", "New record"])


def floor(workbook: str, sheet: str, database: str, out: str) -> None:
    """Read the sheet, insert every row raw, write a log sheet of one row per input row."""
    book = CalamineWorkbook.from_path(workbook)
    rows = book.get_sheet_by_name(sheet).to_python()
    insert_raw(database, "floor", len(rows[0]), rows[1:])
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet_out = log.add_worksheet("Import Log")
        sheet_out.write_row(0, 0, ["Row", "Key", "Action", "Changes", "Reason"])
        for n, row in enumerate(rows[1:], start=1):
            sheet_out.write_row(n, 0, [n + 1, str(row[0]), "added", "", "New record"])


def child_main(phases: dict[str, Phase]) -> bool:
    """In a child (``--phase NAME ARGS...``): run the phase, print peak MB. False in the parent."""
    if len(sys.argv) > 2 and sys.argv[1] == "--phase":
        try:
            phases[sys.argv[2]](*sys.argv[3:])
        finally:  # a failed phase's peak too: what it held before it failed
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return True
    return False


@functools.cache
def compile_bytecode() -> None:
    """Compile every module a phase may import before any phase is timed.

    An installed package comes with its bytecode (pip compiles at install), but an environment
    made by ``uv sync``, or run with PYTHONDONTWRITEBYTECODE set, has none: each fresh process
    would then compile SQLAlchemy, openpyxl and the project from source, seconds that no user of
    an installation pays and that the floor, importing little, would not pay either.
    """
    root = Path(__file__).resolve().parent.parent
    folders = [*site.getsitepackages(), *(root / name for name in ("backend", "addin", "server"))]
    for folder in folders:
        if Path(folder).is_dir():
            compileall.compile_dir(folder, quiet=2, workers=os.cpu_count() or 1)


def run_phase(script: str, name: str, *arguments: Path | str) -> Run:
    """Seconds and peak resident MB of one phase, in a child process of its own."""
    compile_bytecode()
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, script, "--phase", name, *map(str, arguments)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if child.returncode:
        raise PhaseFailed(name, seconds, child)
    return seconds, float(child.stdout.strip().splitlines()[-1])


class PhaseFailed(SystemExit):
    """A phase whose process failed. Uncaught, it ends the benchmark with the phase's error; a
    benchmark that goes on past a failure reports ``reason``, ``seconds`` and ``peak_mb``."""

    def __init__(self, name: str, seconds: float, child: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"phase {name} failed:\n{child.stderr}")
        self.seconds = seconds
        lines = child.stderr.strip().splitlines()
        if child.returncode < 0:
            self.reason = f"killed by {signal.Signals(-child.returncode).name}"
        else:
            self.reason = lines[-1] if lines else f"exit status {child.returncode}"
        try:
            self.peak_mb: float | None = float(child.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):  # killed before it could print its peak
            self.peak_mb = None


def print_table(title: str, results: dict[str, Runs]) -> None:
    """One row per phase, one group of columns (seconds, x floor, peak MB) per database."""
    print(title + " (each phase a fresh process, start-up included)")
    print(f"{'':<34}" + "".join(f"{KINDS[kind]:>27}" for kind in results))
    print(f"{'phase':<34}" + f"{'seconds':>9}{'x floor':>9}{'peak MB':>9}" * len(results))
    floors = {kind: runs[0] for kind, runs in results.items()}
    labels = ["floor (read+insert+log)"] + [label for label, _ in next(iter(results.values()))[1]]
    for index, label in enumerate(labels):
        line = f"{label:<34}"
        for kind, (base, runs) in results.items():
            seconds, mb = base if index == 0 else runs[index - 1][1]
            line += f"{seconds:>9.2f}{seconds / floors[kind][0]:>9.2f}{mb:>9.0f}"
        print(line)
