"""Read a OneRoster CSV bundle (1.1 or 1.2; a folder or a .zip) into the three roster tables.

Every major student information system exports OneRoster, so a district can import its roster
from that export instead of building a workbook. The bundle is turned into the same
``InputTable``s a roster workbook gives (Schools, Students, Contacts, with the headers of
``backend.imports.roster_columns``), so the one import engine checks and applies it.

Exports are often inconsistent (a student's ``agentSourcedIds`` naming a teacher, an org that is
not in ``orgs.csv``). Nothing like that stops the read: the row is still produced and the reason,
naming the file, line and column, goes into the table's ``notes`` for that row, so the import
reports it as that row's error. Only a bundle that cannot be read at all (no ``users.csv``, a
missing required column, not UTF-8, an unsafe or oversized zip) raises ``InputError``.

A state's users.csv (millions of people) is never whole in memory: the Students and Contacts
rows are read again from the bundle each time they are iterated, and between passes only compact
indexes are kept (``_People``): reading checks every byte, indexes the people and resolves every
``agentSourcedIds``, so the notes are complete and any unusable bundle is refused before a row
is used.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from addin.files.oneroster_bundle import (
    EXPORT_AGAIN,
    MANIFEST,
    MB,
    ORGS,
    ROLES,
    USERS,
    Budget,
    CsvFile,
    UsersFile,
    cell,
    columns,
    header_index,
    id_list,
    open_bundle,
)
from addin.files.oneroster_index import Groups, GroupsBuilder, IdIndex, Texts
from backend.errors import InputError
from backend.imports.contract import InputTable, collector_paused
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.settings import get_settings

__all__ = ["RosterTables", "read_oneroster"]

MAX_PRIORITY = 99

STUDENT = "student"
CONTACT_ROLES: dict[str, tuple[str, str]] = {
    "parent": ("Parent", "Y"),
    "guardian": ("Guardian", "Y"),
    "relative": ("Relative", "N"),
}
"""Role -> (RELATIONSHIP, GUARDIAN): a relative is on the card but is not a legal guardian."""

_INACTIVE_STATUSES = ("tobedeleted", "inactive")
_FALSE = ("false", "0", "no", "n")


@dataclass
class RosterTables:
    """The Schools, Students and Contacts tables of one bundle, and its OneRoster version."""

    schools: InputTable
    students: InputTable
    contacts: InputTable
    version: str = ""


def read_oneroster(path: Path) -> RosterTables:
    """Read the OneRoster bundle at ``path`` (a folder or a .zip) into roster tables.

    Raises ``InputError`` with one line of advice when the bundle as a whole cannot be used.
    The Students and Contacts rows are read from the bundle again each time they are iterated:
    it must stay where it is until the import is done.
    """
    path = Path(path)
    limit = get_settings().max_unpacked_mb * MB
    with open_bundle(path) as bundle:
        budget = Budget(limit)
        users = bundle.measure_users(path, budget)
        orgs_csv = bundle.read(ORGS, budget)
        roles_csv = bundle.read(ROLES, budget)
        manifest_csv = bundle.read(MANIFEST, budget)
    version = _manifest_version(manifest_csv)
    records = users.records(first=True)
    try:
        _, header = next(records)
        use_roles = _uses_roles(users, header_index(header), roles_csv, version)
        if not version:
            version = "1.2" if use_roles else "1.1"
        with collector_paused():
            orgs = _read_orgs(orgs_csv)
            roles = _read_roles(roles_csv) if use_roles and roles_csv is not None else None
            students, contacts = read_users(users, header, records, orgs, roles)
    finally:
        records.close()
    return RosterTables(orgs.table, students, contacts, version)


def _uses_roles(
    users: UsersFile, header: dict[str, int], roles_csv: CsvFile | None, version: str
) -> bool:
    """Whether roles come from roles.csv (1.2) rather than users.csv's role column (1.1)."""
    use_roles = roles_csv is not None and (version == "1.2" or "role" not in header)
    if not use_roles and "role" not in header:
        raise InputError(
            f"{users.source} has no role column and the bundle has no {ROLES}, so nobody's "
            f"role is known (OneRoster 1.1 puts it in {USERS}, 1.2 in {ROLES}); "
            f"{EXPORT_AGAIN}."
        )
    return use_roles


def _manifest_version(data: CsvFile | None) -> str:
    """``oneroster.version`` from manifest.csv; a manifest without it is simply not used."""
    if data is None:
        return ""
    header, records = data.records()
    index = header_index(header)
    name, value = index.get("propertyname"), index.get("value")
    if name is None or value is None:
        return ""
    for _line, row in records:
        if cell(row, name).lower() == "oneroster.version":
            return cell(row, value)
    return ""


