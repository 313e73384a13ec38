"""AutoCreate at district scale, against a floor measured in the same run.

On SQLite and on PostgreSQL, each database fresh and dropped afterwards, the database first gets
N students and 2N guardian contacts (roster import). Then, each in a fresh process, end to end
with the log workbook:

- simulation: AutoCreate on every active student;
- apply:      the same, writing every account, attachment and batch event;
- floor:      the raw driver reading the same students, cards and contacts, as many accounts
              and links inserted raw (``sqlite3`` ``executemany``, psycopg ``COPY``), and
              XlsxWriter writing a log of one row per pair.

    uv run python benchmarks/bench_autocreate.py --students 100000
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
    open_floor_batch,
    print_table,
    run_phase,
)


def make_roster(path: Path, students: int) -> None:
    # Imported here, in the parent only: the floor's process should not pay for SQLAlchemy.
    from backend.imports.roster_columns import CONTACT_COLUMNS

    with xlsxwriter.Workbook(path, {"constant_memory": True}) as workbook:
        schools = workbook.add_worksheet("Schools")
        schools.write_row(0, 0, ["SCHOOL_CODE", "SCHOOL_NAME"])
        for n in range(10):
            schools.write_row(n + 1, 0, [f"S{n}", f"School {n}"])
        sheet = workbook.add_worksheet("Students")
        sheet.write_row(0, 0, ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL"])
        for n in range(students):
            sheet.write_row(
                n + 1,
                0,
                [f"{n:07d}", f"Kid{n % 991}", f"Fam{n % 997}", str(n % 12 + 1), f"S{n % 10}"],
            )
        cards = workbook.add_worksheet("Contacts")
        cards.write_row(
            0,
            0,
            [column.name for column in CONTACT_COLUMNS],
        )
        row = 1
        for n in range(students):
            for parent, relationship in enumerate(("Mother", "Father")):
                email = None if (n + parent) % 20 == 0 else f"p{n}.{parent}@example.org"
                cards.write_row(
                    row,
                    0,
                    [
                        f"{n:07d}",
                        f"C{n}-{parent}",
                        f"Par{parent}",
                        f"Fam{n % 997}",
                        relationship,
                        email,
                        "Y",
                        "Y",
                        parent + 1,
                    ],
                )
                row += 1


def phase_setup(roster: str, database: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    path = Path(roster)
    import_file(
        open_database(database),
        "roster",
        path,
        apply=True,
        dest=path.with_name("roster.out.xlsx"),
    )


def phase_autocreate(database: str, out: str, mode: str) -> None:
    from addin.workbooks.file import write_log_workbook
    from addin.workbooks.result_sheet import log_from_report
    from backend.accounts.autocreate import Options, autocreate
    from backend.database.engine import open_database
    from backend.imports.contract import collector_paused

    with collector_paused():
        report = autocreate(open_database(database), Options(), apply=mode == "apply")
        write_log_workbook(Path(out), log_from_report(report, "STUDENT_ID / CONTACT_ID"))


NEW_USER = (
    "logon_id",
    "logon_key",
    "user_type",
    "first_name",
    "last_name",
    "status",
    "created_at",
    "updated_at",
    "created_batch_id",
    "updated_batch_id",
)


def phase_floor(database: str, out: str, scratch: str) -> None:
    """The product's database work done raw: read the students' cards and the accounts,
    insert the accounts and links into the portal's own tables (their indexes and foreign keys
    checked; rolled back), one event per pair, and the log."""
    source = connect_raw(database)
    pairs = source.execute(
        "SELECT s.student_id, c.contact_id, c.first_name, c.last_name, c.email, c.email_key, "
        "s.id, sc.relationship "
        "FROM students s JOIN student_contacts sc ON sc.student_id = s.id "
        "JOIN contacts c ON c.id = sc.contact_id WHERE s.status = 'ACTIVE'"
    ).fetchall()
    known = {key for (key,) in source.execute("SELECT logon_key FROM portal_users").fetchall()}
    with_email = [p for p in pairs if p[4]]
    batch, now = open_floor_batch(source)
    accounts = {p[5]: p for p in with_email if p[5] not in known}
    insert_into(
        source,
        "portal_users",
        NEW_USER,
        [
            (p[4], p[5], "GUARDIAN", p[2], p[3], "ACTIVE", now, now, batch, batch)
            for p in accounts.values()
        ],
    )
    mark = "%s" if "://" in database else "?"
    query = f"SELECT logon_key, id FROM portal_users WHERE created_batch_id = {mark}"
    ids = dict(source.execute(query, (batch,)).fetchall())
    links = [
        (ids[p[5]], p[6], p[7], False, True, now, now, batch, batch)
        for p in with_email
        if p[5] in ids
    ]
    insert_into(source, "student_links", NEW_LINK, links)
    source.rollback()
    source.close()
    events = [(1, None, f"{p[0]} / {p[1]}", "added", None, "Account created") for p in pairs]
    insert_raw(scratch, "floor", 6, events)
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet = log.add_worksheet("Import Log")
        sheet.write_row(0, 0, ["Row", "Key", "Action", "Changes", "Reason"])
        for n, pair in enumerate(pairs, start=1):
            sheet.write_row(
                n,
                0,
                [
                    None,
                    f"{pair[0]} / {pair[1]}",
                    "added",
                    "",
                    "Account created and student attached",
                ],
            )


def measure(kind: str, folder: Path, roster: Path) -> Runs:
    """The floor, a simulation and an apply against a database holding the roster."""
    with (
        fresh_database(kind, folder, "floor") as scratch,
        fresh_database(kind, folder, "portal") as database,
    ):
        run_phase(__file__, "setup", roster, database)
        base = run_phase(__file__, "floor", database, folder / "f.xlsx", scratch)
        simulation = run_phase(__file__, "autocreate", database, folder / "s.xlsx", "simulate")
        apply = run_phase(__file__, "autocreate", database, folder / "a.xlsx", "apply")
    return base, [("simulation", simulation), ("apply", apply)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        roster = folder / "roster.xlsx"
        make_roster(roster, args.students)
        results = {kind: measure(kind, folder, roster) for kind in chosen_kinds(args)}
    print_table(f"AutoCreate, {args.students} students and {2 * args.students} contacts", results)


PHASES = {"setup": phase_setup, "autocreate": phase_autocreate, "floor": phase_floor}
if __name__ == "__main__" and not child_main(PHASES):
    main()
