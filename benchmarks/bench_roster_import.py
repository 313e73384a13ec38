"""Roster import at district scale, from a workbook and from a OneRoster bundle, against floors.

Every phase runs on SQLite and on PostgreSQL, each database fresh and dropped afterwards. The
same roster, N students and 2N guardian contacts in 10 schools, comes once as a workbook
(Schools, Students, Contacts sheets) and once as a OneRoster 1.1 zip (orgs.csv, users.csv):

- apply:     the roster into an empty database, end to end (read, check, plan, write, record
             the batch, write the result workbook with its Import Log);
- reimport:  the same file again, unchanged (all rows skipped), end to end;
- floor:     the import's database work done with the raw driver: the schema made by the
             product's migrations, python-calamine (the workbook) or the csv module (the bundle)
             reading every row, the schools, students, contacts and card entries the roster
             names looked up by key, the others inserted into the portal's own tables (their
             indexes and foreign keys checked; ``sqlite3`` ``executemany``, psycopg ``COPY``)
             and rolled back, one event per row into a table of its own, and XlsxWriter
             writing a log of one row per row read.

    uv run python benchmarks/bench_roster_import.py --students 100000
"""

import argparse
import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from bench_autocreate import make_roster
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


def read_tables(source: str) -> dict[str, list[list[Any]]]:
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


Roster = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""Schools (code, name), students (id, first, last, grade, school code, status) and card
entries (student id, contact id, first, last, relationship, email, guardian, access, priority)."""


def roster_of(tables: dict[str, list[list[Any]]]) -> Roster:
    """The roster's three tables from the workbook's sheets, or from the bundle's users, each
    student's school found by its org and each parent's students by their sourcedId."""
    if "Schools" in tables:
        schools = [(r[0], r[1]) for r in tables["Schools"][1:]]
        students = [(*r[:5], "ACTIVE") for r in tables["Students"][1:]]
        cards = [
            (*r[:5], r[5] or None, r[6] == "Y", r[7] == "Y", int(r[8]))
            for r in tables["Contacts"][1:]
        ]
        return schools, students, cards
    orgs, users = tables["orgs"], tables["users"]
    at = {name: i for i, name in enumerate(users[0])}
    sid, role, org, key = at["sourcedId"], at["role"], at["orgSourcedIds"], at["identifier"]
    first, last, grade, email = at["givenName"], at["familyName"], at["grades"], at["email"]
    agents, enabled = at["agentSourcedIds"], at["enabledUser"]
    codes = {r[0]: r[5] for r in orgs[1:] if r[4] == "school"}
    schools = [(r[5], r[3]) for r in orgs[1:] if r[4] == "school"]
    keys = {r[sid]: r[key] for r in users[1:] if r[role] == "student"}
    status = {"false": "INACTIVE"}
    students = [
        (r[key], r[first], r[last], r[grade], codes[r[org].split(",")[0]], status.get(r[enabled]))
        for r in users[1:]
        if r[role] == "student"
    ]
    priority: dict[str, int] = {}
    cards = []
    for r in users[1:]:
        if r[role] == "parent":
            for student in r[agents].split(","):
                priority[student] = n = priority.get(student, 0) + 1
                person = (r[key], r[first], r[last], "Parent", r[email] or None)
                cards.append((keys[student], *person, True, True, n))
    return schools, students, cards


NEW_STUDENT = ("student_id", "first_name", "last_name", "grade", "school_id", "status")
NEW_CONTACT = ("contact_id", "first_name", "last_name", "email", "email_key")
NEW_CARD = ("student_id", "contact_id", "relationship", "is_guardian", "portal_access", "priority")


def ids(connection: Any, table: str, key: str, keys: Iterable[Any]) -> dict[Any, int]:
    """The ids of ``table``'s rows by ``key``, for the rows whose key is one of ``keys``."""
    return dict(keyed_rows(connection, f"SELECT {key}, id FROM {table} WHERE {key}", keys))


