"""`portal demo`: a generated district taken through every import, simulation first.

1. the roster (schools, students, contacts) from a roster workbook;
2. last year's accounts, then this year's users workbook with realistic faults;
3. the student-link workbook tying students to those accounts;
4. one student's contact card, showing each status a contact can have.
"""

import random
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import xlsxwriter
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Engine

from addin.cli.output import styled_counts
from addin.demo.district import District, generate_district
from addin.workbooks.file import write_log_workbook
from addin.workbooks.import_file import import_file
from addin.workbooks.result_sheet import log_from_report
from backend.accounts.contact_card import contact_card
from backend.database.engine import open_database
from backend.imports.contract import InputTable, Progress, Report
from backend.imports.roster_columns import CONTACT_COLUMNS
from backend.imports.users import import_users

USER_HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "PHONE", "LANGUAGE"]
LINK_HEADERS = ["LOGONID", "STUDENT_ID", "RELATIONSHIP", "PRIMARY", "ACTION"]
STUDENT_HEADERS = ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STUDENT_EMAIL"]
CONTACT_HEADERS = [column.name for column in CONTACT_COLUMNS]

# Rows a district office really sends: each is an error or a skip the log must explain.
BAD_USER_ROWS: list[list[str | None]] = [
    ["maria.lopez@@example.com", "Maria", "Lopez", "GUARDIAN", None, None, None],
    ["john smith@example.net", "John", "Smith", "GUARDIAN", None, None, None],
    ["kim.parent@example.org", "Kim", "Park", "PARENT", None, None, None],
    ["new.guardian@example.com", None, "Okafor", "GUARDIAN", None, None, None],
    ['=HYPERLINK("http://example.com","click me")', "Eve", "Mallory", "GUARDIAN", None, None, None],
    [None, "No", "Logon", "GUARDIAN", None, None, None],
    ["rossi.family@example.net", "Ana", "Rossi", "GUARDIAN", "not-an-email", None, None],
]
BAD_LINK_ROWS: list[list[str | None]] = [
    ["nobody@example.org", "001000", "Mother", None, None],
    ["maria.lopez@@example.com", "001000", "Mother", None, None],
    [None, "001000", None, None, None],
]


def write_workbook(path: Path, sheets: dict[str, tuple[list[str], list[list[Any]]]]) -> Path:
    """A plain input workbook; ID and logon columns are text so leading zeros survive."""
    with xlsxwriter.Workbook(path) as workbook:
        text = workbook.add_format({"num_format": "@"})
        bold = workbook.add_format({"bold": True})
        for name, (headers, rows) in sheets.items():
            sheet = workbook.add_worksheet(name)
            sheet.write_row(0, 0, headers, bold)
            for number, row in enumerate(rows, start=1):
                for column, value in enumerate(row):
                    if isinstance(value, str):
                        sheet.write_string(number, column, value, text)
                    elif value is not None:
                        sheet.write_number(number, column, value)
            sheet.set_column(0, len(headers) - 1, 18, text)
            sheet.freeze_panes(1, 0)
            sheet.autofilter(0, 0, len(rows), len(headers) - 1)
    return path


def roster_sheets(district: District) -> dict[str, tuple[list[str], list[list[Any]]]]:
    students = [
        [s["student_id"], s["first_name"], s["last_name"], s["grade"], s["school"], s["email"]]
        for s in district.students
    ]
    students.insert(40, ["009999", "Lost", "Record", "4", "999", None])  # an unknown school
    people = {c["contact_id"]: c for c in district.contacts}
    contacts = [
        [
            sid,
            cid,
            people[cid]["first_name"],
            people[cid]["last_name"],
            relationship,
            people[cid]["email"],
            "Y",
            "Y",
            priority,
        ]
        for sid, cid, relationship, priority in district.cards
    ]
    contacts.insert(70, ["008888", "C99999", "Nobody", "Known", "Mother", None, "Y", "Y", 1])
    return {
        "Schools": (
            ["SCHOOL_CODE", "SCHOOL_NAME"],
            [[s["code"], s["name"]] for s in district.schools],
        ),
        "Students": (STUDENT_HEADERS, students),
        "Contacts": (CONTACT_HEADERS, contacts),
    }


def users_rows(district: District, seed: int = 7) -> list[list[str | None]]:
    """One row per guardian contact with an email (but a few new this year), one per student
    with an email, and the bad rows."""
    rng = random.Random(seed)
    rows: list[list[str | None]] = []
    moved_on = {contact_id for _, _, contact_id in district.old_logons}
    for contact in district.contacts:
        if (
            contact["email"]
            and (contact["contact_id"] or "").split("-")[0] not in moved_on
            and rng.random() > 0.04
        ):
            phone = f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
            language = "Spanish" if rng.random() < 0.1 else None
            rows.append(
                [
                    contact["email"],
                    contact["first_name"],
                    contact["last_name"],
                    "GUARDIAN",
                    None,
                    phone if rng.random() < 0.6 else None,
                    language,
                ]
            )
    for student in district.students:
        if student["email"]:
            rows.append(
                [
                    student["email"],
                    student["first_name"],
                    student["last_name"],
                    "STUDENT",
                    None,
                    None,
                    None,
                ]
            )
    for bad in BAD_USER_ROWS:
        rows.insert(rng.randint(1, len(rows)), bad)
    return rows


