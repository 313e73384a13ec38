"""The roster import: schools, students and the contacts on each student's card.

Accounts are tied to real students and guardians through it. One batch covers all three tables
(schools, students and contacts, from a workbook or a OneRoster bundle); each row's result names
its table. Students are matched by STUDENT_ID (text, exactly), contacts by CONTACT_ID, a card
entry by the pair. Blank cells never erase; nothing is deleted.

A state's roster (a million students, two million contact rows) is planned, and in an apply
written, in parts: the schools, then ``PART_ROWS`` students at a time, then as many contact rows
at a time. Each part reads in bulk only the stored records its rows name
(``backend.imports.roster_store``) and is planned from them (``backend.imports.roster_plan``).
What a later part needs of the earlier ones (the STUDENT_IDs, card entries and contacts already
planned) waits in a scratch file, keyed exactly; a simulation and its apply plan every row alike,
although an apply's earlier parts are already written.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine

from backend.database.models import Contact, School, Student, StudentContact
from backend.errors import InputError
from backend.imports.batches import run_parts
from backend.imports.contract import (
    Column,
    InputTable,
    Progress,
    Report,
    match_headers,
    no_progress,
    parse_rows,
)
from backend.imports.reviewed import Review
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.imports.roster_plan import (
    PERSON_FIELDS,
    Part,
    RosterPlan,
    RosterPlanner,
    RosterState,
    clashing_ids,
)
from backend.imports.roster_store import (
    load_cards,
    load_links,
    load_people,
    load_schools,
    load_students,
    student_ids,
    write_part,
)
from backend.imports.scratch import Scratch
from backend.staff.identity import Actor
from backend.staff.scope import district_only

PART_ROWS = 50_000
"""Students rows, or Contacts rows, planned (and in an apply written) at a time."""

NAMED = ("student_id", "first_name", "last_name")
"""The Students fields the clash check reads, in its pass before the students are planned."""


@dataclass
class _Read:
    """One table and its columns, the headers already checked."""

    table: InputTable
    pairs: list[tuple[int, Column]]

    def parts(self) -> Iterator[Part]:
        rows = iter(parse_rows(self.table, self.pairs))
        while chunk := list(islice(rows, PART_ROWS)):
            yield Part(self.table.sheet, chunk)


def _read(table: InputTable | None, columns: tuple[Column, ...]) -> _Read | None:
    return None if table is None else _Read(table, match_headers(table, columns))


class _Index:
    """What later parts need of earlier ones, in scratch stores: each STUDENT_ID planned (its
    row; whether it is new), each contact's first row (the person's values there; their id and
    email as the plan knows them), each card entry planned (its row)."""

    def __init__(self, scratch: Scratch) -> None:
        self.students = scratch.store("students", ("sid",), ("row", "new"))
        person = ("row", *PERSON_FIELDS, "id", "known_email")
        self.people = scratch.store("people", ("cid",), person)
        self.pairs = scratch.store("pairs", ("sid", "cid"), ("row",))

    def plan_students(self, planner: RosterPlanner, part: Part, connection: Connection) -> None:
        sids = {values["student_id"] for _, values, _ in part.rows if "student_id" in values}
        planner.look_at(RosterState(students=load_students(connection, planner.schools, sids)))
        known = self.students.get(sids)
        planner.first_students = {sid: row for sid, (row, _) in known.items()}
        planner.plan_students(part)
        new = {s["student_id"] for s in planner.plan.students_new}
        self.students.put(
            (sid, row, sid in new)
            for sid, row in planner.first_students.items()
            if sid not in known
        )

    def plan_contacts(self, planner: RosterPlanner, part: Part, connection: Connection) -> None:
        """A student planned as new, and a contact planned in an earlier part, are what the
        plan made of them (no id yet for a new one), whether or not an apply wrote them."""
        sids = {v["student_id"] for _, v, _ in part.rows if "student_id" in v}
        cids = {v["contact_id"] for _, v, _ in part.rows if "contact_id" in v}
        planned = {sid for sid, (_, new) in self.students.get(sids).items() if new}
        students = student_ids(connection, sids - planned)
        students |= {sid: {"id": None, "student_id": sid} for sid in planned}
        carried = self.people.get(cids)
        people = load_people(connection, cids - carried.keys())
        planner.person_rows = {}
        for cid, (row, *given, id_, email) in carried.items():
            people[cid] = {"id": id_, "contact_id": cid, "email": email}
            person = {f: v for f, v in zip(PERSON_FIELDS, given, strict=True) if v is not None}
            planner.person_rows[cid] = (row, person)
        ids = {p["id"] for p in people.values() if p["id"] is not None}
        state = RosterState(students=students, people=people, cards=load_cards(connection, ids))
        load_links(connection, state, part.rows)
        planner.look_at(state)
        pairs = {_pair(values) for _, values, _ in part.rows} - {None}
        seen = {pair: row for pair, (row,) in self.pairs.get(pairs).items()}
        planner.pairs = dict(seen)
        planner.plan_contacts(part)
        people, fields = planner.people, tuple(PERSON_FIELDS)
        self.people.put(
            (cid, row, *map(person.get, fields), people[cid]["id"], people[cid]["email"])
            for cid, (row, person) in planner.person_rows.items()
            if cid not in carried
        )
        self.pairs.put((*pair, row) for pair, row in planner.pairs.items() if pair not in seen)


def _pair(values: dict[str, Any]) -> tuple[str, str] | None:
    sid, cid = values.get("student_id"), values.get("contact_id")
    return None if sid is None or cid is None else (sid, cid)


def _parts(
    connection: Connection,
    tables: tuple[_Read | None, _Read | None, _Read | None],
    by_code: list[str],
    progress: Progress,
) -> Iterator[RosterPlan]:
    """The roster's plan a part at a time: the schools, then the students, then the contacts.
    The schools (those students add by their code too) are kept whole."""
    schools, students, contacts = tables
    total = sum(len(t.table.rows) for t in tables if t is not None)
    planner = RosterPlanner(load_schools(connection), schools_listed=schools is not None)
    if schools is not None:
        planner.next_part()
        planner.plan_schools(
            Part(schools.table.sheet, list(parse_rows(schools.table, schools.pairs)))
        )
        yield planner.plan
    with Scratch() as scratch:
        index, done = _Index(scratch), 0
        if students is not None:
            named = [(i, column) for i, column in students.pairs if column.field in NAMED]
            planner.clashing = clashing_ids(parse_rows(students.table, named))
            for part in students.parts():
                progress("Planning", done, total)
                planner.next_part()
                index.plan_students(planner, part, connection)
                by_code += planner.plan.schools_by_code
                done += len(part.rows)
                yield planner.plan
        if contacts is not None:
            for part in contacts.parts():
                progress("Planning", done, total)
                planner.next_part()
                index.plan_contacts(planner, part, connection)
                done += len(part.rows)
                yield planner.plan
    progress("Planning", total, total)


def import_roster(
    engine: Engine,
    *,
    schools: InputTable | None = None,
    students: InputTable | None = None,
    contacts: InputTable | None = None,
    apply: bool = False,
    actor: Actor = None,
    progress: Progress = no_progress,
    review: Review | None = None,
) -> Report:
    """Check, plan and (with ``apply``) write a roster; always record a batch and its log."""
    district_only(actor, "The roster covers every school: only a district admin imports it")
    if schools is None and students is None and contacts is None:
        raise InputError("A roster needs schools, students or contacts")
    tables = (
        _read(schools, SCHOOL_COLUMNS),
        _read(students, STUDENT_COLUMNS),
        _read(contacts, CONTACT_COLUMNS),
    )
    given = [t for t in (students, contacts, schools) if t is not None]
    source = next((t for t in given if len(t.rows)), given[0])  # names the file in the audit trail
    by_code: list[str] = []
    report = run_parts(
        engine,
        kind="roster import",
        options={},
        table=source,
        apply=apply,
        parts=lambda connection: _parts(connection, tables, by_code, progress),
        write=lambda connection, plan, _batch_id: write_part(connection, plan, progress),
        actor=actor,
        progress=progress,
        review=review,
        tables=(schools, students, contacts),
        writes=(School, Student, Contact, StudentContact),
    )
    if by_code:
        report.extra.append(("Schools added by code", ", ".join(by_code)))
    return report
