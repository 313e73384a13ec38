"""School scope on every path that changes accounts and links, on both databases: a school-101
clerk's imports, AutoCreate, New/Modify User and create-account leave school 201 as it was;
a district admin and a run without a staff identity are not restricted."""

import pytest
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    STUDENT_HEADERS,
    USER_HEADERS,
    input_table,
)
from scope_district import (
    CONTACTS,
    NOT_OURS,
    STUDENTS,
    TOM,
    batch_count,
    build,
    links,
    reasons,
    school_201,
)
from sqlalchemy import Engine, event

from backend.accounts.autocreate import Options, autocreate
from backend.accounts.contact_card import create_account_from_contact
from backend.accounts.single import get_account, modify_user, new_user
from backend.database.engine import read_transaction
from backend.errors import InputError, NotFoundError
from backend.imports.batches import get_batch
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.staff.scope import Scope


def statements(engine: Engine) -> list[str]:
    """Every statement the engine runs from now on."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_the_rules_are_loaded_in_two_queries_and_answer_per_student_and_account(
    engine: Engine,
) -> None:
    town = build(engine)
    keys = ["tom@example.org", "mia@example.org", "ann@example.org", "free@example.org", "x@y.z"]
    students = ["00123", "00124", "00456", "00457", "99999"]
    seen = statements(engine)
    with read_transaction(engine) as connection:
        before = len(seen)
        scope = Scope.load(connection, town.clerk, student_ids=students, logon_keys=keys)
        assert len(seen) - before == 2
        before = len(seen)
        for actor in (None, "office", town.admin):
            everything = Scope.load(connection, actor, student_ids=students, logon_keys=keys)
            assert not everything.restricted
            assert all(everything.sees_student(s) for s in students)
            assert all(everything.may_change(k) for k in keys)
        assert len(seen) == before
    assert [scope.sees_student(s) for s in students] == [True, True, False, False, False]
    # tom sees only a 201 student; mia one of each; ann a 101 student; free no one; x is new.
    assert [scope.may_change(k) for k in keys] == [False, True, True, True, True]
    assert scope.own_links("mia@example.org") == 1
    assert scope.student_problem("00456") == "student 00456 is not in your schools"
    assert scope.account_problem("tom@example.org", TOM) == NOT_OURS


def test_a_users_import_changes_only_accounts_of_the_clerks_schools(engine: Engine) -> None:
    town = build(engine)
    before = school_201(engine)
    rows = [
        [TOM, "Tommy", "Lee", "GUARDIAN"],
        ["mia@example.org", "Maria", "Lee", "GUARDIAN"],
        ["free@example.org", "Fred", "Lee", "GUARDIAN"],
        ["new@example.org", "Nia", "Lee", "GUARDIAN"],
    ]
    report = import_users(engine, input_table(USER_HEADERS, rows), apply=True, actor=town.clerk)
    assert reasons(report.results) == {TOM: NOT_OURS}
    assert report.counts == report.counts | {"updated": 2, "added": 1, "error": 1}
    assert school_201(engine) == before
    # The district admin changes it.
    report = import_users(engine, input_table(USER_HEADERS, rows[:1]), apply=True, actor=town.admin)
    assert report.counts["updated"] == 1
    assert school_201(engine)["account"][0]["first_name"] == "Tommy"


def test_a_links_import_touches_only_links_to_the_clerks_students(engine: Engine) -> None:
    town = build(engine)
    before, attached = school_201(engine), links(engine)
    rows = [
        ["ann@example.org", "00456", "Aunt"],  # a student of 201
        [TOM, "00123", "Father"],  # an account of 201's only
        ["mia@example.org", "00123", "Parent"],  # the shared account, its 101 link
        ["mia@example.org", "00456", "Parent"],  # the shared account, its 201 link
        ["free@example.org", "00124", "Uncle"],  # an account with no student yet
        ["ann@example.org", "99999", "Aunt"],  # no such student
    ]
    table = input_table([*LINK_HEADERS], rows)
    report = import_links(engine, table, apply=True, actor=town.clerk)
    assert reasons(report.results) == {
        "ann@example.org / 00456": "student 00456 is not in your schools",
        "tom@example.org / 00123": NOT_OURS,
        "mia@example.org / 00456": "student 00456 is not in your schools",
        "ann@example.org / 99999": "STUDENT_ID: there is no student '99999'; import the "
        "roster first",
    }
    assert school_201(engine) == before
    # The clerk's own log keeps every row they typed, the refused ones too.
    _, events = get_batch(engine, report.batch_id, viewer=town.clerk)
    assert [e.key for e in events] == [r.key for r in report.results]
    changed = links(engine) - attached
    assert changed == {
        ("mia@example.org", "00123", "Parent"),
        ("free@example.org", "00124", "Uncle"),
    }
    removal = input_table([*LINK_HEADERS, "ACTION"], [["mia@example.org", "00456", None, "REMOVE"]])
    report = import_links(engine, removal, apply=True, actor=town.clerk)
    assert reasons(report.results) == {
        "mia@example.org / 00456": "student 00456 is not in your schools"
    }
    assert school_201(engine) == before
    # Without a staff identity, and for the admin, nothing is restricted.
    report = import_links(engine, removal, apply=True)
    assert report.counts["removed"] == 1
    report = import_links(engine, table, apply=True, actor=town.admin)
    assert ("ann@example.org", "00456", "Aunt") in links(engine)


def test_a_refusal_names_no_one_of_another_school(engine: Engine) -> None:
    """Kim Wu (school 101) and Lou Park (school 201) share an email: the clerk is told why the
    link is refused, and of whom at their school, but nothing of school 201's family."""
    town = build(engine)
    shared = [
        ["00123", "C5", "Kim", "Wu", "Mother", "kim@example.org", "Y", "Y", 3],
        ["00457", "C6", "Lou", "Park", "Father", "kim@example.org", "Y", "Y", 2],
    ]
    report = import_roster(
        engine,
        schools=input_table(["SCHOOL_CODE", "SCHOOL_NAME"], [["101", "Lincoln"], ["201", "Wash"]]),
        students=input_table(STUDENT_HEADERS, STUDENTS),
        contacts=input_table(CONTACT_HEADERS, [*CONTACTS, *shared]),
        apply=True,
    )
    assert report.counts["error"] == 0, report.results
    kim = input_table(USER_HEADERS, [["kim@example.org", "Kim", "Wu", "GUARDIAN"]])
    import_users(engine, kim, apply=True)
    table = input_table([*LINK_HEADERS], [["kim@example.org", "00123", "Mother"]])

    said = reasons(import_links(engine, table, actor=town.clerk).results)
    assert said == {
        "kim@example.org / 00123": "Email shared by two households, Kim Wu (contact C5, student "
        "00123) and a contact at another school: no student is attached to it (rule: two "
        "households, one email), as it would show one family's children to the other; fix one "
        "of the emails"
    }
    admin = reasons(import_links(engine, table, actor=town.admin).results)
    assert "Lou Park (contact C6, student 00457)" in admin["kim@example.org / 00123"]


