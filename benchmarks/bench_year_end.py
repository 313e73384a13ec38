"""Year-end upkeep at district scale, against a floor measured in the same run.

On SQLite and on PostgreSQL, each database fresh and dropped afterwards, the database first gets
N students and 2N guardian contacts (roster import) and AutoCreate's accounts for them, two in
three activated, as ``bench_coverage`` makes them; then one student in ten leaves (INACTIVE)
and half the accounts are dated 100 days back, so the run removes links, disables accounts and
lists accounts never activated. Then, each in a fresh process:

- floor:       the raw driver (``sqlite3``, psycopg) running the same reads, deleting the
               same links, disabling the same accounts, revoking their unused activation links
               and inserting one event per row (``executemany``; ``COPY`` on PostgreSQL), all
               rolled back, and XlsxWriter writing a log of one row per row;
- simulation:  ``portal lifecycle year-end --out``, end to end;
- apply:       ``portal lifecycle year-end --apply --out``, following that simulation;
- again:       the same apply once more: nothing left to change.

    uv run python benchmarks/bench_year_end.py --students 100000
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import xlsxwriter
from bench_autocreate import phase_setup
from bench_coverage import district_main, phase_accounts
from harness import (
    Runs,
    child_main,
    connect_raw,
    fresh_database,
    run_phase,
)

DAYS = 60  # PORTAL_NOT_ACTIVATED_DAYS's default


def stamp(days_ago: int) -> str:
    """A time as both databases compare it with what the product stores."""
    return f"{datetime.now(UTC) - timedelta(days=days_ago):%Y-%m-%d %H:%M:%S.%f}"


def phase_year(database: str) -> None:
    """The summer: one student in ten leaves; half the accounts were made 100 days ago."""
    connection = connect_raw(database)
    connection.execute("UPDATE students SET status = 'INACTIVE' WHERE id % 10 = 0")
    connection.execute(f"UPDATE portal_users SET created_at = '{stamp(100)}' WHERE id % 2 = 0")
    connection.commit()
    connection.close()


def phase_year_end(database: str, out: str, *options: str) -> None:
    from addin.cli.app import main

    main(["--db", database, "lifecycle", "year-end", *options, "--out", out])


DEPARTED = (
    "SELECT l.id, l.user_id, u.logon_id, s.student_id, s.status FROM student_links l "
    "JOIN portal_users u ON u.id = l.user_id JOIN students s ON s.id = l.student_id "
    "WHERE s.status != 'ACTIVE' ORDER BY u.logon_key, s.student_id"
)
STILL_ATTACHED = (
    "SELECT DISTINCT l.user_id FROM student_links l JOIN students s ON s.id = l.student_id "
    "WHERE s.status = 'ACTIVE' AND l.user_id IN ({})"
)
ACCOUNTS = (
    "SELECT logon_key, id, logon_id, user_type, first_name, last_name, email, status, phone, "
    "language FROM portal_users WHERE status = 'ACTIVE' AND id IN ({})"
)
WAITING = (
    "SELECT id, logon_id, created_at FROM portal_users WHERE status = 'ACTIVE' "
    "AND password_hash IS NULL AND created_at <= '{}' ORDER BY logon_key"
)
CHUNK = 5000  # as many ids as the product asks for in one IN (...)


def in_chunks(connection: Any, query: str, ids: set[int]) -> list[Any]:
    ordered = sorted(ids)
    found: list[Any] = []
    for start in range(0, len(ordered), CHUNK):
        listed = ", ".join(map(str, ordered[start : start + CHUNK]))
        found += connection.execute(query.format(listed)).fetchall()
    return found


def floor_reads(connection: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """The product's reads: links to departed students, their accounts left with no ACTIVE
    student, the accounts never activated."""
    links = connection.execute(DEPARTED).fetchall()
    users = {link[1] for link in links}
    still = {row[0] for row in in_chunks(connection, STILL_ATTACHED, users)}
    accounts = sorted(in_chunks(connection, ACCOUNTS, users - still))
    waiting = connection.execute(WAITING.format(stamp(DAYS))).fetchall()
    return links, accounts, waiting


EVENT = "(batch_id INTEGER, row_number INTEGER, key TEXT, action TEXT, changes TEXT, reason TEXT)"


def on_postgresql(connection: Any) -> bool:
    return type(connection).__module__.startswith("psycopg")


def by_ids(connection: Any, statement: str, ids: list[int]) -> None:
    """``statement`` (ending in ``WHERE id``) for every id, the fastest raw way."""
    if on_postgresql(connection):
        connection.execute(f"{statement} = ANY(%s)", (ids,))
    else:
        connection.executemany(f"{statement} = ?", [(i,) for i in ids])


def insert_events(connection: Any, rows: list[tuple[Any, ...]]) -> None:
    connection.execute(f"CREATE TEMPORARY TABLE floor_events {EVENT}")
    if on_postgresql(connection):
        with connection.cursor().copy("COPY floor_events FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        connection.executemany("INSERT INTO floor_events VALUES (?, ?, ?, ?, ?, ?)", rows)


def phase_floor(database: str, out: str) -> None:
    connection = connect_raw(database)
    links, accounts, waiting = floor_reads(connection)
    shut = {account[1] for account in accounts}
    changes = json.dumps({"STATUS": ["ACTIVE", "DISABLED"]})
    rows = [(1, None, f"{k[2]} / {k[3]}", "removed", None, "detached") for k in links]
    rows += [(1, None, a[2], "updated", changes, "Changed STATUS") for a in accounts]
    rows += [
        (1, None, w[1], "skipped", None, "Never activated") for w in waiting if w[0] not in shut
    ]
    by_ids(connection, "DELETE FROM student_links WHERE id", [link[0] for link in links])
    by_ids(connection, "UPDATE portal_users SET status = 'DISABLED' WHERE id", sorted(shut))
    connection.execute(
        "DELETE FROM activation_tokens WHERE used_at IS NULL AND user_id IN "
        "(SELECT id FROM portal_users WHERE status != 'ACTIVE')"
    )
    insert_events(connection, rows)
    connection.rollback()
    connection.close()
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Import Log")
        sheet.write_row(0, 0, ["Row", "Key", "Action", "Changes", "Reason"])
        for n, row in enumerate(rows, start=1):
            sheet.write_row(n, 0, [None, row[2], row[3], row[4] or "", row[5]])


def measure(kind: str, folder: Path, roster: Path) -> Runs:
    """The floor, then year-end simulated, applied, and applied again."""
    with fresh_database(kind, folder, "portal") as database:
        run_phase(__file__, "setup", roster, database)
        run_phase(__file__, "accounts", database, folder / "autocreate.xlsx")
        run_phase(__file__, "year", database)
        base = run_phase(__file__, "floor", database, folder / "f.xlsx")
        runs = [
            ("simulation", run_phase(__file__, "year_end", database, folder / "s.xlsx")),
            ("apply", run_phase(__file__, "year_end", database, folder / "a.xlsx", "--apply")),
            (
                "apply again (nothing to change)",
                run_phase(__file__, "year_end", database, folder / "b.xlsx", "--apply"),
            ),
        ]
    return base, runs


def main() -> None:
    district_main(__doc__, "Year-end", measure)


PHASES = {
    "setup": phase_setup,
    "accounts": phase_accounts,
    "year": phase_year,
    "floor": phase_floor,
    "year_end": phase_year_end,
}
if __name__ == "__main__" and not child_main(PHASES):
    main()
