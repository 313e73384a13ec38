"""The roster planner: each row of the three tables decided from the stored records it names.

A roster is planned a part at a time (``backend.imports.roster`` reads and writes the parts).
Each part's stored records come in a ``RosterState`` (``RosterPlanner.look_at``); what a row
needs of earlier parts (the STUDENT_IDs and card entries seen, each contact's first row) is in
the planner's indexes, which the parts' reader fills with the part's keys before the part is
planned and saves afterwards. ``plan_roster`` plans a roster read whole, in one part.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from backend.accounts.logon import logon_key
from backend.imports.contract import (
    Action,
    Column,
    InputTable,
    RowResult,
    add_blank,
    field_headers,
    match_headers,
    parse_rows,
)
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.imports.scratch import Scratch

# What an import may change on a stored record, and the header each is shown under.
STUDENT_FIELDS = field_headers(STUDENT_COLUMNS, leave_out=("student_id",))
PERSON_FIELDS = field_headers(CONTACT_COLUMNS, only=("first_name", "last_name", "email"))
CARD_FIELDS = field_headers(
    CONTACT_COLUMNS, only=("relationship", "is_guardian", "portal_access", "priority")
)
NEW_STUDENT_NEEDS = field_headers(STUDENT_COLUMNS, only=("first_name", "last_name", "school"))

ParsedRow = tuple[int, dict[str, Any], list[str]]
"""(row number, values of the filled cells, problems found while reading them)."""


@dataclass
class Part:
    """Parsed rows of one table, and the name its results carry (None for a lone table)."""

    sheet: str | None
    rows: list[ParsedRow]


@dataclass
class RosterRows:
    schools: Part | None = None
    students: Part | None = None
    contacts: Part | None = None


@dataclass
class RosterState:
    """The stored records a part of a roster plan looks at.

    Schools by casefolded code, students by STUDENT_ID (their school as its code), contacts by
    CONTACT_ID, card entries by (student id, contact id).
    """

    schools: dict[str, dict[str, Any]] = field(default_factory=dict)
    students: dict[str, dict[str, Any]] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    # Links of the accounts whose logon is a named contact's email: (logon key, student id) ->
    # (link id, logon); PORTAL_ACCESS N detaches them.
    links: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)


@dataclass
class RosterPlan:
    results: list[RowResult] = field(default_factory=list)
    schools_new: list[dict[str, Any]] = field(default_factory=list)
    schools_changed: list[dict[str, Any]] = field(default_factory=list)
    students_new: list[dict[str, Any]] = field(default_factory=list)
    students_changed: list[dict[str, Any]] = field(default_factory=list)
    people_new: list[dict[str, Any]] = field(default_factory=list)
    people_changed: list[dict[str, Any]] = field(default_factory=list)
    cards_new: list[dict[str, Any]] = field(default_factory=list)
    cards_changed: list[dict[str, Any]] = field(default_factory=list)
    schools_by_code: list[str] = field(default_factory=list)  # named only by students' SCHOOL
    links_removed: list[int] = field(default_factory=list)


def read_part(table: InputTable | None, columns: tuple[Column, ...]) -> Part | None:
    """A table's headers checked and its rows parsed, whole (a small table)."""
    if table is None:
        return None
    return Part(table.sheet, list(parse_rows(table, match_headers(table, columns))))


def read_roster(
    schools: InputTable | None, students: InputTable | None, contacts: InputTable | None
) -> RosterRows:
    """Each table's headers checked and its rows parsed, whole."""
    return RosterRows(
        read_part(schools, SCHOOL_COLUMNS),
        read_part(students, STUDENT_COLUMNS),
        read_part(contacts, CONTACT_COLUMNS),
    )


def plan_roster(state: RosterState, rows: RosterRows) -> RosterPlan:
    """Plan a roster read whole in one part: a student may name a school of the same roster, a
    card a student of the same roster. ``state`` is left as it was."""
    planner = RosterPlanner(state.schools, schools_listed=rows.schools is not None)
    planner.look_at(state)
    if rows.schools:
        planner.plan_schools(rows.schools)
    if rows.students:
        planner.clashing = clashing_ids(rows.students.rows)
        planner.plan_students(rows.students)
    if rows.contacts:
        planner.plan_contacts(rows.contacts)
    return planner.plan