# --- orgs, roles, users -----------------------------------------------------------------------


@dataclass(slots=True)
class _Org:
    line: int
    kind: str  # school, district, department, ...
    code: str  # its identifier, else its sourcedId
    name: str
    parent: str  # parentSourcedId, blank at the top


@dataclass
class _Orgs:
    """The Schools table and what students need: every org by sourcedId, schools' codes.

    A student placed in a department or a district belongs to the school above it: up the
    ``parentSourcedId`` chain, the first school. Where the chain ends without one, the org it
    ends at stands for the school (the top org, or a parent that orgs.csv does not list), and
    is added to the Schools table so the student can be imported.
    """

    table: InputTable
    orgs: dict[str, _Org] = field(default_factory=dict)
    school_codes: dict[str, str] = field(default_factory=dict)
    present: bool = True

    def school_of(self, sourced_id: str) -> str | None:
        """The code of the school an org listed in orgs.csv is, or belongs to."""
        seen: set[str] = set()
        line = 0
        while sourced_id not in seen:
            seen.add(sourced_id)
            if sourced_id in self.school_codes:
                return self.school_codes[sourced_id]
            org = self.orgs.get(sourced_id)
            if org is None:  # a parent that orgs.csv does not list
                return self._stands_for_school(sourced_id, sourced_id, sourced_id, line)
            if not org.parent:
                return self._stands_for_school(sourced_id, org.code, org.name, org.line)
            line, sourced_id = org.line, org.parent
        return None  # parentSourcedIds that go round in a circle name no school

    def _stands_for_school(self, sourced_id: str, code: str, name: str, line: int) -> str:
        self.school_codes[sourced_id] = code
        rows = cast(list[tuple[int, list[Any]]], self.table.rows)
        rows.append((line, [code, name or code]))
        rows.sort(key=lambda row: row[0])
        return code


def _read_orgs(data: CsvFile | None) -> _Orgs:
    headers = [c.name for c in SCHOOL_COLUMNS]
    if data is None:
        return _Orgs(InputTable(headers, [], source_name=None), present=False)
    header, records = data.records()
    required, optional = ("sourcedId", "name", "type"), ("identifier", "parentSourcedId")
    cols = columns(data.source, header, required, optional)
    sid, name, kind, ident = cols["sourcedId"], cols["name"], cols["type"], cols["identifier"]
    rows: list[tuple[int, list[Any]]] = []
    orgs = _Orgs(InputTable(headers, rows, source_name=data.source, source_sha256=data.sha256))
    for line, row in records:
        sourced_id = cell(row, sid)
        code = cell(row, ident) or sourced_id
        org = _Org(line, cell(row, kind).lower(), code, cell(row, name), "")
        org.parent = cell(row, cols["parentSourcedId"])
        orgs.orgs.setdefault(sourced_id, org)
        if org.kind != "school":
            continue
        orgs.school_codes.setdefault(sourced_id, code)
        values = {"SCHOOL_CODE": code or None, "SCHOOL_NAME": org.name or None}
        rows.append((line, [values.get(h) for h in headers]))
    return orgs


@dataclass(slots=True)
class _Role:
    role: str
    primary: bool
    org: str
    line: int


def _read_roles(data: CsvFile) -> dict[str, list[_Role]]:
    """OneRoster 1.2 roles by user, primary roles first, each group in file order."""
    header, records = data.records()
    cols = columns(data.source, header, ("userSourcedId", "role", "orgSourcedId"), ("roleType",))
    user, role, org, kind = (
        cols["userSourcedId"],
        cols["role"],
        cols["orgSourcedId"],
        cols["roleType"],
    )
    by_user: dict[str, list[_Role]] = {}
    for line, row in records:
        primary = cell(row, kind).lower() == "primary"
        by_user.setdefault(cell(row, user), []).append(
            _Role(cell(row, role), primary, cell(row, org), line)
        )
    for roles in by_user.values():
        roles.sort(key=lambda r: not r.primary)
    return by_user


@dataclass(slots=True)
class _User:
    line: int
    sourced_id: str
    key: str  # identifier, else sourcedId: the ID the district knows the person by
    given: str
    family: str
    email: str
    inactive: bool
    deleted: bool  # status tobedeleted: the export says this person is gone
    grade: str
    roles: list[str]
    orgs: list[tuple[str, str]]  # (org sourcedId, where the bundle says so) in order of trust
    agents: list[str]
    student: bool = False
    contact: tuple[str, str] | None = None  # (RELATIONSHIP, GUARDIAN)


