"""Roster import, student-link import, single accounts and the contact card, on both databases."""

from typing import Any

import pytest
from factories import input_table
from sqlalchemy import Engine, select, text

from backend.accounts.contact_card import (
    CAN_CREATE,
    HAS_ACCOUNT,
    LOGON_DIFFERS,
    NO_EMAIL,
    contact_card,
    create_account_from_contact,
    logons_for_student,
)
from backend.accounts.single import get_account, modify_user, new_user
from backend.database.models import Student
from backend.errors import HeaderError, NotFoundError
from backend.imports.batches import list_batches
from backend.imports.contract import InputTable, Report
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.roster_columns import CONTACT_COLUMNS
from backend.imports.users import import_users


def table(headers: list[str], *rows: list[Any], sheet: str | None = None) -> InputTable:
    return input_table(headers, rows, sheet=sheet)


SCHOOLS = table(
    ["SCHOOL_CODE", "SCHOOL_NAME"],
    ["101", "Lincoln Elementary"],
    ["201", "Washington Middle"],
    sheet="Schools",
)
STUDENTS = table(
    ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STUDENT_EMAIL"],
    ["001", "Ava", "Lee", "3", "101", None],
    ["002", "Max", "Lee", "5", "101", None],
    ["003", "Zoe", "Ng", "7", "201", "zoe.ng@students.example.org"],
    ["004", "Bad", "School", "7", "999", None],
    ["001", "Ava", "Lee", "3", "101", None],  # the same student twice
    sheet="Students",
)
CONTACTS = table(
    [column.name for column in CONTACT_COLUMNS],
    ["001", "C1", "Mia", "Lee", "Mother", "mia.lee@example.org", "Y", "Y", 1],
    ["002", "C1", "Mia", "Lee", "Mother", "Mia.Lee@example.org", "Y", "Y", 1],
    ["001", "C2", "Tom", "Lee", "Father", "tom.lee@example.org", "Y", "Y", 2],
    ["001", "C3", "Ada", "Lee", "Grandmother", None, "N", "N", 3],
    ["002", "C6", "Ian", "Lee", "Stepfather", "family@example.org", "Y", "Y", 2],
    ["002", "C7", "Eve", "Lee", "Aunt", "family@example.org", "Y", "Y", 3],
    ["003", "C5", "Kim", "Ng", "Mother", "kim.ng@example.org", "Y", "Y", 1],
    ["999", "C9", "No", "Student", "Mother", "x@example.org", "Y", "Y", 1],
    ["003", "C5", "Kim", "Ng", "Mother", "kim.ng@example.org", "Y", "Y", 1],
    ["002", "C2", "Tom", "Lee", "Father", "tom.other@example.org", "Y", "Y", 2],
    sheet="Contacts",
)


def roster(engine: Engine, apply: bool = True) -> Report:
    return import_roster(engine, schools=SCHOOLS, students=STUDENTS, contacts=CONTACTS, apply=apply)


def actions(report: Report) -> list[tuple[str | None, str | None, str]]:
    return [(r.sheet, r.key, r.action) for r in report.results]


def test_roster_import_reports_each_row_and_is_idempotent(engine: Engine) -> None:
    simulated = roster(engine, apply=False)
    applied = roster(engine)
    assert actions(simulated) == actions(applied)
    assert actions(applied) == [
        ("Schools", "101", "added"),
        ("Schools", "201", "added"),
        ("Students", "001", "added"),
        ("Students", "002", "added"),
        ("Students", "003", "added"),
        ("Students", "004", "error"),
        ("Students", "001", "skipped"),
        ("Contacts", "001 / C1", "added"),
        ("Contacts", "002 / C1", "error"),
        ("Contacts", "001 / C2", "added"),
        ("Contacts", "001 / C3", "added"),
        ("Contacts", "002 / C6", "added"),
        ("Contacts", "002 / C7", "added"),
        ("Contacts", "003 / C5", "added"),
        ("Contacts", "999 / C9", "error"),
        ("Contacts", "003 / C5", "skipped"),
        ("Contacts", "002 / C2", "error"),
    ]
    reasons = {(r.sheet, r.row): r.reason for r in applied.results}
    assert "'999' is not a known school code" in reasons[("Students", 5)]
    assert "EMAIL" in reasons[("Contacts", 3)] and "differs from row 2" in reasons[("Contacts", 3)]
    assert "no student '999'" in reasons[("Contacts", 9)]
    again = roster(engine)
    assert {r.action for r in again.results} == {"skipped", "error"}
    with engine.connect() as connection:
        assert connection.execute(
            select(Student.student_id).order_by(Student.student_id)
        ).scalars().all() == ["001", "002", "003"]
        assert connection.execute(text("SELECT count(*) FROM student_contacts")).scalar_one() == 6