def _changes(
    current: dict[str, Any], values: dict[str, Any], names: dict[str, str]
) -> dict[str, tuple[Any, Any]]:
    """What filled cells would change; blank cells are absent from ``values`` and change nothing."""
    return {names[f]: (current[f], v) for f, v in values.items() if f in names and v != current[f]}


class RosterPlanner:
    """A roster's plan, a part at a time; records planned as new are added to its own copy of
    the part's state, so a later row finds them.

    The indexes a later part needs, each keyed as the rows name it: ``first_students``
    (STUDENT_ID -> the row planned for it), ``person_rows`` (CONTACT_ID -> its first row and
    the person's values there), ``pairs`` ((STUDENT_ID, CONTACT_ID) -> the row planned for the
    card entry); ``clashing`` (STUDENT_IDs of several students: their Students rows) and
    ``removed`` (the links already detached) are whole.
    """

    def __init__(self, schools: dict[str, dict[str, Any]], *, schools_listed: bool = True) -> None:
        self.plan = RosterPlan()
        # Every school by casefolded code, with those planned as new (no id yet).
        self.schools = dict(schools)
        # Without a Schools table, a student's unknown SCHOOL code is a school to add.
        self.schools_listed = schools_listed
        self.clashing: dict[str, list[int]] = {}
        self.removed: set[int] = set()
        self.first_students: dict[str, int] = {}
        self.person_rows: dict[str, tuple[int, dict[str, Any]]] = {}
        self.pairs: dict[tuple[str, str], int] = {}
        self.students: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.cards: dict[tuple[int, int], dict[str, Any]] = {}
        self.links: dict[tuple[str, int], tuple[int, str]] = {}
        self.sheet: str | None = None

    def look_at(self, state: RosterState) -> None:
        """The stored records of the next part's rows (``state`` is left as it was)."""
        self.students = dict(state.students)
        self.people = dict(state.people)
        self.cards = state.cards
        self.links = {key: link for key, link in state.links.items() if link[0] not in self.removed}

    def next_part(self) -> RosterPlan:
        """Begin a new part's plan."""
        self.plan = RosterPlan()
        return self.plan

    def _result(
        self,
        row: int,
        key: str | None,
        action: Action,
        reason: str,
        changes: dict[str, tuple[Any, Any]] | None = None,
        warning: str | None = None,
    ) -> None:
        self.plan.results.append(
            RowResult(row, key, action, reason, changes or None, self.sheet, warning)
        )

    def _duplicate(self, number: int, key: str, names: str, first: int | None) -> None:
        self._result(number, key, "skipped", f"Same {names} as row {first}, which is used")

    # Schools

    def plan_schools(self, part: Part) -> None:
        self.sheet = part.sheet
        seen: dict[str, int] = {}
        for number, values, problems in part.rows:
            code: str | None = values.get("code")
            if problems or code is None or "name" not in values:
                reason = "; ".join(problems) or "SCHOOL_CODE and SCHOOL_NAME are both needed"
                self._result(number, code, "error", reason)
            elif code.casefold() in seen:
                self._duplicate(number, code, "SCHOOL_CODE", seen[code.casefold()])
            else:
                seen[code.casefold()] = number
                self._plan_school(number, code, values["name"])

    def _plan_school(self, number: int, code: str, name: str) -> None:
        current = self.schools.get(code.casefold())
        if current is None:
            self.plan.schools_new.append({"code": code, "name": name})
            self.schools[code.casefold()] = {"id": None, "code": code, "name": name}
            self._result(number, code, "added", "New school")
        elif name != current["name"]:
            changes = {"SCHOOL_NAME": (current["name"], name)}
            self.plan.schools_changed.append({"_id": current["id"], "new_name": name})
            self._result(number, code, "updated", "Changed SCHOOL_NAME", changes)
        else:
            self._result(number, code, "skipped", "Already up to date")

    # Students

    def plan_students(self, part: Part) -> None:
        self.sheet = part.sheet
        seen = self.first_students
        for number, parsed, read_problems in part.rows:
            values, problems = dict(parsed), list(read_problems)
            sid: str | None = values.get("student_id")
            if sid is None:
                add_blank(problems, "STUDENT_ID", "; every row needs the student's ID")
            elif sid in self.clashing:
                problems.insert(0, _clash(sid, self.clashing[sid]))
            notes: list[str] = []
            add = not problems and sid not in seen
            problems += self._check_school(values, notes, add=add)
            if problems or sid is None:
                self._result(number, sid, "error", "; ".join(problems))
            elif sid in seen:
                self._duplicate(number, sid, "STUDENT_ID", seen[sid])
            else:
                seen[sid] = number
                self._plan_student(number, sid, values, notes)

    def _check_school(self, values: dict[str, Any], notes: list[str], *, add: bool) -> list[str]:
        """A student's SCHOOL must be a known code; it is stored as the school spells it.

        A roster without a Schools table adds (with ``add``) the schools its students name, by
        code; with one, an unknown code is more likely a typing mistake than a new school.
        """
        school = values.get("school")
        if school is None:
            return []
        known = self.schools.get(school.casefold())
        if known is None and not self.schools_listed and add:
            self.plan.schools_new.append({"code": school, "name": school})
            self.plan.schools_by_code.append(school)
            known = self.schools[school.casefold()] = {"id": None, "code": school, "name": school}
            notes.append(
                f"school {school} added by its code, as the roster has no Schools sheet; "
                "give it its name in a Schools sheet"
            )
        if known is None:
            return [
                f"SCHOOL: '{school}' is not a known school code; add the school "
                "(SCHOOL_CODE, SCHOOL_NAME) to the roster or fix it"
            ]
        values["school"] = known["code"]
        return []

    def _plan_student(
        self, number: int, sid: str, values: dict[str, Any], notes: list[str]
    ) -> None:
        current = self.students.get(sid)
        if current is None:
            self._plan_new_student(number, sid, values, notes)
            return
        changes = _changes(current, values, STUDENT_FIELDS)
        if not changes:
            self._result(number, sid, "skipped", _noted("Already up to date", notes))
            return
        merged = {f"new_{f}": values.get(f, current[f]) for f in STUDENT_FIELDS}
        self.plan.students_changed.append({"_id": current["id"], **merged})
        reason = _noted("Changed " + ", ".join(changes), notes)
        self._result(number, sid, "updated", reason, changes)

    def _plan_new_student(
        self, number: int, sid: str, values: dict[str, Any], notes: list[str]
    ) -> None:
        missing = [name for f, name in NEW_STUDENT_NEEDS.items() if f not in values]
        if missing:
            needs = ", ".join(list(NEW_STUDENT_NEEDS.values())[:-1])
            needs += f" and {list(NEW_STUDENT_NEEDS.values())[-1]}"
            reason = f"{', '.join(missing)} blank: a new student needs {needs}"
            self._result(number, sid, "error", reason)
            return
        record = {f: values.get(f) for f in STUDENT_FIELDS}
        record["status"] = values.get("status", "ACTIVE")
        self.plan.students_new.append({"student_id": sid, **record})
        self.students[sid] = {"id": None, "student_id": sid, **record}
        self._result(number, sid, "added", _noted("New student", notes))

    # Contacts: a person (CONTACT_ID) and their entry on one student's card

    def plan_contacts(self, part: Part) -> None:
        self.sheet = part.sheet
        seen = self.pairs
        for number, values, read_problems in part.rows:
            sid: str | None = values.get("student_id")
            cid: str | None = values.get("contact_id")
            key = f"{sid or '?'} / {cid or '?'}"
            person = {f: values[f] for f in PERSON_FIELDS if f in values}
            left_out = [p for p in read_problems if p.startswith(EMAIL_PROBLEM)]
            read = [p for p in read_problems if p not in left_out] if left_out else read_problems
            problems = self._contact_problems(sid, cid, person, read)
            if problems or sid is None or cid is None:
                self._result(number, key, "error", "; ".join(problems + left_out))
            elif (sid, cid) in seen:
                self._duplicate(number, key, "STUDENT_ID and CONTACT_ID", seen[(sid, cid)])
            else:
                seen[(sid, cid)] = number
                self._plan_contact(number, key, sid, cid, values, person, left_out)

    def _contact_problems(
        self, sid: str | None, cid: str | None, person: dict[str, Any], read: list[str]
    ) -> list[str]:
        problems = list(read)
        if sid is None:
            add_blank(problems, "STUDENT_ID", "")
        elif sid in self.clashing:
            problems.insert(0, _clash(sid, self.clashing[sid], contact=True))
        elif sid not in self.students:
            problems.append(
                f"STUDENT_ID: no student '{sid}' in the roster; add the student to the roster first"
            )
        if cid is None:
            add_blank(problems, "CONTACT_ID", "; every contact needs an ID", first=False)
        elif cid in self.person_rows:
            problems += self._person_conflicts(person, *self.person_rows[cid])
        return problems

    @staticmethod
    def _person_conflicts(person: dict[str, Any], first: int, earlier: dict[str, Any]) -> list[str]:
        """One person has one name and email, whichever card row gives them."""
        return [
            f"{PERSON_FIELDS[f]}: '{v}' differs from row {first} ('{earlier[f]}') for the same "
            f"CONTACT_ID; one person has one {PERSON_FIELDS[f].lower().replace('_', ' ')}"
            for f, v in person.items()
            if f in earlier and earlier[f] != v
        ]

    def _plan_contact(
        self,
        number: int,
        key: str,
        sid: str,
        cid: str,
        values: dict[str, Any],
        person: dict[str, Any],
        left_out: list[str],
    ) -> None:
        """The person and their card entry; a malformed email is left out (that field's error,
        named in the reason) and the rest of the contact is kept, so the student keeps them."""
        changes: dict[str, tuple[Any, Any]] = {}
        notes: list[str] = []
        first_row = cid not in self.person_rows
        if first_row and not self._plan_person(number, cid, person, changes, notes):
            self._result(
                number, key, "error", "FIRST_NAME and LAST_NAME are needed for a new contact"
            )
            return
        action, reason = self._plan_card(sid, cid, values, changes)
        if notes:
            reason += f" ({', '.join(notes)})"
        warning = "; ".join(
            f"EMAIL left out, the rest of the contact is kept: {p.removeprefix(EMAIL_PROBLEM)}"
            for p in left_out
        )
        self._result(number, key, action, reason, changes, warning or None)
        self._revoke(number, sid, cid, values)

    def _revoke(self, number: int, sid: str, cid: str, values: dict[str, Any]) -> None:
        """PORTAL_ACCESS N detaches the student from the account of the contact's email (the
        stored one and the row's), in this same batch."""
        if not self.links:  # no account of a contact whose card may say N sees a student
            return
        student, contact = self.students[sid], self.people[cid]
        card = self.cards.get((student["id"], contact["id"]), {})
        if values.get("portal_access", card.get("portal_access", True)) or student["id"] is None:
            return
        emails = {e for e in (contact.get("email"), values.get("email")) if e}
        for key in sorted({logon_key(email) for email in emails}):
            link = self.links.pop((key, student["id"]), None)
            if link is not None:
                self.removed.add(link[0])
                self.plan.links_removed.append(link[0])
                reason = (
                    f"Student {sid} detached from {link[1]}: PORTAL_ACCESS is N for contact "
                    f"{cid} on the student's card"
                )
                self._result(number, f"{link[1]} / {sid}", "removed", reason)

    def _plan_person(
        self,
        number: int,
        cid: str,
        person: dict[str, Any],
        changes: dict[str, tuple[Any, Any]],
        notes: list[str],
    ) -> bool:
        """Plan the person at their first row; False when a new one lacks a name."""
        current = self.people.get(cid)
        if current is None:
            if "first_name" not in person or "last_name" not in person:
                return False
            record = {f: person.get(f) for f in PERSON_FIELDS}
            self.plan.people_new.append({"contact_id": cid, **record})
            self.people[cid] = {"id": None, "contact_id": cid, **record}
            notes.append("new contact")
        else:
            person_changes = _changes(current, person, PERSON_FIELDS)
            if person_changes:
                changes.update(person_changes)
                self.plan.people_changed.append(
                    {"_id": current["id"]}
                    | {f"new_{f}": person.get(f, current[f]) for f in PERSON_FIELDS}
                )
        self.person_rows[cid] = (number, person)
        return True

    def _plan_card(
        self, sid: str, cid: str, values: dict[str, Any], changes: dict[str, tuple[Any, Any]]
    ) -> tuple[Action, str]:
        """The card entry tying the contact to the student; ``changes`` gains its changes."""
        student, contact = self.students[sid], self.people[cid]
        card = (
            self.cards.get((student["id"], contact["id"]))
            if student["id"] is not None and contact["id"] is not None
            else None
        )
        wanted = {f: values[f] for f in CARD_FIELDS if f in values}
        if card is None:
            self.plan.cards_new.append(
                {
                    "student_key": sid,
                    "contact_key": cid,
                    "student_pk": student["id"],
                    "contact_pk": contact["id"],
                    "relationship": wanted.get("relationship"),
                    "is_guardian": wanted.get("is_guardian", True),
                    "portal_access": wanted.get("portal_access", True),
                    "priority": wanted.get("priority"),
                }
            )
            return "added", f"Added to the card of student {sid}"
        card_changes = _changes(card, wanted, CARD_FIELDS)
        if card_changes:
            self.plan.cards_changed.append(
                {"_id": card["id"]} | {f"new_{f}": wanted.get(f, card[f]) for f in CARD_FIELDS}
            )
        changes.update(card_changes)
        if not changes:
            return "skipped", "Already up to date"
        return "updated", "Changed " + ", ".join(changes)


