"""Student-link import at district scale, against a floor measured in the same run.

On SQLite and on PostgreSQL, each database fresh and dropped afterwards, the database first gets
N students (roster import) and N accounts (users import); then:

- apply:     a workbook of 1.5 N links (every account one student, half a second one),
             end to end into that database;
- reimport:  the same workbook again, unchanged (all rows skipped), end to end.

    uv run python benchmarks/bench_links_import.py --accounts 100000
"""

import argparse
import tempfile
from pathlib import Path

import xlsxwriter
from harness import (
    NEW_LINK,
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


def student_id(n: int) -> str:
    return f"{n:07d}"


def make_workbooks(folder: Path, accounts: int) -> None:
    with xlsxwriter.Workbook(folder / "setup.xlsx", {"constant_memory": True}) as workbook:
        schools = workbook.add_worksheet("Schools")
        schools.write_row(0, 0, ["SCHOOL_CODE", "SCHOOL_NAME"])
        for n in range(10):
            schools.write_row(n + 1, 0, [f"S{n}", f"School {n}"])
        students = workbook.add_worksheet("Students")
        students.write_row(0, 0, ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL"])
        for n in range(accounts):
            students.write_row(
                n + 1,
                0,
                [student_id(n), f"Kid{n % 991}", f"Fam{n % 997}", str(n % 12 + 1), f"S{n % 10}"],
            )
    with xlsxwriter.Workbook(folder / "users.xlsx", {"constant_memory": True}) as workbook:
        users = workbook.add_worksheet("Users")
        users.write_row(0, 0, ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"])
        for n in range(accounts):
            users.write_row(
                n + 1, 0, [f"parent.{n}@example.org", "Pat", f"Fam{n % 997}", "GUARDIAN"]
            )
    with xlsxwriter.Workbook(folder / "links.xlsx", {"constant_memory": True}) as workbook:
        links = workbook.add_worksheet("Links")
        links.write_row(0, 0, ["LOGONID", "STUDENT_ID", "RELATIONSHIP", "PRIMARY"])
        row = 1
        for n in range(accounts):
            links.write_row(row, 0, [f"parent.{n}@example.org", student_id(n), "Parent", "Y"])
            row += 1
            if n % 2:
                sibling = student_id((n + 1) % accounts)
                links.write_row(row, 0, [f"parent.{n}@example.org", sibling, "Parent", "N"])
                row += 1


def phase_setup(folder: str, database: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    engine = open_database(database)
    setup, users = Path(folder, "setup.xlsx"), Path(folder, "users.xlsx")
    import_file(engine, "roster", setup, apply=True, dest=setup.with_suffix(".out.xlsx"))
    import_file(engine, "users", users, apply=True, dest=users.with_suffix(".out.xlsx"))


def phase_import(workbook: str, database: str, out: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    import_file(open_database(database), "links", Path(workbook), apply=True, dest=Path(out))


def phase_floor(workbook: str, database: str, scratch: str, out: str) -> None:
    """The product's database work done raw: read the accounts, students and links the sheet
    names, insert the links not there yet into the portal's own table (its indexes and foreign
    keys checked; rolled back), one event per row, and the log."""
    rows = CalamineWorkbook.from_path(workbook).get_sheet_by_name("Links").to_python()[1:]
    connection = connect_raw(database)
    accounts = dict(
        keyed_rows(
            connection,
            "SELECT logon_key, id FROM portal_users WHERE logon_key",
            (str(row[0]).lower() for row in rows),
        )
    )
    students = dict(
        keyed_rows(
            connection,
            "SELECT student_id, id FROM students WHERE student_id",
            (str(row[1]) for row in rows),
        )
    )
    query = "SELECT user_id, student_id FROM student_links WHERE user_id"
    linked = set(keyed_rows(connection, query, accounts.values()))
    batch, now = open_floor_batch(connection)
    pairs = [(accounts[str(row[0]).lower()], students[str(row[1])], row) for row in rows]
    new = [
        (user, student, row[2], row[3] == "Y", True, now, now, batch, batch)
        for user, student, row in pairs
        if (user, student) not in linked
    ]
    insert_into(connection, "student_links", NEW_LINK, new)
    connection.rollback()
    connection.close()
    keys = [f"{row[0]} / {row[1]}" for row in rows]
    events = [(1, n, key, "added", None, "Student attached") for n, key in enumerate(keys, 2)]
    insert_raw(scratch, "floor", 6, events)
    write_floor_log(out, keys)


def measure(kind: str, folder: Path) -> Runs:
    """The floor, then links into a database holding the students and accounts, twice."""
    links = folder / "links.xlsx"
    with (
        fresh_database(kind, folder, "floor") as scratch,
        fresh_database(kind, folder, "portal") as database,
    ):
        run_phase(__file__, "setup", folder, database)
        base = run_phase(__file__, "floor", links, database, scratch, folder / "f.xlsx")
        apply = run_phase(__file__, "import", links, database, folder / "a.xlsx")
        again = run_phase(__file__, "import", links, database, folder / "b.xlsx")
    return base, [("apply links", apply), ("re-import unchanged", again)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_workbooks(folder, args.accounts)
        results = {kind: measure(kind, folder) for kind in chosen_kinds(args)}
    rows = args.accounts + args.accounts // 2
    print_table(
        f"student-link import, {rows} links for {args.accounts} accounts and "
        f"{args.accounts} students",
        results,
    )


PHASES = {"setup": phase_setup, "import": phase_import, "floor": phase_floor}
if __name__ == "__main__" and not child_main(PHASES):
    main()
