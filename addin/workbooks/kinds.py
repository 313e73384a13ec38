"""The imports a workbook can hold, defined once: for each kind, its input sheets and columns,
how to run it, the key its log rows carry, and the template workbook staff start from.

The ribbon actions, the template builder, the ``PortalTemplate`` mark and the terminal's
``portal import`` all read this registry, so a kind cannot be known to one and not another.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from addin.workbooks.autocreate_options import (
    AUTOCREATE_OPTIONS,
    OPTION_COLUMNS,
    AutoCreateOption,
    read_options,
)
from backend.accounts.autocreate import autocreate
from backend.errors import InputError
from backend.imports.contract import Column, InputTable, Report, cell_text
from backend.imports.links import LINK_COLUMNS, import_links
from backend.imports.roster import import_roster
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.imports.users import USER_COLUMNS, ImportMode, import_users

Tables = dict[str, InputTable]


@dataclass(frozen=True)
class SheetSpec:
    """An input sheet: its columns (from the import) and the values of its one example row."""

    name: str
    columns: tuple[Column, ...]
    example: dict[str, str]
    about: str  # one sentence for the Instructions: what a row of this sheet is


@dataclass(frozen=True)
class TemplateSpec:
    """A kind's template workbook: its file, what its Instructions say, its sheets."""

    file_name: str
    title: str
    purpose: tuple[str, ...]
    sheets: tuple[SheetSpec, ...]
    notes: tuple[str, ...] = ()
    options: tuple[AutoCreateOption, ...] = ()


def _autocreate_student_column() -> Column:
    """AutoCreate's selection column: the roster's STUDENT_ID, same parser and aliases."""
    return replace(
        next(c for c in STUDENT_COLUMNS if c.name == "STUDENT_ID"),
        required=False,
        help="A student to run AutoCreate for. Leave the sheet empty to use the schools and "
        "grades on the Options sheet instead.",
    )


_USERS_TEMPLATE = TemplateSpec(
    file_name="users-import.xlsx",
    title="Users import: create and update Parent Portal accounts",
    purpose=(
        "Use this workbook to create Parent Portal logon accounts for guardians and "
        "students, or to update accounts that already exist.",
        "Each row of the Users sheet is one account, found by its LOGONID: a new LOGONID "
        "adds an account, a known one updates it.",
        "To say which students each account sees, use the student-link template "
        "(links-import.xlsx) afterwards.",
    ),
    sheets=(
        SheetSpec(
            "Users",
            USER_COLUMNS,
            {
                "LOGONID": "jane.doe@example.org",
                "FIRST_NAME": "Jane",
                "LAST_NAME": "Doe",
                "USER_TYPE": "GUARDIAN",
                "STATUS": "ACTIVE",
                "PHONE": "555-0100",
                "LANGUAGE": "English",
            },
            "one row per account",
        ),
    ),
)

_LINKS_TEMPLATE = TemplateSpec(
    file_name="links-import.xlsx",
    title="Student links import: which students each account sees",
    purpose=(
        "Use this workbook to attach students to Parent Portal accounts (the accounts' "
        '"Students attached to this account" list), or to detach them.',
        "Each row of the Links sheet ties one account (LOGONID) to one student "
        "(STUDENT_ID). The account and the student must already exist.",
    ),
    sheets=(
        SheetSpec(
            "Links",
            LINK_COLUMNS,
            {
                "LOGONID": "jane.doe@example.org",
                "STUDENT_ID": "000123",
                "RELATIONSHIP": "Mother",
                "PRIMARY": "Y",
                "NOTICES": "Y",
                "ACTION": "ADD",
            },
            "one row per account and student",
        ),
    ),
)

_ROSTER_TEMPLATE = TemplateSpec(
    file_name="roster-import.xlsx",
    title="Roster import: schools, students and their contacts",
    purpose=(
        "Use this workbook to bring schools, students and the contacts on each student's "
        "contact card into Parent Portal Accounts.",
        "AutoCreate makes guardian accounts from these contacts, so keep their emails, "
        "guardian flags and portal access up to date.",
        "Fill the Schools sheet only for schools that are not known yet.",
    ),
    sheets=(
        SheetSpec(
            "Schools",
            SCHOOL_COLUMNS,
            {"SCHOOL_CODE": "012", "SCHOOL_NAME": "Lincoln Elementary"},
            "one row per school",
        ),
        SheetSpec(
            "Students",
            STUDENT_COLUMNS,
            {
                "STUDENT_ID": "000123",
                "FIRST_NAME": "Sam",
                "LAST_NAME": "Doe",
                "GRADE": "3",
                "SCHOOL": "012",
                "STATUS": "ACTIVE",
                "STUDENT_EMAIL": "sam.doe@students.example.org",
            },
            "one row per student",
        ),
        SheetSpec(
            "Contacts",
            CONTACT_COLUMNS,
            {
                "STUDENT_ID": "000123",
                "CONTACT_ID": "C0456",
                "FIRST_NAME": "Jane",
                "LAST_NAME": "Doe",
                "RELATIONSHIP": "Mother",
                "EMAIL": "jane.doe@example.org",
                "GUARDIAN": "Y",
                "PORTAL_ACCESS": "Y",
                "PRIORITY": "1",
            },
            "one row per contact on a student's card (a parent of two students: two rows)",
        ),
    ),
)