EMAIL_PROBLEM = next(c.name for c in CONTACT_COLUMNS if c.field == "email") + ": "
"""How a contact row's email problem begins: the one field left out rather than the row."""


def _noted(reason: str, notes: list[str]) -> str:
    return f"{reason} ({'; '.join(notes)})" if notes else reason


def clashing_ids(rows: Iterable[ParsedRow]) -> dict[str, list[int]]:
    """STUDENT_IDs given on several rows with different names, and those rows: one ID is one
    student, and a contact naming it could land on the wrong child's card. The rows' IDs and
    names wait in a scratch file, which gives back only the IDs on several rows, one ID at a
    time: a state's Students table is checked in bounded memory."""
    with Scratch() as scratch:
        db = scratch.db
        db.execute("CREATE TABLE given (sid, row, first, last)")  # rowid: the rows' order
        with db:
            db.executemany(
                "INSERT INTO given VALUES (?, ?, ?, ?)",
                (
                    (sid, number, values.get("first_name"), values.get("last_name"))
                    for number, values, _ in rows
                    if (sid := values.get("student_id")) is not None
                ),
            )
        found: dict[str, list[int]] = {}
        for sid, group in groupby(db.execute(REPEATED), key=itemgetter(0)):
            numbers, names = [], set()
            for _, number, first, last in group:
                numbers.append(number)
                if first or last:
                    names.add(((first or "").casefold(), (last or "").casefold()))
            if len(names) > 1:
                found[sid] = numbers
        return found


REPEATED = """
SELECT sid, row, first, last FROM given
WHERE sid IN (SELECT sid FROM given GROUP BY sid HAVING COUNT(*) > 1)
ORDER BY sid, rowid
"""


def _clash(sid: str, numbers: list[int], *, contact: bool = False) -> str:
    rows = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    said = f"STUDENT_ID: '{sid}' is on Students rows {rows} with different names"
    if contact:
        return said + "; fix the Students sheet first, so this contact lands on the right card"
    return said + "; one ID is one student: correct the ID or the name (none of them is imported)"
