"""Roster import at district scale, from a workbook and from a OneRoster bundle, against floors.

Every phase runs on SQLite and on PostgreSQL, each database fresh and dropped afterwards. The
same roster, N students and 2N guardian contacts in 10 schools, comes once as a workbook
(Schools, Students, Contacts sheets) and once as a OneRoster 1.1 zip (orgs.csv, users.csv):

- apply:     the roster into an empty database, end to end (read, check, plan, write, record
             the batch, write the result workbook with its Import Log);
- reimport:  the same file again, unchanged (all rows skipped), end to end;
- floor:     python-calamine (the workbook) or the csv module (the bundle) reading every row,
             every row inserted raw (``sqlite3`` ``executemany``, psycopg ``COPY``), and
             XlsxWriter writing a log of one row per row read.

    uv run python benchmarks/bench_roster_import.py --students 100000
"""

import argparse
import csv
import io
import tempfile
import zipfile
from pathlib import Path

import xlsxwriter
from bench_autocreate import make_roster
from harness import (
    Runs,
    add_database_option,
    child_main,
    chosen_kinds,
    fresh_database,
    insert_raw,
    print_table,
    run_phase,
)
from python_calamine import CalamineWorkbook

ORG_HEADER = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier"]
USER_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "givenName",
    "familyName",
    "identifier",
    "email",
    "agentSourcedIds",
    "grades",
]


def org_rows() -> list[dict[str, str]]:
    """The ten schools of orgs.csv."""
    return [
        {"sourcedId": f"sch{n}", "status": "active", "name": f"School {n}"}
        | {"type": "school", "identifier": f"S{n}"}
        for n in range(10)
    ]


def family_rows(n: int) -> list[dict[str, str]]:
    """Student ``n``'s rows of users.csv: the student, listing its two parents, then each parent
    listing the student back (one parent in twenty has no email)."""
    common = {"status": "active", "enabledUser": "true", "orgSourcedIds": f"sch{n % 10}"}
    parents = [f"p{n}.{parent}" for parent in (0, 1)]
    rows = [
        common
        | {"sourcedId": f"s{n}", "role": "student", "username": f"s{n}"}
        | {"givenName": f"Kid{n % 991}", "familyName": f"Fam{n % 997}"}
        | {"identifier": f"{n:07d}", "agentSourcedIds": ",".join(parents)}
        | {"grades": f"{n % 12 + 1:02d}"}
    ]
    for parent, sourced_id in enumerate(parents):
        email = "" if (n + parent) % 20 == 0 else f"p{n}.{parent}@example.org"
        rows.append(
            common
            | {"sourcedId": sourced_id, "role": "parent", "username": sourced_id}
            | {"givenName": f"Par{parent}", "familyName": f"Fam{n % 997}"}
            | {"identifier": f"C{n}-{parent}", "email": email, "agentSourcedIds": f"s{n}"}
        )
    return rows


def make_bundle(path: Path, students: int) -> None:
    """The workbook's roster as OneRoster 1.1: each student lists its two parents, and back."""
    orgs = io.StringIO()
    writer = csv.DictWriter(orgs, ORG_HEADER, restval="")
    writer.writeheader()
    writer.writerows(org_rows())
    users = io.StringIO()
    writer = csv.DictWriter(users, USER_HEADER, restval="")
    writer.writeheader()
    for n in range(students):
        writer.writerows(family_rows(n))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.csv", "propertyName,value\r\noneroster.version,1.1\r\n")
        bundle.writestr("orgs.csv", orgs.getvalue())
        bundle.writestr("users.csv", users.getvalue())


def phase_import(source: str, database: str, out: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    import_file(open_database(database), "roster", Path(source), apply=True, dest=Path(out))


def read_tables(source: str) -> dict[str, list[list[object]]]:
    """Every table of the file, headers first: the workbook's sheets or the bundle's CSVs."""
    if source.endswith(".zip"):
        with zipfile.ZipFile(source) as bundle:
            return {
                name: list(csv.reader(io.TextIOWrapper(bundle.open(f"{name}.csv"), "utf-8")))
                for name in ("orgs", "users")
            }
    book = CalamineWorkbook.from_path(source)
    return {
        name: book.get_sheet_by_name(name).to_python()
        for name in ("Schools", "Students", "Contacts")
    }


def phase_floor(source: str, database: str, out: str) -> None:
    tables = read_tables(source)
    for name, rows in tables.items():
        insert_raw(database, name, len(rows[0]), rows[1:])
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet = log.add_worksheet("Import Log")
        sheet.write_row(0, 0, ["Sheet", "Row", "Key", "Action", "Changes", "Reason"])
        n = 0
        for name, rows in tables.items():
            for line, row in enumerate(rows[1:], start=2):
                n += 1
                sheet.write_row(n, 0, [name, line, str(row[0]), "added", "", "New record"])


def measure(kind: str, folder: Path, source: Path) -> Runs:
    """The floor, an apply into an empty database and an unchanged re-import of one file."""
    with (
        fresh_database(kind, folder, "floor") as scratch,
        fresh_database(kind, folder, "portal") as database,
    ):
        base = run_phase(__file__, "floor", source, scratch, folder / "f.xlsx")
        apply = run_phase(__file__, "import", source, database, folder / "apply.xlsx")
        again = run_phase(__file__, "import", source, database, folder / "again.xlsx")
    return base, [("apply into empty database", apply), ("re-import unchanged", again)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    add_database_option(parser)
    args = parser.parse_args()
    size = f"{args.students} students and {2 * args.students} contacts"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workbook, bundle = folder / "roster.xlsx", folder / "oneroster.zip"
        make_roster(workbook, args.students)
        make_bundle(bundle, args.students)
        for title, source in (("workbook", workbook), ("OneRoster 1.1 bundle", bundle)):
            results = {kind: measure(kind, folder, source) for kind in chosen_kinds(args)}
            print_table(f"roster import from a {title}, {size}", results)


if __name__ == "__main__" and not child_main({"import": phase_import, "floor": phase_floor}):
    main()
