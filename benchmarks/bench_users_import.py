"""Users import at district scale, against a floor measured in the same run.

Every phase runs on SQLite and on PostgreSQL, each database fresh and dropped afterwards:

- apply:     a N-row users workbook into an empty database, end to end (read, check,
             plan, write, record the batch, write the result workbook with its Import Log);
- reimport:  the same workbook again, unchanged (all rows skipped), end to end.

    uv run python benchmarks/bench_users_import.py --rows 100000
"""

import argparse
import tempfile
from pathlib import Path

import xlsxwriter
from harness import (
    Runs,
    add_database_option,
    child_main,
    chosen_kinds,
    connect_raw,
    fresh_database,
    insert_into,
    insert_raw,
    keyed_rows,
    open_floor_batch,
    print_table,
    run_phase,
    write_floor_log,
)
from python_calamine import CalamineWorkbook

HEADERS = [
    "LOGONID",
    "FIRST_NAME",
    "LAST_NAME",
    "USER_TYPE",
    "EMAIL",
    "STATUS",
    "PHONE",
    "LANGUAGE",
]


def make_workbook(path: Path, rows: int) -> None:
    with xlsxwriter.Workbook(path, {"constant_memory": True}) as workbook:
        sheet = workbook.add_worksheet("Users")
        sheet.write_row(0, 0, HEADERS)
        for n in range(rows):
            sheet.write_row(
                n + 1,
                0,
                [
                    f"parent.{n}@example.org",
                    f"First{n % 997}",
                    f"Last{n % 1009}",
                    "GUARDIAN",
                    f"home.{n}@example.net",
                    "ACTIVE",
                    f"555-{n % 900 + 100}-{n % 9000 + 1000}",
                    "English" if n % 10 else "Spanish",
                ],
            )


def phase_import(workbook: str, database: str, out: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    import_file(open_database(database), "users", Path(workbook), apply=True, dest=Path(out))


NEW_USER = (
    "logon_id",
    "logon_key",
    "user_type",
    "first_name",
    "last_name",
    "email",
    "status",
    "phone",
    "language",
    "created_at",
    "updated_at",
    "created_batch_id",
    "updated_batch_id",
)


def phase_floor(workbook: str, database: str, out: str) -> None:
    """The product's database work, into an empty database as the import's: its schema made
    by the product's migrations, as the import makes it; then, raw, read the accounts the sheet
    names, insert the others into the portal's own table (its indexes and foreign keys
    checked), one event per row, and the log."""
    from backend.database.engine import open_database

    open_database(database).dispose()
    rows = CalamineWorkbook.from_path(workbook).get_sheet_by_name("Users").to_python()[1:]
    connection = connect_raw(database)
    query = "SELECT logon_key FROM portal_users WHERE logon_key"
    known = {key for (key,) in keyed_rows(connection, query, (r[0].lower() for r in rows))}
    batch, now = open_floor_batch(connection)
    new = [
        (r[0], r[0].lower(), r[3], r[1], r[2], r[4], r[5], r[6], r[7], now, now, batch, batch)
        for r in rows
        if r[0].lower() not in known
    ]
    insert_into(connection, "portal_users", NEW_USER, new)
    connection.rollback()
    connection.close()
    events = [(1, n, r[0], "added", None, "New guardian account") for n, r in enumerate(rows, 2)]
    insert_raw(database, "floor", 6, events)
    write_floor_log(out, (r[0] for r in rows))


def measure(kind: str, folder: Path, workbook: Path) -> Runs:
    """The floor, an apply and an unchanged re-import, each database made fresh for the run."""
    with (
        fresh_database(kind, folder, "floor") as scratch,
        fresh_database(kind, folder, "portal") as database,
    ):
        base = run_phase(__file__, "floor", workbook, scratch, folder / "f.xlsx")
        apply = run_phase(__file__, "import", workbook, database, folder / "apply.xlsx")
        again = run_phase(__file__, "import", workbook, database, folder / "again.xlsx")
    return base, [("apply into empty database", apply), ("re-import unchanged", again)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workbook = folder / "users.xlsx"
        make_workbook(workbook, args.rows)
        results = {kind: measure(kind, folder, workbook) for kind in chosen_kinds(args)}
    print_table(f"users import, {args.rows} rows", results)


if __name__ == "__main__" and not child_main({"import": phase_import, "floor": phase_floor}):
    main()