def test_roster_changes_show_old_and_new_and_blanks_keep(engine: Engine) -> None:
    roster(engine)
    report = import_roster(
        engine,
        students=table(
            ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL"],
            ["003", None, None, "8", "101"],
        ),
        contacts=table(
            ["STUDENT_ID", "CONTACT_ID", "RELATIONSHIP", "PRIORITY"], ["003", "C5", "Guardian", 2]
        ),
        apply=True,
    )
    assert [(r.action, r.changes) for r in report.results] == [
        ("updated", {"GRADE": ("7", "8"), "SCHOOL": ("201", "101")}),
        ("updated", {"RELATIONSHIP": ("Mother", "Guardian"), "PRIORITY": (1, 2)}),
    ]
    card = contact_card(engine, "003")
    assert (card.first_name, card.grade, card.school) == ("Zoe", "8", "101")
    assert card.entries[0].relationship == "Guardian"


def test_link_import_adds_updates_removes_and_skips(engine: Engine) -> None:
    roster(engine)
    import_users(
        engine,
        table(
            ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
            ["mia.lee@example.org", "Mia", "Lee", "GUARDIAN"],
            ["zoe12", "Zoe", "Ng", "STUDENT"],
        ),
        apply=True,
    )
    headers = ["LOGONID", "STUDENT_ID", "RELATIONSHIP", "PRIMARY"]
    links = table(
        headers,
        ["MIA.LEE@example.org", "001", "Mother", "Y"],
        ["mia.lee@example.org", "002", "Mother", None],
        ["mia.lee@example.org", "001", "Mother", "Y"],
        ["nobody@example.org", "001", None, None],
        ["mia.lee@example.org", "404", None, None],
        ["zoe12", "003", "Self", None],
    )
    first = import_links(engine, links, apply=True)
    assert [(r.key, r.action) for r in first.results] == [
        ("mia.lee@example.org / 001", "added"),
        ("mia.lee@example.org / 002", "added"),
        ("mia.lee@example.org / 001", "skipped"),
        ("nobody@example.org / 001", "error"),
        ("mia.lee@example.org / 404", "error"),
        ("zoe12 / 003", "added"),
    ]
    assert "no account 'nobody@example.org'" in first.results[3].reason
    assert "no student '404'" in first.results[4].reason
    second = import_links(engine, links, apply=True)
    assert {r.action for r in second.results} == {"skipped", "error"}
    changed = import_links(
        engine,
        table(
            [*headers, "ACTION"],
            ["mia.lee@example.org", "001", "Guardian", None, None],
            ["mia.lee@example.org", "002", None, None, "REMOVE"],
            ["mia.lee@example.org", "003", None, None, "REMOVE"],
        ),
        apply=True,
    )
    assert [(r.action, r.changes) for r in changed.results] == [
        ("updated", {"RELATIONSHIP": ("Mother", "Guardian")}),
        (
            "removed",
            {"RELATIONSHIP": ("Mother", None), "PRIMARY": (False, None), "NOTICES": (True, None)},
        ),
        ("skipped", None),
    ]
    assert changed.counts["removed"] == 1
    account = get_account(engine, "Mia.Lee@example.org")
    assert [(s.student_id, s.relationship, s.is_primary) for s in account.students] == [
        ("001", "Guardian", True)
    ]
    scoped = import_links(engine, table(headers, ["zoe12", "003", "Self", None]), schools=["101"])
    assert scoped.results[0].action == "error"
    assert "outside this run's schools (101)" in scoped.results[0].reason


def test_a_card_stored_as_portal_access_n_detaches_the_account_of_an_email_given_later(
    engine: Engine,
) -> None:
    """Ada's card on 001 says PORTAL_ACCESS N and she had no email; a row giving her email
    and leaving PORTAL_ACCESS blank keeps the N, so the account of that email loses 001."""
    roster(engine)
    import_users(
        engine,
        table(
            ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
            ["ada@example.org", "Ada", "Lee", "GUARDIAN"],
        ),
        apply=True,
    )
    linked = import_links(
        engine, table(["LOGONID", "STUDENT_ID"], ["ada@example.org", "001"]), apply=True
    )
    assert linked.results[0].action == "added"
    report = import_roster(
        engine,
        contacts=table(["STUDENT_ID", "CONTACT_ID", "EMAIL"], ["001", "C3", "Ada@example.org"]),
        apply=True,
    )
    assert [(r.key, r.action) for r in report.results] == [
        ("001 / C3", "updated"),
        ("ada@example.org / 001", "removed"),
    ]
    assert report.results[1].reason == (
        "Student 001 detached from ada@example.org: PORTAL_ACCESS is N for contact C3 on the "
        "student's card"
    )
    assert get_account(engine, "ada@example.org").students == []


