"""`portal demo`: a generated district, a users workbook with realistic faults, simulate, apply."""

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import xlsxwriter
from rich.console import Console

from addin.actions import import_users_file
from backend.db import open_database
from backend.demo_district import District, generate_district, load_district
from backend.importing import Progress

USER_HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "PHONE", "LANGUAGE"]

# Rows a district office really sends: each is an error or a skip the log must explain.
BAD_ROWS: list[list[str | None]] = [
    ["maria.lopez@@example.com", "Maria", "Lopez", "GUARDIAN", None, None, None],
    ["john smith@example.net", "John", "Smith", "GUARDIAN", None, None, None],
    ["kim.parent@example.org", "Kim", "Park", "PARENT", None, None, None],
    ["new.guardian@example.com", None, "Okafor", "GUARDIAN", None, None, None],
    ['=HYPERLINK("http://example.com","click me")', "Eve", "Mallory", "GUARDIAN", None, None, None],
    [None, "No", "Logon", "GUARDIAN", None, None, None],
    ["rossi.family@example.net", "Ana", "Rossi", "GUARDIAN", "not-an-email", None, None],
]


def users_rows(district: District, seed: int = 7) -> list[list[str | None]]:
    """One row per guardian contact with an email, one per student with one, and the bad rows."""
    rng = random.Random(seed)
    rows: list[list[str | None]] = []
    for contact in district.contacts:
        if contact["email"]:
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
    for bad in BAD_ROWS:
        rows.insert(rng.randint(1, len(rows)), bad)
    return rows


def write_users_workbook(path: Path, rows: list[list[str | None]]) -> None:
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet("Users")
        text = workbook.add_format({"num_format": "@"})
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, USER_HEADERS, bold)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                if value is not None:
                    sheet.write_string(number, column, value, text)
        sheet.set_column(0, 0, 36, text)
        sheet.set_column(1, 6, 14)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(rows), len(USER_HEADERS) - 1)


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
    load_district(engine, district)
    console.print(
        f"Demo district: {len(district.schools)} schools, {len(district.students)} students, "
        f"{len(district.cards)} guardian contacts on their cards, "
        f"{len(district.old_accounts)} accounts left from last year."
    )
    workbook = folder / "users-import.xlsx"
    rows = users_rows(district)
    write_users_workbook(workbook, rows)
    console.print(f"Users workbook with {len(rows)} rows (some of them bad): {workbook}")
    for apply in (False, True):
        with progress_bar() as progress:
            report, log = import_users_file(engine, workbook, apply=apply, progress=progress)
        counts = report.counts
        console.print(
            f"[bold]{'APPLY' if apply else 'SIMULATION'}[/] batch {report.batch_id}: "
            f"[green]{counts['added']} added[/], [yellow]{counts['updated']} updated[/], "
            f"{counts['skipped']} skipped, [red]{counts['error']} errors[/]. Log: {log}"
        )
    console.print(f"Database: {database}")
    console.print(f"See the runs with: uv run portal --db {database} batches")