def link_rows(district: District, seed: int = 11) -> list[list[str | None]]:
    """Each guardian email to the students on whose card it stands, students to themselves."""
    rng = random.Random(seed)
    emails = {c["contact_id"]: c["email"] for c in district.contacts}
    rows: list[list[str | None]] = [
        [emails[cid], sid, relationship, "Y" if priority == 1 else None, None]
        for sid, cid, relationship, priority in district.cards
        if emails[cid]
    ]
    rows += [
        [s["email"], s["student_id"], "Self", None, None] for s in district.students if s["email"]
    ]
    for logon, student_id, _ in district.old_logons:
        rows.append([logon, student_id, "Parent", None, None])
    for bad in BAD_LINK_ROWS:
        rows.insert(rng.randint(1, len(rows)), bad)
    return rows


def last_year(engine: Engine, district: District) -> Report:
    """Accounts a district already has: old spellings and phones, and logons that differ."""
    rows = [
        [logon, first, last, "GUARDIAN", phone]
        for logon, first, last, phone in district.old_accounts
    ]
    rows += [[logon, "Former", "Logon", "GUARDIAN", None] for logon, _, _ in district.old_logons]
    table = InputTable(
        headers=["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "PHONE"],
        rows=[(n, r) for n, r in enumerate(rows, start=2)],
        source_name="last year's accounts",
    )
    return import_users(engine, table, apply=True)


def summary(report: Report, log: Path | None = None) -> str:
    text = (
        f"[bold]{'APPLY' if report.mode == 'apply' else 'SIMULATION'}[/] batch "
        f"{report.batch_id}: {styled_counts(report.tallies)}."
    )
    return text + (f" Log: {log}" if log else "")


@contextmanager
def local_mail_server() -> Iterator[tuple[int, list[EmailMessage]]]:
    """A real SMTP server on this computer that keeps what it receives, for the demo."""
    from aiosmtpd.controller import Controller

    received: list[EmailMessage] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(message_from_bytes(envelope.content, policy=default))
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd needs a concrete free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def run_autocreate(
    engine: Engine,
    folder: Path,
    console: Console,
    progress_bar: Callable[[], AbstractContextManager[Progress]],
) -> None:
    """AutoCreate on the whole district with the welcome email, then send it for real."""
    from backend.accounts.autocreate import Options, autocreate
    from backend.mail.outbox import send_pending
    from backend.settings import get_settings

    console.print("[bold]AutoCreate[/] for every active student, emailing new accounts:")
    for apply in (False, True):
        with progress_bar() as progress:
            report = autocreate(
                engine, Options(email_template="welcome"), apply=apply, progress=progress
            )
        log = write_log_workbook(
            folder / f"autocreate.{'applied' if apply else 'simulation'}.xlsx",
            log_from_report(report, "STUDENT_ID / CONTACT_ID"),
        )
        console.print("  " + summary(report, log), soft_wrap=True)
    with local_mail_server() as (port, received):
        settings = replace(
            get_settings(),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            send_per_minute=100_000,
            mail_from="Parent Portal <portal@example.org>",
        )
        sent = send_pending(engine, settings=settings)
    console.print(
        f"Outbox: {sent.sent} emails sent to a mail server on this computer; "
        f"it received {len(received)}."
    )
    if received:
        first = received[0]
        console.print(f'  First: to {first["To"]}, subject "{first["Subject"]}"', highlight=False)


def show_card(engine: Engine, student_id: str, console: Console) -> None:
    card = contact_card(engine, student_id)
    table = RichTable(
        "Contact",
        "Name",
        "Relationship",
        "Email",
        "Status",
        "Account",
        title=f"Contact card of {card.student_id} {card.first_name} "
        f"{card.last_name} (portal student card {card.student_id})",
    )
    for entry in card.entries:
        table.add_row(
            entry.contact_id,
            f"{entry.first_name} {entry.last_name}",
            entry.relationship or "",
            entry.email or "",
            entry.status,
            entry.account or ", ".join(entry.other_logons),
        )
    console.print(table)


def run_demo(
    folder: Path,
    console: Console,
    progress_bar: Callable[[], AbstractContextManager[Progress]],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "demo.sqlite"
    for stale in folder.glob("demo.sqlite*"):
        stale.unlink()
    engine = open_database(str(database))
    district = generate_district()
    console.print(
        f"Demo district: {len(district.schools)} schools, {len(district.students)} "
        f"students, {len(district.cards)} guardian contacts on their cards."
    )
    steps: list[tuple[str, Path, str]] = [
        (
            "Roster",
            write_workbook(folder / "roster.xlsx", roster_sheets(district)),
            "roster",
        ),
        (
            "Users",
            write_workbook(
                folder / "users-import.xlsx", {"Users": (USER_HEADERS, users_rows(district))}
            ),
            "users",
        ),
        (
            "Student links",
            write_workbook(
                folder / "links-import.xlsx", {"Links": (LINK_HEADERS, link_rows(district))}
            ),
            "links",
        ),
    ]
    for title, workbook, kind in steps:
        if title == "Users":
            console.print(f"Last year's accounts: {summary(last_year(engine, district))}")
        console.print(f"[bold]{title}[/] workbook: {workbook}")
        for apply in (False, True):
            with progress_bar() as progress:
                report, log = import_file(engine, kind, workbook, apply=apply, progress=progress)
            console.print("  " + summary(report, log), soft_wrap=True)
    # A student whose parent's account still has an old logon: the card says "logon differs".
    show_card(engine, district.old_logons[0][1], console)
    run_autocreate(engine, folder, console, progress_bar)
    console.print(f"Database: {database}")
    console.print(f"See the runs with: portal --db {database} batches")