USER_CELLS = (
    "sourcedId",
    "givenName",
    "familyName",
    "identifier",
    "email",
    "status",
    "enabledUser",
    "grades",
    "agentSourcedIds",
    "orgSourcedIds",
    "primaryOrgSourcedId",
    "role",
)
"""The users.csv columns read, in the order ``_read_user`` takes them."""


def _picker(indexes: list[int | None]) -> Callable[[list[str]], list[str]]:
    """``pick(row)``: the row's cells at ``indexes``, stripped; '' for a column the file lacks
    (None) or a cell past the row's end. One call per row, not one per cell."""
    width = max((i for i in indexes if i is not None), default=-1) + 1
    get = itemgetter(*(-1 if i is None else i for i in indexes))  # -1: the '' added at the end

    def pick(row: list[str]) -> list[str]:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        row.append("")
        return [cell.strip() for cell in get(row)]

    return pick


def _read_user(line: int, cells: list[str], roles: dict[str, list[_Role]] | None) -> _User:
    sourced_id, given, family, key, email, status, enabled, grades, agents, *rest = cells
    orgs, primary_org, role = rest
    status = status.lower()
    own = None if roles is None else _own_roles(sourced_id, roles)
    user = _User(
        line=line,
        sourced_id=sourced_id,
        key=key or sourced_id,
        given=given,
        family=family,
        email=email,
        inactive=status in _INACTIVE_STATUSES or enabled.lower() in _FALSE,
        deleted=status == "tobedeleted",
        grade=grades.split(",", 1)[0].strip(),
        roles=_role_names(role, own),
        orgs=[],
        agents=id_list(agents),
    )
    user.student, user.contact = _kind(user.roles)
    if user.student:  # only a student's orgs are used: they give the school
        user.orgs = _student_orgs(own, orgs, primary_org)
    return user


def _own_roles(sourced_id: str, roles: dict[str, list[_Role]]) -> list[_Role]:
    """A person's roles.csv lines (1.2)."""
    return roles.get(sourced_id, []) if sourced_id else []


def _role_names(role: str, own: list[_Role] | None) -> list[str]:
    """The role column (1.1), or the roles of the person's roles.csv lines (1.2)."""
    if own is None:
        return [role] if role else []
    return [r.role for r in own]


def _kind(roles: list[str]) -> tuple[bool, tuple[str, str] | None]:
    """Whether the roles make a student, and the contact role they give, if any."""
    lowered = [r.lower() for r in roles]
    return STUDENT in lowered, next((CONTACT_ROLES[r] for r in lowered if r in CONTACT_ROLES), None)


def _student_orgs(own: list[_Role] | None, orgs: str, primary_org: str) -> list[tuple[str, str]]:
    """The student's orgs in order of trust, each with where the bundle says so: their
    roles.csv student roles (1.2), orgSourcedIds, then primaryOrgSourcedId."""
    found = [
        (r.org, f"{ROLES} line {r.line} gives the student the org '{r.org}'")
        for r in own or []
        if r.role.lower() == STUDENT and r.org
    ]
    found += [(o, f"orgSourcedIds names '{o}'") for o in id_list(orgs)]
    if primary_org:
        found.append((primary_org, f"primaryOrgSourcedId names '{primary_org}'"))
    return found


# --- messages and cells -----------------------------------------------------------------------


_BLANK_ID = (
    "sourcedId is blank, so no other row can refer to this person; "
    f"{EXPORT_AGAIN} with a sourcedId for everyone."
)


def _school_of(user: _User, orgs: _Orgs, name: str) -> tuple[str | None, str | None]:
    """The code of the student's first org that is a school, else of the school above their
    first other org (a department, a district), or a note if no org is in orgs.csv."""
    listed = [org for org, _ in user.orgs if org in orgs.orgs]
    for org in sorted(listed, key=lambda org: org not in orgs.school_codes):
        code = orgs.school_of(org)
        if code:
            return code, None
    unknown = next((where for org, where in user.orgs if org not in orgs.orgs), None)
    if unknown is None:
        return None, None
    missing = f"which is not in {ORGS}" if orgs.present else f"but the bundle has no {ORGS}"
    return None, (
        f"{name} line {user.line}: {unknown}, {missing}, so the student's school is "
        f"unknown; add the school to {ORGS} or correct the ID in the student information system."
    )