def insert_new(
    connection: Any, table: str, columns: Sequence[str], rows: list[Any]
) -> dict[Any, int]:
    """Insert rows with ids drawn beforehand (PostgreSQL's sequence, SQLite's largest id and on),
    as the import does, so that no row needs reading back; the ids by the rows' first column."""
    if "psycopg" in type(connection).__module__:
        drawn = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
        new = [id_ for (id_,) in connection.execute(drawn, (table, len(rows))).fetchall()]
    else:
        top = connection.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
        new = list(range(top + 1, top + len(rows) + 1))
    with_ids = [(id_, *row) for id_, row in zip(new, rows, strict=True)]
    insert_into(connection, table, ("id", *columns), with_ids)
    return {row[1]: row[0] for row in with_ids}


def store_roster(connection: Any, roster: Roster) -> None:
    """Look up what the roster names, insert the rest, each table's new rows with ids drawn
    beforehand for the next table to name."""
    schools, students, cards = roster
    school_ids = ids(connection, "schools", "code", (s[0] for s in schools))
    new = [s for s in schools if s[0] not in school_ids]
    school_ids |= insert_new(connection, "schools", ("code", "name"), new)
    student_ids = ids(connection, "students", "student_id", (s[0] for s in students))
    new = [
        (*s[:4], school_ids[s[4]], s[5] or "ACTIVE") for s in students if s[0] not in student_ids
    ]
    student_ids |= insert_new(connection, "students", NEW_STUDENT, new)
    contact_ids = ids(connection, "contacts", "contact_id", (c[1] for c in cards))
    query = "SELECT student_id, contact_id FROM student_contacts WHERE contact_id"
    stored = set(keyed_rows(connection, query, contact_ids.values()))
    people = {c[1]: (c[1], c[2], c[3], c[5], c[5] and c[5].casefold()) for c in cards}
    new = [person for key, person in people.items() if key not in contact_ids]
    contact_ids |= insert_new(connection, "contacts", NEW_CONTACT, new)
    pairs = [(student_ids[c[0]], contact_ids[c[1]], c) for c in cards]
    new = [(s, p, c[4], c[6], c[7], c[8]) for s, p, c in pairs if (s, p) not in stored]
    insert_into(connection, "student_contacts", NEW_CARD, new)


def phase_floor(source: str, database: str, out: str) -> None:
    """The product's database work, into an empty database as the import's: its schema made
    by the product's migrations; then, raw, read the schools, students, contacts and card
    entries the roster names, insert the others into the portal's own tables (their indexes
    and foreign keys checked; rolled back), one event per row, and the log."""
    from backend.database.engine import open_database

    open_database(database).dispose()
    tables = read_tables(source)
    connection = connect_raw(database)
    batch, _ = open_floor_batch(connection)  # (and SQLite's foreign keys on, as the product's)
    store_roster(connection, roster_of(tables))
    connection.rollback()
    connection.close()
    rows = [(name, n, str(r[0])) for name, t in tables.items() for n, r in enumerate(t[1:], 2)]
    events = [(batch, n, key, "added", None, "New record") for _, n, key in rows]
    insert_raw(database, "floor", 6, events)
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet = log.add_worksheet("Import Log")
        sheet.write_row(0, 0, ["Sheet", "Row", "Key", "Action", "Changes", "Reason"])
        for n, (name, line, key) in enumerate(rows, start=1):
            sheet.write_row(n, 0, [name, line, key, "added", "", "New record"])


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
            # A folder of its own: a SQLite database is a file there, left after the run.
            own = folder / source.stem
            own.mkdir()
            results = {kind: measure(kind, own, source) for kind in chosen_kinds(args)}
            print_table(f"roster import from a {title}, {size}", results)


if __name__ == "__main__" and not child_main({"import": phase_import, "floor": phase_floor}):
    main()
