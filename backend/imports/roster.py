"""The roster import: schools, students and the contacts on each student's card.

Accounts are tied to real students and guardians through it. One batch covers all three tables
(a workbook's Schools, Students and Contacts sheets, or a OneRoster bundle); each row's result
names its sheet. Students are matched by STUDENT_ID (text, exactly), contacts by CONTACT_ID, a
card entry by the pair. Blank cells never erase; nothing is deleted.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from backend.accounts.logon import logon_key
from backend.database.engine import bulk_insert, bulk_update
from backend.database.models import Contact, School, Student, StudentContact
from backend.errors import InputError
from backend.imports.batches import run_batch
from backend.imports.contract import (
    Column,
    InputTable,
    Progress,
    Report,
    RowResult,
    key_chunks,
    match_headers,
    no_progress,
    parse_rows,
)
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS

STUDENT_FIELDS = {
    "first_name": "FIRST_NAME",
    "last_name": "LAST_NAME",
    "grade": "GRADE",
    "school": "SCHOOL",
    "status": "STATUS",
    "email": "STUDENT_EMAIL",
}
PERSON_FIELDS = {"first_name": "FIRST_NAME", "last_name": "LAST_NAME", "email": "EMAIL"}
CARD_FIELDS = {
    "relationship": "RELATIONSHIP",
    "is_guardian": "GUARDIAN",
    "portal_access": "PORTAL_ACCESS",
    "priority": "PRIORITY",
}


@dataclass
class _Rows:
    table: InputTable
    rows: list[tuple[int, dict[str, Any], list[str]]]


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


def _read(table: InputTable | None, columns: tuple[Column, ...]) -> _Rows | None:
    if table is None:
        return None
    return _Rows(table, list(parse_rows(table, match_headers(table, columns))))


def _changes(
    current: dict[str, Any], values: dict[str, Any], names: dict[str, str]
) -> dict[str, tuple[Any, Any]]:
    """What filled cells would change; blank cells are absent from ``values`` and change nothing."""
    return {names[f]: (current[f], v) for f, v in values.items() if f in names and v != current[f]}


class _Planner:
    """Plans the three tables in order: a student may name a school of the same file, a card a
    student of the same file."""

    def __init__(
        self,
        connection: Connection,
        schools: _Rows | None,
        students: _Rows | None,
        contacts: _Rows | None,
    ) -> None:
        self.plan = RosterPlan()
        self.schools = {
            code.casefold(): {"id": id_, "code": code, "name": name}
            for id_, code, name in connection.execute(select(School.id, School.code, School.name))
        }
        self.school_codes = {s["id"]: s["code"] for s in self.schools.values()}
        wanted = {
            v["student_id"]
            for part in (students, contacts)
            if part
            for _, v, _ in part.rows
            if "student_id" in v
        }
        self.students: dict[str, dict[str, Any]] = {}
        for chunk in key_chunks(wanted):
            for row in connection.execute(
                select(
                    Student.id,
                    Student.student_id,
                    Student.first_name,
                    Student.last_name,
                    Student.grade,
                    Student.school_id,
                    Student.status,
                    Student.email,
                ).where(Student.student_id.in_(chunk))
            ):
                record = dict(row._mapping)
                record["school"] = self.school_codes.get(record.pop("school_id"))
                self.students[record["student_id"]] = record
        contact_ids = (
            {v["contact_id"] for _, v, _ in contacts.rows if "contact_id" in v}
            if contacts
            else set()
        )
        self.people: dict[str, dict[str, Any]] = {}
        for chunk in key_chunks(contact_ids):
            for row in connection.execute(
                select(
                    Contact.id,
                    Contact.contact_id,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.email,
                ).where(Contact.contact_id.in_(chunk))
            ):
                self.people[row.contact_id] = dict(row._mapping)
        self.cards: dict[tuple[int, int], dict[str, Any]] = {}
        for chunk in key_chunks(p["id"] for p in self.people.values()):
            for row in connection.execute(
                select(
                    StudentContact.id,
                    StudentContact.student_id,
                    StudentContact.contact_id,
                    StudentContact.relationship,
                    StudentContact.is_guardian,
                    StudentContact.portal_access,
                    StudentContact.priority,
                ).where(StudentContact.contact_id.in_(chunk))
            ):
                self.cards[(row.student_id, row.contact_id)] = dict(row._mapping)
        if schools:
            self._plan_schools(schools)
        if students:
            self._plan_students(students)
        if contacts:
            self._plan_contacts(contacts)

    def _result(
        self,
        table: InputTable,
        row: int,
        key: str | None,
        action: Any,
        reason: str,
        changes: dict[str, tuple[Any, Any]] | None = None,
    ) -> None:
        self.plan.results.append(RowResult(row, key, action, reason, changes or None, table.sheet))

    def _plan_schools(self, part: _Rows) -> None:
        seen: dict[str, int] = {}
        for number, values, problems in part.rows:
            code = values.get("code")
            if not problems and (code is None or "name" not in values):
                problems = ["SCHOOL_CODE and SCHOOL_NAME are both needed"]
            if problems:
                self._result(part.table, number, code, "error", "; ".join(problems))
                continue
            key = code.casefold()
            if key in seen:
                self._result(
                    part.table,
                    number,
                    code,
                    "skipped",
                    f"Same SCHOOL_CODE as row {seen[key]}, which is used",
                )
                continue
            seen[key] = number
            current = self.schools.get(key)
            if current is None:
                self.plan.schools_new.append({"code": code, "name": values["name"]})
                self.schools[key] = {"id": None, "code": code, "name": values["name"]}
                self._result(part.table, number, code, "added", "New school")
            elif values["name"] != current["name"]:
                changes = {"SCHOOL_NAME": (current["name"], values["name"])}
                self.plan.schools_changed.append({"_id": current["id"], "new_name": values["name"]})
                self._result(part.table, number, code, "updated", "Changed SCHOOL_NAME", changes)
            else:
                self._result(part.table, number, code, "skipped", "Already up to date")

    def _plan_students(self, part: _Rows) -> None:
        seen: dict[str, int] = {}
        for number, values, problems in part.rows:
            sid = values.get("student_id")
            if sid is None:
                problems = ["STUDENT_ID: is blank; every row needs the student's ID", *problems]
            school = values.get("school")
            if school is not None:
                known = self.schools.get(school.casefold())
                if known is None:
                    problems.append(
                        f"SCHOOL: '{school}' is not a known school code; add it "
                        "to the Schools sheet (SCHOOL_CODE, SCHOOL_NAME) or fix it"
                    )
                else:
                    values["school"] = known["code"]
            if problems:
                self._result(part.table, number, sid, "error", "; ".join(problems))
                continue
            assert sid is not None
            if sid in seen:
                self._result(
                    part.table,
                    number,
                    sid,
                    "skipped",
                    f"Same STUDENT_ID as row {seen[sid]}, which is used",
                )
                continue
            seen[sid] = number
            current = self.students.get(sid)
            if current is None:
                missing = [
                    name
                    for f, name in STUDENT_FIELDS.items()
                    if f in ("first_name", "last_name", "school") and f not in values
                ]
                if missing:
                    self._result(
                        part.table,
                        number,
                        sid,
                        "error",
                        f"{', '.join(missing)} blank: a new student needs "
                        "FIRST_NAME, LAST_NAME and SCHOOL",
                    )
                    continue
                record = {f: values.get(f) for f in STUDENT_FIELDS}
                record["status"] = values.get("status", "ACTIVE")
                self.plan.students_new.append({"student_id": sid, **record})
                self.students[sid] = {"id": None, "student_id": sid, **record}
                self._result(part.table, number, sid, "added", "New student")
                continue
            changes = _changes(current, values, STUDENT_FIELDS)
            if not changes:
                self._result(part.table, number, sid, "skipped", "Already up to date")
                continue
            merged = {f"new_{f}": values.get(f, current[f]) for f in STUDENT_FIELDS}
            self.plan.students_changed.append({"_id": current["id"], **merged})
            self._result(
                part.table, number, sid, "updated", "Changed " + ", ".join(changes), changes
            )

    def _plan_contacts(self, part: _Rows) -> None:
        seen: dict[tuple[str, str], int] = {}
        person_rows: dict[str, tuple[int, dict[str, Any]]] = {}
        for number, values, problems in part.rows:
            sid, cid = values.get("student_id"), values.get("contact_id")
            key = f"{sid or '?'} / {cid or '?'}"
            if sid is None:
                problems = ["STUDENT_ID: is blank", *problems]
            elif sid not in self.students:
                problems.append(
                    f"STUDENT_ID: no student '{sid}' in the roster; add the "
                    "student to the Students sheet first"
                )
            if cid is None:
                problems.append("CONTACT_ID: is blank; every contact needs an ID")
            person = {f: values[f] for f in PERSON_FIELDS if f in values}
            if cid is not None and cid in person_rows:
                first_number, first_values = person_rows[cid]
                problems += [
                    f"{PERSON_FIELDS[f]}: '{v}' differs from row {first_number} "
                    f"('{first_values[f]}') for the same CONTACT_ID; one person has one "
                    f"{PERSON_FIELDS[f].lower().replace('_', ' ')}"
                    for f, v in person.items()
                    if f in first_values and first_values[f] != v
                ]
            if problems:
                self._result(part.table, number, key, "error", "; ".join(problems))
                continue
            assert sid is not None and cid is not None
            if (sid, cid) in seen:
                self._result(
                    part.table,
                    number,
                    key,
                    "skipped",
                    f"Same STUDENT_ID and CONTACT_ID as row {seen[(sid, cid)]}, which is used",
                )
                continue
            seen[(sid, cid)] = number
            changes: dict[str, tuple[Any, Any]] = {}
            notes: list[str] = []
            if cid not in person_rows:
                person_rows[cid] = (number, person)
                current_person = self.people.get(cid)
                if current_person is None:
                    if "first_name" not in person or "last_name" not in person:
                        self._result(
                            part.table,
                            number,
                            key,
                            "error",
                            "FIRST_NAME and LAST_NAME are needed for a new contact",
                        )
                        del person_rows[cid]
                        continue
                    record = {f: person.get(f) for f in PERSON_FIELDS}
                    self.plan.people_new.append({"contact_id": cid, **record})
                    self.people[cid] = {"id": None, "contact_id": cid, **record}
                    notes.append("new contact")
                else:
                    person_changes = _changes(current_person, person, PERSON_FIELDS)
                    if person_changes:
                        changes.update(person_changes)
                        self.plan.people_changed.append(
                            {"_id": current_person["id"]}
                            | {f"new_{f}": person.get(f, current_person[f]) for f in PERSON_FIELDS}
                        )
            student, contact = self.students[sid], self.people[cid]
            card = (
                self.cards.get((student["id"], contact["id"]))
                if student["id"] is not None and contact["id"] is not None
                else None
            )
            card_values = {f: values[f] for f in CARD_FIELDS if f in values}
            if card is None:
                self.plan.cards_new.append(
                    {
                        "student_key": sid,
                        "contact_key": cid,
                        "relationship": card_values.get("relationship"),
                        "is_guardian": card_values.get("is_guardian", True),
                        "portal_access": card_values.get("portal_access", True),
                        "priority": card_values.get("priority"),
                    }
                )
                self._result(
                    part.table,
                    number,
                    key,
                    "added",
                    f"Added to the card of student {sid}"
                    + (f" ({', '.join(notes)})" if notes else ""),
                    changes,
                )
                continue
            changes.update(_changes(card, card_values, CARD_FIELDS))
            if not changes:
                self._result(part.table, number, key, "skipped", "Already up to date")
                continue
            if any(name in CARD_FIELDS.values() for name in changes):
                self.plan.cards_changed.append(
                    {"_id": card["id"]}
                    | {f"new_{f}": card_values.get(f, card[f]) for f in CARD_FIELDS}
                )
            self._result(
                part.table, number, key, "updated", "Changed " + ", ".join(changes), changes
            )


def _ids(connection: Connection, key: Any, id_column: Any, keys: Iterable[Any]) -> dict[Any, int]:
    found: dict[Any, int] = {}
    for chunk in key_chunks(keys):
        found.update(
            (k, i) for k, i in connection.execute(select(key, id_column).where(key.in_(chunk)))
        )
    return found


def _write(connection: Connection, plan: RosterPlan, progress: Progress) -> None:
    progress("Saving the roster", 0, 4)
    if plan.schools_new:
        bulk_insert(connection, School.__table__, plan.schools_new)
    bulk_update(connection, School, plan.schools_changed, ["name"])
    codes = {s["school"] for s in plan.students_new} | {
        s["new_school"] for s in plan.students_changed
    }
    school_ids = _ids(connection, School.code, School.id, codes)
    progress("Saving the roster", 1, 4)

    def with_school(row: dict[str, Any], key: str) -> dict[str, Any]:
        row = dict(row)
        code = row.pop(key)
        row[key.replace("school", "school_id")] = school_ids.get(code) if code else None
        return row

    if plan.students_new:
        bulk_insert(
            connection,
            Student.__table__,
            [with_school(s, "school") for s in plan.students_new],
        )
    fields = [f if f != "school" else "school_id" for f in STUDENT_FIELDS]
    bulk_update(
        connection, Student, [with_school(s, "new_school") for s in plan.students_changed], fields
    )
    progress("Saving the roster", 2, 4)
    if plan.people_new:
        bulk_insert(
            connection,
            Contact.__table__,
            [
                {**p, "email_key": logon_key(p["email"]) if p["email"] else None}
                for p in plan.people_new
            ],
        )
    bulk_update(
        connection,
        Contact,
        [
            {**p, "new_email_key": logon_key(p["new_email"]) if p["new_email"] else None}
            for p in plan.people_changed
        ],
        [*PERSON_FIELDS, "email_key"],
    )
    progress("Saving the roster", 3, 4)
    if plan.cards_new:
        students = _ids(
            connection, Student.student_id, Student.id, (c["student_key"] for c in plan.cards_new)
        )
        people = _ids(
            connection, Contact.contact_id, Contact.id, (c["contact_key"] for c in plan.cards_new)
        )
        bulk_insert(
            connection,
            StudentContact.__table__,
            [
                {
                    "student_id": students[c["student_key"]],
                    "contact_id": people[c["contact_key"]],
                    "relationship": c["relationship"],
                    "is_guardian": c["is_guardian"],
                    "portal_access": c["portal_access"],
                    "priority": c["priority"],
                }
                for c in plan.cards_new
            ],
        )
    bulk_update(connection, StudentContact, plan.cards_changed, CARD_FIELDS)
    progress("Saving the roster", 4, 4)


def import_roster(
    engine: Engine,
    *,
    schools: InputTable | None = None,
    students: InputTable | None = None,
    contacts: InputTable | None = None,
    apply: bool = False,
    actor: str | None = None,
    progress: Progress = no_progress,
) -> Report:
    """Check, plan and (with ``apply``) write a roster; always record a batch and its log."""
    if schools is None and students is None and contacts is None:
        raise InputError("A roster needs a Schools, a Students or a Contacts sheet")
    parts = (
        _read(schools, SCHOOL_COLUMNS),
        _read(students, STUDENT_COLUMNS),
        _read(contacts, CONTACT_COLUMNS),
    )
    source = next(t for t in (students, contacts, schools) if t is not None)
    report, _ = run_batch(
        engine,
        kind="roster import",
        options={},
        table=source,
        apply=apply,
        plan=lambda connection: _Planner(connection, *parts).plan,
        write=lambda connection, plan, _batch_id: _write(connection, plan, progress),
        actor=actor,
        progress=progress,
    )
    return report