def test_new_and_modify_user_keep_to_the_clerks_students(engine: Engine) -> None:
    town = build(engine)
    before = school_201(engine)
    report = new_user(
        engine,
        logon_id="neo@example.org",
        user_type="GUARDIAN",
        last_name="Lee",
        first_name="Neo",
        students=["00123", "00456"],
        actor=town.clerk,
    )
    assert reasons(report.results) == {
        "neo@example.org / 00456": "student 00456 is not in your schools"
    }
    assert report.counts["added"] == 2  # the account and its 101 student
    with pytest.raises(NotFoundError) as outside:
        modify_user(engine, TOM, changes={"first_name": "T"}, actor=town.clerk)
    with pytest.raises(NotFoundError) as missing:
        modify_user(engine, "nobody@example.org", changes={"first_name": "T"}, actor=town.clerk)
    assert str(outside.value) == str(missing.value).replace("nobody@example.org", TOM)
    report = modify_user(
        engine, "mia@example.org", attach=["00124"], detach=["00456"], actor=town.clerk
    )
    assert reasons(report.results) == {
        "mia@example.org / 00456": "student 00456 is not in your schools"
    }
    assert report.counts["added"] == 1
    assert school_201(engine) == before
    shared = get_account(engine, "mia@example.org", actor=town.clerk)
    assert sorted(s.student_id for s in shared.students) == ["00123", "00124"]
    everyone = get_account(engine, "mia@example.org")
    assert sorted(s.student_id for s in everyone.students) == ["00123", "00124", "00456"]
    modify_user(engine, TOM, changes={"first_name": "T"}, actor=town.admin)
    assert school_201(engine)["account"][0]["first_name"] == "T"


def test_school_staff_do_not_import_the_roster(engine: Engine) -> None:
    town = build(engine)
    before, batches = school_201(engine), batch_count(engine)
    table = input_table(
        ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "SCHOOL"], [["00456", "X", "Y", "101"]]
    )
    with pytest.raises(InputError) as refused:
        import_roster(engine, students=table, apply=True, actor=town.clerk)
    assert str(refused.value) == (
        "The roster covers every school: only a district admin imports it; ask the district's "
        "portal administrator"
    )
    assert (school_201(engine), batch_count(engine)) == (before, batches)
    report = import_roster(engine, students=table, apply=False, actor=town.admin)
    assert report.counts["updated"] == 1


def test_autocreate_selects_only_the_clerks_students_and_accounts(engine: Engine) -> None:
    town = build(engine)
    before = school_201(engine)
    report = autocreate(engine, Options(), apply=True, actor=town.clerk)
    keys = {r.key for r in report.results}
    assert keys == {"00123 / C1", "00124 / C2", "00124 / C3"}
    # tom@example.org (on 00124's card) sees only a student of 201: not attached.
    assert reasons(report.results) == {"00124 / C2": NOT_OURS}
    with pytest.raises(InputError) as refused:
        autocreate(engine, Options(schools=["201"]), actor=town.clerk)
    assert str(refused.value) == "School 201 is not one of your schools: leave it out"
    report = autocreate(engine, Options(students=["00456", "00123"]), actor=town.clerk)
    assert reasons(report.results) == {"00456": "student 00456 is not in your schools"}
    assert school_201(engine) == before
    # The admin attaches 00124 to tom's account, and sees every school.
    report = autocreate(engine, Options(), apply=True, actor=town.admin)
    assert {"00456 / C2", "00457 / C4"} <= {r.key for r in report.results}
    assert (TOM, "00124", "Uncle") in links(engine)


def test_create_account_from_a_contact_of_another_school_answers_as_no_contact(
    engine: Engine,
) -> None:
    town = build(engine)
    before = school_201(engine)
    with pytest.raises(NotFoundError) as outside:
        create_account_from_contact(engine, "C4", apply=True, actor=town.clerk)
    with pytest.raises(NotFoundError) as missing:
        create_account_from_contact(engine, "C9", apply=True, actor=town.clerk)
    assert str(outside.value) == str(missing.value).replace("C9", "C4")
    assert school_201(engine) == before
    # A contact on cards of both schools: only the clerk's students are looked at.
    report = create_account_from_contact(engine, "C2", apply=True, actor=town.clerk)
    assert {r.key for r in report.results} == {"00124 / C2"}
    assert school_201(engine) == before
    report = create_account_from_contact(engine, "C4", apply=True, actor=town.other)
    assert report.counts["added"] == 1
