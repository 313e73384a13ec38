"""Coverage at district scale, against a floor measured in the same run.

On SQLite and on PostgreSQL, each database fresh and dropped afterwards, the database first gets
N students and 2N guardian contacts (roster import) and AutoCreate's accounts for them; then two
in three accounts are marked activated and one student in 25 loses its links, so every state of
the report has students. Then, each in a fresh process:

- coverage: ``portal coverage --out``'s work: the report and its workbook;
- floor:    the raw driver (``sqlite3``, psycopg) running the same reads (students with whether
            an account is attached and activated, the accounts never activated, the cards of
            students without an account with the account of each email, every card entry of
            the emails the rules judge, in chunks as the rules read them, students' own emails)
            and XlsxWriter writing one row
            per student without a working account.

    uv run python benchmarks/bench_coverage.py --students 100000
"""

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlsxwriter
from bench_autocreate import make_roster, phase_autocreate, phase_setup
from harness import (
    Runs,
    add_database_option,
    child_main,
    chosen_kinds,
    connect_raw,
    fresh_database,
    print_table,
    run_phase,
)


def phase_accounts(database: str, out: str) -> None:
    """AutoCreate's accounts, then some activated and some students' links removed."""
    phase_autocreate(database, out, "apply")
    connection = connect_raw(database)
    connection.execute("UPDATE portal_users SET password_hash = 'set' WHERE id % 3 != 0")
    connection.execute("DELETE FROM student_links WHERE student_id % 25 = 0")
    connection.commit()
    connection.close()


def phase_coverage(database: str, out: str) -> None:
    from addin.workbooks.coverage_book import write_coverage_workbook
    from backend.accounts.coverage import coverage
    from backend.database.engine import open_database
    from backend.imports.contract import collector_paused

    with collector_paused():
        write_coverage_workbook(coverage(open_database(database)), Path(out))


ATTACHED = (
    "EXISTS (SELECT 1 FROM student_links sl JOIN portal_users pu ON pu.id = sl.user_id "
    "WHERE sl.student_id = s.id AND pu.user_type = 'GUARDIAN' AND pu.status = 'ACTIVE'{})"
)
ACTIVATED = ATTACHED.format(" AND pu.password_hash IS NOT NULL")
ATTACHED = ATTACHED.format("")
CARDS = (
    "FROM student_contacts sc JOIN contacts c ON c.id = sc.contact_id "
    f"JOIN students s ON s.id = sc.student_id WHERE s.status = 'ACTIVE' AND NOT {ATTACHED}"
)
FLOOR_READS = (
    "SELECT id, code, name FROM schools",
    f"SELECT s.id, s.student_id, s.first_name, s.last_name, s.grade, s.school_id, {ATTACHED}, "
    f"{ACTIVATED} FROM students s WHERE s.status = 'ACTIVE'",
    "SELECT l.student_id, u.logon_id FROM student_links l JOIN portal_users u "
    "ON u.id = l.user_id JOIN students s ON s.id = l.student_id WHERE u.user_type = 'GUARDIAN' "
    f"AND u.status = 'ACTIVE' AND u.password_hash IS NULL AND NOT {ACTIVATED} "
    "AND s.status = 'ACTIVE'",
    "SELECT sc.student_id, c.contact_id, c.first_name, c.last_name, c.email, c.email_key, "
    "sc.is_guardian, sc.portal_access, u.logon_id, u.user_type, u.status "
    f"{CARDS.replace('WHERE', 'LEFT JOIN portal_users u ON u.logon_key = c.email_key WHERE')}",
    "SELECT student_id, email FROM students WHERE email IS NOT NULL",
)
USES = (
    "SELECT c.email_key, sc.student_id, s.student_id, c.contact_id, c.first_name, c.last_name, "
    "sc.portal_access FROM contacts c JOIN student_contacts sc ON sc.contact_id = c.id "
    "JOIN students s ON s.id = sc.student_id WHERE c.email_key IN ({})"
)
CHUNK = 5000  # as many keys as the product looks up in one IN (...)


def card_uses(source: Any, cards: list[Any]) -> None:
    """Every card entry of the emails on those cards, by chunks of emails as the rules read
    them (one IN list per chunk)."""
    keys = sorted({card[5] for card in cards if card[5]})
    for start in range(0, len(keys), CHUNK):
        listed = ", ".join(
            "'" + key.replace("'", "''") + "'" for key in keys[start : start + CHUNK]
        )
        source.execute(USES.format(listed)).fetchall()


def phase_floor(database: str, out: str) -> None:
    source = connect_raw(database)
    _, students, _, cards, _ = [source.execute(query).fetchall() for query in FLOOR_READS]
    card_uses(source, cards)
    source.close()
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Without account")
        row = 0
        for student in students:
            if not student[-1]:
                row += 1
                sheet.write_row(row, 0, [*student[1:6], "state", "what to do", "why"])


def measure(kind: str, folder: Path, roster: Path) -> Runs:
    """The floor and coverage against a database holding the roster and the accounts."""
    with fresh_database(kind, folder, "portal") as database:
        run_phase(__file__, "setup", roster, database)
        run_phase(__file__, "accounts", database, folder / "autocreate.xlsx")
        base = run_phase(__file__, "floor", database, folder / "f.xlsx")
        runs = [("coverage", run_phase(__file__, "coverage", database, folder / "c.xlsx"))]
    return base, runs


def district_main(doc: str, title: str, measure: Callable[[str, Path, Path], Runs]) -> None:
    """Build one district's roster, measure it on each database chosen, print the table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        roster = folder / "roster.xlsx"
        make_roster(roster, args.students)
        results = {kind: measure(kind, folder, roster) for kind in chosen_kinds(args)}
    print_table(f"{title}, {args.students} students and {2 * args.students} contacts", results)


def main() -> None:
    district_main(__doc__, "Coverage", measure)


PHASES = {
    "setup": phase_setup,
    "accounts": phase_accounts,
    "coverage": phase_coverage,
    "floor": phase_floor,
}
if __name__ == "__main__" and not child_main(PHASES):
    main()