def _wrong_agent(ref: str, roles: list[str] | None, side: str, roles_from: str) -> str:
    """Why ``ref`` is no link: on a contact's list (side 'student') or a student's list.
    ``roles`` are the roles of the person ``ref`` names, None if nobody has that sourcedId."""
    if roles is None:
        return (
            f"agentSourcedIds names '{ref}', who is not in {USERS}; correct the ID, or "
            f"{EXPORT_AGAIN} with everyone it names."
        )
    if roles:
        words = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", role).lower() for role in roles]
        who = "who is " + " and ".join(_a(word) for word in dict.fromkeys(words))
    else:
        who = f"who has no role in {roles_from}"
    if side == STUDENT:
        rule = "not a student; only students can be on a guardian's list"
    else:
        rule = (
            "not a parent, guardian or relative; only they can be on a student's list of contacts"
        )
    return (
        f"agentSourcedIds names '{ref}', {who}, {rule}; remove it or correct it in the student "
        "information system."
    )


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _unlinked(user: _User) -> str:
    relationship = user.contact[0] if user.contact else ""
    return (
        f"{user.given} {user.family} ({user.key}) is a {relationship.lower()} but no student is "
        "linked: agentSourcedIds is blank and no student lists them; add their students to "
        "agentSourcedIds in the student information system."
    )


STUDENT_HEADERS = [c.name for c in STUDENT_COLUMNS]
CONTACT_HEADERS = [c.name for c in CONTACT_COLUMNS]
_STUDENT_AT = CONTACT_HEADERS.index("STUDENT_ID")
_PRIORITY_AT = CONTACT_HEADERS.index("PRIORITY")


def _student_cells(user: _User, school: str | None) -> list[Any]:
    values = {
        "STUDENT_ID": user.key or None,
        "FIRST_NAME": user.given or None,
        "LAST_NAME": user.family or None,
        "GRADE": user.grade or None,
        "SCHOOL": school,
        "STATUS": "INACTIVE" if user.inactive else "ACTIVE",
        "STUDENT_EMAIL": user.email or None,
    }
    return [values.get(h) for h in STUDENT_HEADERS]


def _contact_values(
    key: str, given: str, family: str, email: str, role: tuple[str, str] | None
) -> dict[str, str | None]:
    relationship, guardian = role or ("", "")
    return {
        "CONTACT_ID": key or None,
        "FIRST_NAME": given or None,
        "LAST_NAME": family or None,
        "RELATIONSHIP": relationship or None,
        "EMAIL": email or None,
        "GUARDIAN": guardian or None,
        "PORTAL_ACCESS": "Y",
    }


def _contact_row(values: dict[str, str | None]) -> list[str | None]:
    return [values.get(h) for h in CONTACT_HEADERS]


# --- the people of users.csv, between passes --------------------------------------------------

# A person's flags, one byte each: their roles as read, then what the links found.
_STUDENT = 1
_CONTACT_SHIFT = 1  # bits 1-2: 0, or 1 + the place of the role in CONTACT_ROLES
_CONTACT_BITS = 3 << _CONTACT_SHIFT
_DELETED = 8
_BLANK = 16  # no sourcedId
_LINKED = 32  # a contact in at least one link
_PROBLEM = 64  # their line has a row for a reference that is no link
_UNLINKED = 128  # a contact whose line gets the "no student is linked" row
_CONTACT_CODES = {role: 1 + i for i, role in enumerate(CONTACT_ROLES.values())}
_ROLE_OF_CODE: list[tuple[str, str] | None] = [None, *CONTACT_ROLES.values()]
_NO_SCHOOL = -1
_CONTACT_CELLS = ("sourcedId", "givenName", "familyName", "identifier", "email", "agentSourcedIds")
"""The users.csv columns a Contacts row is made of (the roles are in the flags)."""
_ROLE_NAMES_KEPT = 1000
"""Distinct users.csv roles kept by name; a person with another role has it read again when a
message needs it."""
_ROLE_UNKEPT = 0xFFFF

# What the last pass reads again from a person's line.
_WANT_CELLS = 1  # a contact whose link rows sit on a student's line need their cells
_WANT_NOTE = 2  # a contact with no link: the note names them
_WANT_ROLES = 4  # a person whose role is needed for a message


@dataclass
class _Deferred:
    """A note whose text waits for a person's role, read again in the last pass."""

    notes: list[str]
    at: int
    prefix: str
    ref: str
    person: int
    side: str


def read_users(
    users: UsersFile,
    header: list[str],
    records: Iterator[tuple[int, list[str]]],
    orgs: _Orgs,
    roles: dict[str, list[_Role]] | None,
) -> tuple[InputTable, InputTable]:
    """The Students and Contacts tables, their rows read again on each iteration."""
    people = _People(users, header, orgs, roles)
    students = InputTable(STUDENT_HEADERS, [], source_name=users.source, source_sha256=users.sha256)
    people.index(records, students.notes)
    students.rows = _StudentRows(people)
    contacts = InputTable(CONTACT_HEADERS, [], source_name=users.source, source_sha256=users.sha256)
    people.link(contacts.notes)
    contacts.rows = _ContactRows(people)
    return students, contacts