_AUTOCREATE_TEMPLATE = TemplateSpec(
    file_name="autocreate.xlsx",
    title="AutoCreate: guardian accounts from students' contact cards",
    purpose=(
        "AutoCreate looks at each selected student's guardian contacts. A guardian whose "
        "primary email is not yet a guardian logon gets a new account with that email as "
        "its logon.",
        "It also attaches students to guardian accounts that already exist when the "
        "parent-student record is missing.",
        "Run it in simulation first (SIMULATION = Y, the default) and read the log.",
    ),
    sheets=(
        SheetSpec(
            "Students",
            (_autocreate_student_column(),),
            {"STUDENT_ID": "000123"},
            "one row per student to run AutoCreate for (leave it empty to use the "
            "schools and grades on the Options sheet instead)",
        ),
    ),
    notes=("The Options sheet holds the settings, one per row: change only the Value column.",),
    options=AUTOCREATE_OPTIONS,
)


def _run_users(engine: Engine, tables: Tables, **options: Any) -> Report:
    mode: ImportMode = options.get("mode", "upsert")
    return import_users(
        engine,
        tables["Users"],
        apply=options["apply"],
        mode=mode,
        progress=options["progress"],
        review=options.get("review"),
    )


def _run_links(engine: Engine, tables: Tables, **options: Any) -> Report:
    return import_links(
        engine,
        tables["Links"],
        apply=options["apply"],
        schools=options.get("schools", ()),
        progress=options["progress"],
        review=options.get("review"),
    )


def _run_roster(engine: Engine, tables: Tables, **options: Any) -> Report:
    return import_roster(
        engine,
        schools=tables.get("Schools"),
        students=tables.get("Students"),
        contacts=tables.get("Contacts"),
        apply=options["apply"],
        progress=options["progress"],
        review=options.get("review"),
    )


def _run_autocreate(engine: Engine, tables: Tables, **options: Any) -> Report:
    chosen, simulation = read_options(tables["Options"])
    if options["apply"] and simulation:
        raise InputError(
            "SIMULATION is Y on the Options sheet: review the simulation's log, then set "
            "SIMULATION to N and press Create again"
        )
    if "Students" in tables:
        chosen.students = [cell_text(cells[0]) or "" for _, cells in tables["Students"].rows]
    return autocreate(
        engine,
        chosen,
        apply=options["apply"],
        progress=options["progress"],
        review=options.get("review"),
    )


@dataclass(frozen=True)
class ImportKind:
    """An import a workbook can hold: its template, the sheets it reads and how to run it."""

    kind: str
    title: str
    template: TemplateSpec
    key_header: str
    run: Callable[..., Report]
    single: bool = True  # one input sheet; its rows need no sheet name in the log
    needs_one_of: tuple[str, ...] = ()  # of several sheets, at least one of these
    may_be_empty: tuple[str, ...] = ()  # sheets that may hold no row but the headers

    @property
    def sheets(self) -> Mapping[str, tuple[Column, ...]]:
        """Input sheet name -> its columns: the template's sheets, then its Options sheet."""
        sheets = {sheet.name: sheet.columns for sheet in self.template.sheets}
        if self.template.options:
            sheets["Options"] = OPTION_COLUMNS
        return sheets


KINDS: dict[str, ImportKind] = {
    "users": ImportKind("users", "users import", _USERS_TEMPLATE, "LOGONID", _run_users),
    "links": ImportKind(
        "links", "student-link import", _LINKS_TEMPLATE, "LOGONID / STUDENT_ID", _run_links
    ),
    "roster": ImportKind(
        "roster",
        "roster import",
        _ROSTER_TEMPLATE,
        "Key",
        _run_roster,
        single=False,
        needs_one_of=("Schools", "Students", "Contacts"),
        may_be_empty=("Schools", "Students", "Contacts"),
    ),
    "autocreate": ImportKind(
        "autocreate",
        "AutoCreate",
        _AUTOCREATE_TEMPLATE,
        "STUDENT_ID / CONTACT_ID",
        _run_autocreate,
        single=False,
        needs_one_of=("Options",),
        may_be_empty=("Students",),
    ),
}
KIND_NAMES = tuple(KINDS)
