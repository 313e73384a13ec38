"""Undo at district scale: how long undoing a big batch takes, and in how many statements.

On SQLite and on PostgreSQL, each database fresh and dropped afterwards: a users import adds N
accounts (batch 1), a second changes each one's name and phone (batch 2); then batch 2's undo
is simulated and applied (N rows put back), and batch 1's undo is applied (N accounts
removed). Each undo is timed in this process against the apply of the batch it undoes, and
its SQL statements are counted: they do not grow with the number of rows.

    uv run python benchmarks/bench_undo.py --rows 20000
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import add_database_option, chosen_kinds, fresh_database
from sqlalchemy import Engine, event

HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "PHONE"]


def timed(engine: Engine, run: Callable[[], Any]) -> tuple[float, int]:
    """Seconds and SQL statements of one run."""
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    start = time.perf_counter()
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return time.perf_counter() - start, statements[0]


def measure(database: str, rows: int) -> list[tuple[str, float, int]]:
    from backend.database.engine import open_database
    from backend.imports.contract import InputTable
    from backend.imports.undo import undo_batch
    from backend.imports.users import import_users

    engine = open_database(database)

    def table(name: str, phone: str | None) -> InputTable:
        cells = [[f"user{n}@example.org", name, "Last", "GUARDIAN", phone] for n in range(rows)]
        return InputTable(headers=HEADERS, rows=list(enumerate(cells, start=2)))

    added, changed = table("First", None), table("Changed", "555-201-3344")
    return [
        (
            "users import adding the accounts",
            *timed(engine, lambda: import_users(engine, added, apply=True)),
        ),
        (
            "users import changing them",
            *timed(engine, lambda: import_users(engine, changed, apply=True)),
        ),
        ("undo of the change, simulated", *timed(engine, lambda: undo_batch(engine, 2))),
        ("undo of the change, applied", *timed(engine, lambda: undo_batch(engine, 2, apply=True))),
        ("undo of the adding, applied", *timed(engine, lambda: undo_batch(engine, 1, apply=True))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in chosen_kinds(args):
            with fresh_database(kind, Path(tmp), "undo") as database:
                print(f"{kind}, {args.rows} rows:")
                for label, seconds, statements in measure(database, args.rows):
                    print(f"  {label:<36} {seconds:7.2f} s  {statements:5d} statements")


if __name__ == "__main__":
    main()