class _People:
    """What the passes over users.csv keep of each person, by their place in the file.

    1. ``index`` (the first pass over the records): each person's roles as flags, their
       sourcedId (and a student's identifier) and school; the Students notes.
    2. ``link``: a second pass resolves every ``agentSourcedIds`` reference to a person's place
       and notes those that cannot be a pair; then each student's linked contacts are grouped,
       which gives every link its PRIORITY and tells the contacts linked to nobody; a last pass,
       only if needed, reads again the cells of contacts whose rows sit on a student's line and
       what some notes need.
    Rows are then made from each line as it is read again, with these indexes. OneRoster 1.2's
    roles.csv is kept in memory as read (a few lines per person, far smaller than users.csv).
    """

    def __init__(
        self,
        users: UsersFile,
        header: list[str],
        orgs: _Orgs,
        roles: dict[str, list[_Role]] | None,
    ) -> None:
        required: tuple[str, ...] = ("sourcedId", "givenName", "familyName")
        if roles is None:
            required = (*required, "role", "orgSourcedIds")
        optional = tuple(name for name in USER_CELLS if name not in required)
        cols = columns(users.source, header, required, optional)
        self.pick = _picker([cols[name] for name in USER_CELLS])
        self.light = _picker([cols["sourcedId"], cols["status"], cols["role"]])
        self.pick_contact = _picker([cols[name] for name in _CONTACT_CELLS])
        self.agents_at = cols["agentSourcedIds"]
        self.users = users
        self.orgs = orgs
        self.roles = roles
        self.roles_from = ROLES if roles is not None else USERS
        self.flags = bytearray()
        self.ids_and_keys = Texts()  # sourcedId, then for a student with one, NUL identifier
        self.ids: IdIndex | None = IdIndex(self.ids_and_keys)
        self.schools = array("i")
        self.school_codes: list[str] = []
        self.school_numbers: dict[str, int] = {}
        self.role_codes = array("H")  # 1.1: the role column's text, by number in role_names
        self.role_names: list[str] = [""]
        self.role_kinds: list[tuple[bool, tuple[str, str] | None]] = [(False, None)]
        self.role_numbers: dict[str, int] = {"": 0}
        self.students = 0
        self.contact_rows = 0
        self.targets = array("i")  # each reference's person, -1 for nobody
        self.target_ends = array("q")  # a person's references end here in ``targets``
        self.linked = Groups(array("q"), array("i"))  # student -> contacts listing them
        self.listed: Groups | None = None  # student -> contacts they list who do not list them
        self.cells = Texts()  # contacts read again for their cells: NUL-separated
        self.cells_of = array("i")  # whose cells, in file order

    def key(self, person: int) -> str:
        """The ID the district knows a student by: their identifier, else their sourcedId."""
        sourced_id, _, identifier = self.ids_and_keys[person].partition("\0")
        return identifier or sourced_id

    def records(self) -> Iterator[tuple[int, int, list[str]]]:
        """(person, line, cells) of each record, read again; the file must be the same."""
        count = len(self.flags)
        records = self.users.records()
        next(records)
        for person, (line, row) in enumerate(records):
            if person >= count:
                raise self.users.changed()
            yield person, line, row

    def user(self, line: int, row: list[str]) -> _User:
        return _read_user(line, self.pick(row), self.roles)

    # --- pass 1 ---

    def index(self, records: Iterator[tuple[int, list[str]]], notes: dict[int, list[str]]) -> None:
        """The first pass: every person's flags, sourcedId and school; the Students notes.
        Only a student's line is read whole; of anyone else's, what their flags need."""
        assert self.ids is not None
        add_id, roles, light = self.ids.add, self.roles, self.light
        for line, row in records:
            sourced_id, status, role = light(row)
            if roles is None:
                code = self._role_code(role)
                self.role_codes.append(code)
                student, contact = self.role_kinds[code] if code != _ROLE_UNKEPT else _kind([role])
            else:
                student, contact = _kind(_role_names(role, _own_roles(sourced_id, roles)))
            flags = _CONTACT_CODES[contact] << _CONTACT_SHIFT if contact else 0
            if status.lower() == "tobedeleted":
                flags |= _DELETED
            if not sourced_id:
                flags |= _BLANK
            if student:
                flags |= _STUDENT
                self._index_student(self.user(line, row), notes)
            else:
                self.schools.append(_NO_SCHOOL)
                self.ids_and_keys.add(sourced_id)
            self.flags.append(flags)
            add_id(sourced_id)

    def _index_student(self, user: _User, notes: dict[int, list[str]]) -> None:
        identifier = user.key if user.key != user.sourced_id else ""
        self.ids_and_keys.add(f"{user.sourced_id}\0{identifier}" if identifier else user.sourced_id)
        school, note = _school_of(user, self.orgs, self.users.name)
        if school is None:
            self.schools.append(_NO_SCHOOL)
        else:
            number = self.school_numbers.setdefault(school, len(self.school_codes))
            if number == len(self.school_codes):
                self.school_codes.append(school)
            self.schools.append(number)
        self.students += 1
        found = []
        if not user.sourced_id:
            found.append(f"{self.users.name} line {user.line}: {_BLANK_ID}")
        if note:
            found.append(note)
        if found:
            notes.setdefault(user.line, []).extend(found)

    def _role_code(self, role: str) -> int:
        code = self.role_numbers.get(role)
        if code is None:
            if len(self.role_names) >= _ROLE_NAMES_KEPT:
                return _ROLE_UNKEPT
            code = self.role_numbers[role] = len(self.role_names)
            self.role_names.append(role)
            self.role_kinds.append(_kind([role]))
        return code

    def school(self, person: int) -> str | None:
        number = self.schools[person]
        return None if number == _NO_SCHOOL else self.school_codes[number]

    # --- pass 2 and what it gives ---

    def link(self, notes: dict[int, list[str]]) -> None:
        """Resolve every reference, group the links, and complete the Contacts notes.

        The notes come in the order of the rows that carry them: every contact's own list
        first, then every student's, then the contacts linked to nobody."""
        contact_side: dict[int, list[str]] = {}
        student_side: dict[int, list[str]] = {}
        deferred: list[_Deferred] = []
        self._resolve(contact_side, student_side, deferred)
        self.ids = None  # the sourcedIds' table is no longer needed
        self._group_links()
        want = self._wanted(deferred)
        unlinked: dict[int, list[str]] = {}
        if any(want):
            self._read_again(want, unlinked, deferred)
        for phase in (contact_side, student_side, unlinked):
            for line, texts in phase.items():
                notes.setdefault(line, []).extend(texts)

    def _resolve(
        self,
        contact_side: dict[int, list[str]],
        student_side: dict[int, list[str]],
        deferred: list[_Deferred],
    ) -> None:
        """The second pass: each reference's person, and a note for each that is no link."""
        assert self.ids is not None
        find, flags, at, targets = self.ids.find, self.flags, self.agents_at, self.targets
        for person, line, row in self.records():
            f = flags[person]
            contact = f & _CONTACT_BITS and not f & _DELETED
            if contact or f & _STUDENT:
                refs = id_list(cell(row, at))
                found = [find(ref) for ref in refs]
                targets.extend(found)
                if contact:
                    self._contact_side(person, line, refs, found, contact_side, deferred)
                if f & _STUDENT:
                    self._student_side(person, line, refs, found, student_side, deferred)
            self.target_ends.append(len(targets))

    def _contact_side(
        self,
        person: int,
        line: int,
        refs: list[str],
        found: list[int],
        notes: dict[int, list[str]],
        deferred: list[_Deferred],
    ) -> None:
        """The students a contact's own agentSourcedIds names."""
        flags = self.flags
        if flags[person] & _BLANK:
            notes.setdefault(line, []).append(f"{self.users.name} line {line}: {_BLANK_ID}")
        for ref, target in zip(refs, found, strict=True):
            if target >= 0 and flags[target] & _STUDENT:
                flags[person] |= _LINKED
                self.contact_rows += 1
            elif not (flags[person] & _STUDENT and target >= 0 and flags[target] & _CONTACT_BITS):
                # (someone both student and contact: the student side reads that reference)
                self._problem(person, line, ref, target, STUDENT, notes, deferred)

    def _student_side(
        self,
        person: int,
        line: int,
        refs: list[str],
        found: list[int],
        notes: dict[int, list[str]],
        deferred: list[_Deferred],
    ) -> None:
        """The contacts a student's agentSourcedIds names: links are counted once all contacts'
        own lists are known (``_group_links``); here, the references that are no link."""
        flags = self.flags
        for ref, target in zip(refs, found, strict=True):
            if target >= 0 and flags[target] & _CONTACT_BITS:
                continue
            if not (flags[person] & _CONTACT_BITS and target >= 0 and flags[target] & _STUDENT):
                self._problem(person, line, ref, target, "contact", notes, deferred)

    def _problem(
        self,
        person: int,
        line: int,
        ref: str,
        target: int,
        side: str,
        notes: dict[int, list[str]],
        deferred: list[_Deferred],
    ) -> None:
        self.flags[person] |= _PROBLEM
        self.contact_rows += 1
        prefix = f"{self.users.name} line {line}: "
        found = notes.setdefault(line, [])
        roles = self._roles_of(ref, target)
        if roles is _ROLES_UNKEPT:
            deferred.append(_Deferred(found, len(found), prefix, ref, target, side))
            found.append("")
        else:
            found.append(prefix + _wrong_agent(ref, roles, side, self.roles_from))

    def _roles_of(self, ref: str, person: int) -> list[str] | None:
        """The roles of the person ``ref`` found, None for nobody."""
        if person < 0:
            return None
        if self.roles is not None:
            return [r.role for r in self.roles.get(ref, [])]
        code = self.role_codes[person]
        if code == _ROLE_UNKEPT:
            return _ROLES_UNKEPT
        name = self.role_names[code]
        return [name] if name else []

    def _group_links(self) -> None:
        """Each student's linked contacts: those whose own list names the student, then those
        only the student's list names (deleted contacts left out); the contacts so linked."""
        flags, targets, ends = self.flags, self.targets, self.target_ends
        self.linked = linked = Groups.of(len(flags), self._contacts_listing)
        listed = GroupsBuilder()
        start = 0
        for person, end in enumerate(ends):
            new: list[int] = []
            if flags[person] & _STUDENT:
                for target in targets[start:end]:
                    if self._is_new_link(person, target, linked):
                        new.append(target)
                        flags[target] |= _LINKED
            listed.add(new)
            start = end
        if listed.values:
            self.listed = listed.groups()
            self.contact_rows += len(listed.values)

    def _contacts_listing(self) -> Iterator[tuple[int, int]]:
        """(student, contact) for each student a contact's own list names, in contact order."""
        flags, targets = self.flags, self.targets
        start = 0
        for person, end in enumerate(self.target_ends):
            f = flags[person]
            if f & _CONTACT_BITS and not f & _DELETED:
                for target in targets[start:end]:
                    if target >= 0 and flags[target] & _STUDENT:
                        yield target, person
            start = end

    def _is_new_link(self, student: int, contact: int, linked: Groups) -> bool:
        if contact < 0:
            return False
        f = self.flags[contact]
        return bool(f & _CONTACT_BITS) and not f & _DELETED and not linked.has(student, contact)

    def _wanted(self, deferred: list[_Deferred]) -> bytearray:
        """Who the last pass reads again, and why; contacts linked to nobody are marked."""
        flags = self.flags
        want = bytearray(len(flags))
        if self.listed is not None:
            for contact in self.listed.values:
                want[contact] |= _WANT_CELLS
        for person, f in enumerate(flags):
            if f & _CONTACT_BITS and not f & (_DELETED | _LINKED | _PROBLEM):
                flags[person] |= _UNLINKED
                want[person] |= _WANT_NOTE
                self.contact_rows += 1
        for waiting in deferred:
            want[waiting.person] |= _WANT_ROLES
        return want

    def _read_again(
        self, want: bytearray, unlinked: dict[int, list[str]], deferred: list[_Deferred]
    ) -> None:
        """The last pass: the cells of contacts whose rows sit on a student's line, the notes
        of contacts linked to nobody, and the roles that notes wait for."""
        roles: dict[int, list[str]] = {}
        for person, line, row in self.records():
            wanted = want[person]
            if not wanted:
                continue
            user = self.user(line, row)
            if wanted & _WANT_CELLS:
                self.cells.add("\0".join((user.key, user.given, user.family, user.email)))
                self.cells_of.append(person)
            if wanted & _WANT_NOTE:
                unlinked[line] = [f"{self.users.name} line {line}: {_unlinked(user)}"]
            if wanted & _WANT_ROLES:
                roles[person] = user.roles
        for waiting in deferred:
            text = _wrong_agent(waiting.ref, roles[waiting.person], waiting.side, self.roles_from)
            waiting.notes[waiting.at] = waiting.prefix + text

    # --- what rows need ---

    def priority(self, student: int, contact: int) -> str:
        """The contact's place among the student's contacts, in file order (at most 99)."""
        place = self.linked.rank(student, contact) + 1
        if self.listed is not None:
            place += self.listed.rank(student, contact)
        return str(min(place, MAX_PRIORITY))

    def contact_cells(self, contact: int) -> list[str | None]:
        """A contact's cells, read again in the last pass, STUDENT_ID and PRIORITY blank."""
        key, given, family, email = self.cells[bisect_left(self.cells_of, contact)].split("\0")
        role = _ROLE_OF_CODE[(self.flags[contact] & _CONTACT_BITS) >> _CONTACT_SHIFT]
        return _contact_row(_contact_values(key, given, family, email, role))

    def targets_of(self, person: int) -> array[int]:
        start = self.target_ends[person - 1] if person else 0
        return self.targets[start : self.target_ends[person]]