def test_contact_card_statuses_and_create_from_contact(engine: Engine) -> None:
    roster(engine)
    import_users(
        engine,
        table(
            ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
            ["mia.lee@example.org", "Mia", "Lee", "GUARDIAN"],
            ["old.logon@example.org", "Kim", "Ng", "GUARDIAN"],
        ),
        apply=True,
    )
    import_links(
        engine, table(["LOGONID", "STUDENT_ID"], ["old.logon@example.org", "003"]), apply=True
    )
    card = {e.contact_id: e for e in contact_card(engine, "001").entries}
    assert [e.contact_id for e in contact_card(engine, "001").entries] == ["C1", "C2", "C3"]
    assert (card["C1"].status, card["C1"].account, card["C1"].linked) == (
        HAS_ACCOUNT,
        "mia.lee@example.org",
        False,
    )
    assert card["C2"].status == CAN_CREATE
    assert card["C3"].status == NO_EMAIL
    zoe = contact_card(engine, "003")
    assert zoe.entries[0].status == LOGON_DIFFERS
    assert zoe.entries[0].other_logons == ["old.logon@example.org"]
    assert [logon.logon_id for logon in logons_for_student(engine, "003")] == [
        "old.logon@example.org"
    ]
    shared = {e.contact_id: e for e in contact_card(engine, "002").entries}
    assert shared["C6"].status == shared["C7"].status == CAN_CREATE
    assert shared["C6"].shared_with == ["C7"] and shared["C7"].shared_with == ["C6"]

    simulated = create_account_from_contact(engine, "C1")
    assert [(r.key, r.action, r.reason) for r in simulated.results] == [
        ("001 / C1", "added", "Student attached to the existing account mia.lee@example.org")
    ]
    created = create_account_from_contact(engine, "C2", apply=True)
    assert [(r.key, r.action, r.reason) for r in created.results] == [
        ("001 / C2", "added", "Account created and student attached (tom.lee@example.org)"),
    ]
    after = {e.contact_id: e for e in contact_card(engine, "001").entries}
    assert (after["C2"].status, after["C2"].linked) == (HAS_ACCOUNT, True)
    with pytest.raises(Exception, match="has no email"):
        create_account_from_contact(engine, "C3")
    with pytest.raises(NotFoundError):
        contact_card(engine, "777")


def test_new_and_modify_user_are_batches(engine: Engine) -> None:
    roster(engine)
    made = new_user(
        engine,
        logon_id=" Pat.Doe@Example.org",
        user_type="guardian",
        last_name="Doe",
        first_name="Pat",
    )
    assert [(r.key, r.action) for r in made.results] == [("Pat.Doe@example.org", "added")]
    again = new_user(
        engine,
        logon_id="pat.doe@example.org",
        user_type="GUARDIAN",
        last_name="Doe",
        first_name="Pat",
    )
    assert again.results[0].action == "skipped"
    changed = modify_user(
        engine,
        "PAT.DOE@example.org",
        changes={"first_name": "Patricia"},
        attach=["001"],
        relationship="Aunt",
    )
    assert [(r.action, r.changes) for r in changed.results] == [
        ("updated", {"FIRST_NAME": ("Pat", "Patricia")}),
        ("added", None),
    ]
    detached = modify_user(engine, "pat.doe@example.org", detach=["001"])
    assert [r.action for r in detached.results] == ["removed"]
    kinds = [(b.kind, b.mode) for b in list_batches(engine)]
    assert kinds[:4] == [
        ("modify user", "apply"),
        ("modify user", "apply"),
        ("new user", "apply"),
        ("new user", "apply"),
    ]
    with pytest.raises(NotFoundError):
        modify_user(engine, "nobody@example.org", changes={"first_name": "X"})


def test_roster_header_problems_name_the_sheet(engine: Engine) -> None:
    with pytest.raises(HeaderError, match="of sheet Contacts"):
        import_roster(
            engine, contacts=table(["STUDENT_ID", "EMAIL"], ["001", "a@b.org"], sheet="Contacts")
        )
