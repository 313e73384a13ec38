"""The roster's stored records: read in bulk for a part's rows, and a part's plan written.

Each read is one query (``rows_in``) for the keys the part's rows name; nothing is read a row
at a time.
"""

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from backend.accounts.attach_rules import detach, links_of_logons
from backend.accounts.logon import logon_key
from backend.database.engine import (
    as_dicts,
    bulk_insert,
    bulk_update,
    insert_rows,
    new_ids,
    rows_in,
)
from backend.database.models import Contact, School, Student, StudentContact
from backend.imports.contract import Progress
from backend.imports.roster_plan import (
    CARD_FIELDS,
    PERSON_FIELDS,
    STUDENT_FIELDS,
    ParsedRow,
    RosterPlan,
    RosterState,
)


def load_schools(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every school, by casefolded code."""
    return {
        code.casefold(): {"id": id_, "code": code, "name": name}
        for id_, code, name in connection.execute(select(School.id, School.code, School.name))
    }


def load_students(
    connection: Connection, schools: dict[str, dict[str, Any]], sids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The stored students of those STUDENT_IDs, each with its school as its code."""
    codes = {s["id"]: s["code"] for s in schools.values() if s["id"] is not None}
    query = select(Student.id, Student.student_id, Student.school_id).add_columns(
        *(getattr(Student, f) for f in STUDENT_FIELDS if f != "school")
    )
    found = {}
    for record in as_dicts(rows_in(connection, query, Student.student_id, sids)):
        record["school"] = codes.get(record.pop("school_id"))
        found[record["student_id"]] = record
    return found


def student_ids(connection: Connection, sids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored students of those STUDENT_IDs, by their id alone (what a card needs)."""
    query = select(Student.id, Student.student_id)
    return {
        record["student_id"]: record
        for record in as_dicts(rows_in(connection, query, Student.student_id, sids))
    }


def load_people(connection: Connection, cids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored contacts of those CONTACT_IDs."""
    query = select(Contact.id, Contact.contact_id).add_columns(
        *(getattr(Contact, f) for f in PERSON_FIELDS)
    )
    return {
        person["contact_id"]: person
        for person in as_dicts(rows_in(connection, query, Contact.contact_id, cids))
    }


def load_cards(connection: Connection, people_ids: Iterable[int]) -> dict[tuple[int, int], Any]:
    """Every card entry of those contacts (by id), by (student id, contact id)."""
    query = select(StudentContact.id, StudentContact.student_id, StudentContact.contact_id)
    query = query.add_columns(*(getattr(StudentContact, f) for f in CARD_FIELDS))
    return {
        (card["student_id"], card["contact_id"]): card
        for card in as_dicts(rows_in(connection, query, StudentContact.contact_id, people_ids))
    }


def load_links(connection: Connection, state: RosterState, rows: list[ParsedRow]) -> None:
    """``state.links``: the links of the accounts whose logon is the email (stored or given) of
    a contact whose card entries may say PORTAL_ACCESS N, in a row or, where a row leaves it
    blank, as stored: only their accounts' links can be detached, so only theirs are read."""
    closed_ids = {c["contact_id"] for c in state.cards.values() if not c["portal_access"]}
    closed = {p["contact_id"] for p in state.people.values() if p["id"] in closed_ids}
    revoking = {
        cid
        for _, values, _ in rows
        if (cid := values.get("contact_id")) is not None
        and not values.get("portal_access", cid not in closed)
    }
    if not revoking:
        return
    emails = {v.get("email") for _, v, _ in rows if v.get("contact_id") in revoking}
    emails |= {state.people[cid]["email"] for cid in revoking if cid in state.people}
    state.links = links_of_logons(connection, {logon_key(e) for e in emails if e})


def write_part(connection: Connection, plan: RosterPlan, progress: Progress) -> None:
    """Schools first, then students (who name them), people, and the cards that tie them; the
    new students and people get their ids before they are inserted, for the cards to name."""
    progress("Saving the roster", 0, 4)
    _write_schools(connection, plan)
    progress("Saving the roster", 1, 4)
    students = _write_students(connection, plan)
    progress("Saving the roster", 2, 4)
    people = _write_people(connection, plan)
    progress("Saving the roster", 3, 4)
    _write_cards(connection, plan, students, people)
    detach(connection, plan.links_removed)
    progress("Saving the roster", 4, 4)


def _insert_new(
    connection: Connection, model: Any, columns: list[str], rows: list[tuple[Any, ...]]
) -> dict[Any, int]:
    """Insert new records, each with an id drawn beforehand; their ids by the first column."""
    table = cast(Table, model.__table__)
    ids = new_ids(connection, table, len(rows))
    with_ids = ((id_, *row) for id_, row in zip(ids, rows, strict=True))
    insert_rows(connection, table, ["id", *columns], with_ids)
    return dict(zip((row[0] for row in rows), ids, strict=True))


def _write_schools(connection: Connection, plan: RosterPlan) -> None:
    if plan.schools_new:
        bulk_insert(connection, cast(Table, School.__table__), plan.schools_new)
    bulk_update(connection, School, plan.schools_changed, ["name"])


def _write_students(connection: Connection, plan: RosterPlan) -> dict[str, int]:
    """Students as planned, their school's code turned into the school's id; the new ones'
    ids by STUDENT_ID."""
    codes = {s["school"] for s in plan.students_new} | {
        s["new_school"] for s in plan.students_changed
    }
    school_ids = dict(rows_in(connection, select(School.code, School.id), School.code, codes))
    fields = [f if f != "school" else "school_id" for f in STUDENT_FIELDS]
    changed = [dict(s) for s in plan.students_changed]
    for row in changed:
        row["new_school_id"] = school_ids.get(row.pop("new_school"))
    bulk_update(connection, Student, changed, fields)
    named = [f for f in STUDENT_FIELDS if f != "school"]
    new = [
        (s["student_id"], school_ids.get(s["school"]), *[s[f] for f in named])
        for s in plan.students_new
    ]
    return _insert_new(connection, Student, ["student_id", "school_id", *named], new)


def _write_people(connection: Connection, plan: RosterPlan) -> dict[str, int]:
    """Contacts, with the email key that AutoCreate matches logons by; the new ones' ids by
    CONTACT_ID."""
    bulk_update(
        connection,
        Contact,
        [
            {**p, "new_email_key": logon_key(p["new_email"]) if p["new_email"] else None}
            for p in plan.people_changed
        ],
        [*PERSON_FIELDS, "email_key"],
    )
    new = [
        (
            p["contact_id"],
            *[p[f] for f in PERSON_FIELDS],
            logon_key(p["email"]) if p["email"] else None,
        )
        for p in plan.people_new
    ]
    return _insert_new(connection, Contact, ["contact_id", *PERSON_FIELDS, "email_key"], new)


def _ids_of(
    connection: Connection, model: Any, key: str, given: dict[str, int], wanted: set[str]
) -> dict[str, int]:
    """``given`` (ids just drawn), with the ids of the ``wanted`` keys it lacks: records an
    earlier part of the same run added."""
    missing = wanted - given.keys()
    if not missing:
        return given
    column = getattr(model, key)
    return given | dict(rows_in(connection, select(column, model.id), column, missing))


def _write_cards(
    connection: Connection, plan: RosterPlan, students: dict[str, int], people: dict[str, int]
) -> None:
    """Card entries, naming stored students and people by their ids and new ones by the ids
    they were given, in this part or an earlier one."""
    if plan.cards_new:
        new_students = {c["student_key"] for c in plan.cards_new if c["student_pk"] is None}
        new_people = {c["contact_key"] for c in plan.cards_new if c["contact_pk"] is None}
        students = _ids_of(connection, Student, "student_id", students, new_students)
        people = _ids_of(connection, Contact, "contact_id", people, new_people)
        insert_rows(
            connection,
            cast(Table, StudentContact.__table__),
            ["student_id", "contact_id", *CARD_FIELDS],
            (
                (
                    c["student_pk"] or students[c["student_key"]],
                    c["contact_pk"] or people[c["contact_key"]],
                    *[c[f] for f in CARD_FIELDS],
                )
                for c in plan.cards_new
            ),
        )
    bulk_update(connection, StudentContact, plan.cards_changed, CARD_FIELDS)