_ROLES_UNKEPT: list[str] = []
"""``_roles_of`` when the role was not kept by name (the very list, compared by identity)."""


# --- the rows, read again on each iteration ---------------------------------------------------


class _Reread(ABC):
    """A table's rows, made again from users.csv each time they are iterated."""

    def __init__(self, people: _People) -> None:
        self.people = people

    @abstractmethod
    def __iter__(self) -> Iterator[tuple[int, list[Any]]]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | _Reread):
            return NotImplemented
        if len(self) != len(other):
            return False
        return all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} rows read from {self.people.users.source} on each iteration>"


class _StudentRows(_Reread):
    def __len__(self) -> int:
        return self.people.students

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        people = self.people
        flags = people.flags
        for person, line, row in people.records():
            if flags[person] & _STUDENT:
                yield line, _student_cells(people.user(line, row), people.school(person))


class _ContactRows(_Reread):
    """One row per (student, contact) pair from either side's agentSourcedIds, once each.

    A pair is on the contact's line when the contact's own list names the student, else on the
    student's line. Pairs are numbered per student in the order the contacts appear in
    users.csv (PRIORITY). A reference that cannot be a pair still gets a row, its reason in
    ``notes``, so the import log shows it against its line; notes are kept by line, so the
    other rows of that line carry the same reason. A contact marked tobedeleted is left out (a
    roster import adds and updates, so putting a deleted guardian on a card would undo the
    deletion), and so is a student's reference to one. A line's rows come in this order: the
    contact's own list, the student's list, then "no student is linked".
    """

    def __len__(self) -> int:
        return self.people.contact_rows

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        people = self.people
        flags, pick = people.flags, people.pick_contact
        for person, line, row in people.records():
            f = flags[person]
            contact = f & _CONTACT_BITS and not f & _DELETED
            if not (contact or f & _STUDENT):
                continue
            sourced_id, given, family, identifier, email, agents = pick(row)
            key, refs = identifier or sourced_id, id_list(agents)
            found = people.targets_of(person)
            if len(found) != len(refs):
                raise people.users.changed()
            role = _ROLE_OF_CODE[(f & _CONTACT_BITS) >> _CONTACT_SHIFT]
            values = _contact_values(key, given, family, email, role)
            if contact:
                yield from self._own_list(person, line, values, refs, found)
            if f & _STUDENT:
                yield from self._students_list(person, line, key, refs, found)
            if f & _UNLINKED:
                yield line, _contact_row({"STUDENT_ID": None, **values})

    def _own_list(
        self,
        person: int,
        line: int,
        values: dict[str, str | None],
        refs: list[str],
        found: array[int],
    ) -> Iterator[tuple[int, list[Any]]]:
        people, flags = self.people, self.people.flags
        own = _contact_row(values)
        student = flags[person] & _STUDENT
        for ref, target in zip(refs, found, strict=True):
            if target >= 0 and flags[target] & _STUDENT:
                cells = own.copy()
                cells[_STUDENT_AT] = people.key(target) or None
                cells[_PRIORITY_AT] = people.priority(target, person)
                yield line, cells
            elif not (student and target >= 0 and flags[target] & _CONTACT_BITS):
                yield line, _contact_row({"STUDENT_ID": ref, **values})

    def _students_list(
        self, person: int, line: int, key: str, refs: list[str], found: array[int]
    ) -> Iterator[tuple[int, list[Any]]]:
        people, flags = self.people, self.people.flags
        contact = flags[person] & _CONTACT_BITS
        for ref, target in zip(refs, found, strict=True):
            if target >= 0 and flags[target] & _CONTACT_BITS:
                if not flags[target] & _DELETED and not people.linked.has(person, target):
                    cells = people.contact_cells(target)
                    cells[_STUDENT_AT] = key or None
                    cells[_PRIORITY_AT] = people.priority(person, target)
                    yield line, cells
            elif not (contact and target >= 0 and flags[target] & _STUDENT):
                yield line, _contact_row({"STUDENT_ID": key or None, "CONTACT_ID": ref})
