"""Users import at district scale, against a floor measured in the same run.

- apply:     a N-row users workbook into an empty SQLite database, end to end (read, check,
             plan, write, record the batch, write the result workbook with its Import Log);
- reimport:  the same workbook again, unchanged (all rows skipped), end to end.

    uv run python benchmarks/bench_users_import.py --rows 100000
"""

import argparse
import tempfile
from pathlib import Path

import xlsxwriter
from harness import child_main, floor, print_table, run_phase

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


def phase_import(workbook: Path, database: Path, out: Path) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    import_file(open_database(str(database)), "users", workbook, apply=True, dest=out)


def phase_floor(workbook: Path, database: Path, out: Path) -> None:
    floor(workbook, "Users", database, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workbook = folder / "users.xlsx"
        make_workbook(workbook, args.rows)
        base = run_phase(__file__, "floor", workbook, folder / "floor.sqlite", folder / "f.xlsx")
        database = folder / "portal.sqlite"
        runs = [
            (
                "apply into empty database",
                run_phase(__file__, "import", workbook, database, folder / "apply.xlsx"),
            ),
            (
                "re-import unchanged",
                run_phase(__file__, "import", workbook, database, folder / "again.xlsx"),
            ),
        ]
    print_table(f"users import, {args.rows} rows", base, runs)


if __name__ == "__main__" and not child_main({"import": phase_import, "floor": phase_floor}):
    main()
