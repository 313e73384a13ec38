"""What many tests build: input tables, accounts, a small district and its workbooks.

Light to load (the workbook writer comes in only when a workbook is made), so the kill tests'
child process can use it too.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from backend.database.models import PortalUser
from backend.imports.contract import InputTable
from backend.imports.roster_columns import CONTACT_COLUMNS
from backend.imports.users import import_users

USER_HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"]
SCHOOL_HEADERS = ["SCHOOL_CODE", "SCHOOL_NAME"]
STUDENT_HEADERS = ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STUDENT_EMAIL"]
CONTACT_HEADERS = [column.name for column in CONTACT_COLUMNS]
LINK_HEADERS = ["LOGONID", "STUDENT_ID", "RELATIONSHIP"]

Rows = Sequence[Sequence[Any]]


def input_table(
    headers: Sequence[Any],
    rows: Rows,
    *,
    sheet: str | None = None,
    source_name: str | None = None,
) -> InputTable:
    """A sheet as the import reads it: rows numbered from 2, below the header row."""
    return InputTable(
        headers=list(headers),
        rows=[(number, list(row)) for number, row in enumerate(rows, start=2)],
        sheet=sheet,
        source_name=source_name,
    )


def guardians_table(
    count: int,
    first_name: str,
    *,
    last_name: str = "Last",
    logon_prefix: str = "user",
    source_name: str = "users.xlsx",
) -> InputTable:
    """A users sheet of ``count`` guardians, ``<prefix><n>@example.org``, all with one name."""
    rows = [
        [f"{logon_prefix}{n}@example.org", first_name, last_name, "GUARDIAN"] for n in range(count)
    ]
    return input_table(USER_HEADERS, rows, source_name=source_name)


def make_accounts(engine: Engine, *logons: str) -> dict[str, int]:
    """Accounts made the way staff make them (a users import); their ids by logon."""
    rows = [[logon, "Pat", "Lee", "GUARDIAN"] for logon in logons]
    report = import_users(
        engine, input_table(USER_HEADERS, rows, source_name="users.xlsx"), apply=True
    )
    assert report.counts["added"] == len(logons)
    with engine.connect() as connection:
        return {r.logon_id: r.id for r in connection.execute(select(PortalUser))}


Sheets = dict[str, tuple[list[str], Rows]]


def workbook(path: Path, sheets: Sheets) -> Path:
    """An input workbook of several sheets, text cells formatted as text so IDs keep their zeros.

    None leaves a cell empty; numbers stay numbers.
    """
    from addin.demo.run import write_workbook

    return write_workbook(
        path,
        {name: (headers, [list(row) for row in rows]) for name, (headers, rows) in sheets.items()},
    )


@dataclass(frozen=True)
class District:
    """A roster as a district office sends it: its Schools, Students and Contacts sheets."""

    schools: Rows
    students: Rows
    contacts: Rows

    def sheets(self) -> Sheets:
        return {
            "Schools": (SCHOOL_HEADERS, self.schools),
            "Students": (STUDENT_HEADERS, self.students),
            "Contacts": (CONTACT_HEADERS, self.contacts),
        }

    def tables(self) -> dict[str, InputTable]:
        """The sheets as keyword arguments of ``import_roster``."""
        return {
            name.lower(): input_table(headers, rows, sheet=name)
            for name, (headers, rows) in self.sheets().items()
        }

    def workbook(self, path: Path) -> Path:
        """The roster workbook."""
        return workbook(path, self.sheets())


SMALL_DISTRICT = District(
    schools=[["101", "Lincoln"], ["201", "Wash"]],
    students=[
        ["00123", "Ava", "Lee", "3", "101", None],
        [456.0, "Max", "Lee", "7", "201", None],  # an ID typed as a number
    ],
    contacts=[
        ["00123", "C1", "Mia", "Lee", "Mother", "mia@example.org", "Y", "Y", 1],
        ["456", "C1", "Mia", "Lee", "Mother", None, "Y", "Y", 1],
        ["00123", "C2", "Tom", "Lee", "Father", "tom@example.org", "Y", "Y", 2],
        ["00123", "C3", "Ada", "Lee", "Grandmother", None, "N", "N", 3],
    ],
)
"""Two schools, two students, one parent on both students' cards, one contact without email."""
