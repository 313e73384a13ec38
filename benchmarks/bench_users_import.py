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
    floor,
    fresh_database,
    print_table,
    run_phase,
)

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


def phase_floor(workbook: str, database: str, out: str) -> None:
    floor(workbook, "Users", database, out)


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
