"""School scope in look-ups, the school year's runs, undo and batch lists, on both databases: a
school-101 clerk is told of a student, account, school, contact or batch of school 201 exactly
what they are told of one that does not exist, and changes nothing of school 201."""

from collections.abc import Callable
from typing import Any

import pytest
from factories import LINK_HEADERS, USER_HEADERS, input_table
from scope_district import TOM, build, links, reasons, school_201
from sqlalchemy import Engine

from backend.accounts.contact_card import contact_card, logons_for_student
from backend.accounts.coverage import coverage
from backend.accounts.lookups import account_summaries, logons_of_students
from backend.accounts.rename import merge_users, rename_user
from backend.accounts.year_end import year_end
from backend.errors import InputError, PortalError
from backend.imports.batches import get_batch, list_batches
from backend.imports.links import import_links
from backend.imports.undo import undo_batch
from backend.imports.users import import_users
from backend.mail.activation_send import Choice, send_activation
from backend.mail.letters import Letter, LetterChoice, make_letters
from backend.staff.identity import SCHOOL_STAFF, add_staff


def same_answer(unknown: str, outside: str, call: Callable[[str], Any]) -> str:
    """The message for ``outside`` is the one for ``unknown``, with its name in its place."""
    with pytest.raises(PortalError) as missing:
        call(unknown)
    with pytest.raises(PortalError) as hidden:
        call(outside)
    assert type(hidden.value) is type(missing.value)
    assert str(hidden.value) == str(missing.value).replace(unknown, outside)
    return str(hidden.value)


def test_look_ups_answer_for_another_schools_student_as_for_no_student(engine: Engine) -> None:
    town = build(engine)
    clerk = town.clerk
    said = same_answer("99999", "00456", lambda s: contact_card(engine, s, actor=clerk))
    assert said == "There is no student '00456'"
    same_answer("99999", "00456", lambda s: logons_for_student(engine, s, actor=clerk))
    found = logons_of_students(engine, ["00123", "00456", "99999"], actor=clerk)
    assert list(found) == ["00123"]
    assert [logon.logon_id for logon in found["00123"]] == ["mia@example.org"]
    summaries = account_summaries(engine, [TOM, "mia@example.org", "x@y.org"], actor=clerk)
    assert list(summaries) == ["mia@example.org"]
    assert summaries["mia@example.org"].students == 1  # its 101 student, not its 201 one
    card = contact_card(engine, "00123", actor=clerk)
    assert [e.contact_id for e in card.entries] == ["C1"]
    # Everyone else sees every school.
    assert list(logons_of_students(engine, ["00123", "00456"], actor=town.other)) == ["00456"]
    for actor in (None, town.admin, town.other):
        assert contact_card(engine, "00456", actor=actor).student_id == "00456"
    for actor in (None, town.admin):
        assert set(logons_of_students(engine, ["00123", "00456"], actor=actor)) == {
            "00123",
            "00456",
        }
    assert account_summaries(engine, ["mia@example.org"])["mia@example.org"].students == 2
    assert list(account_summaries(engine, [TOM], actor=town.admin)) == [TOM]


def test_coverage_shows_only_the_clerks_schools(engine: Engine) -> None:
    town = build(engine)
    mine = coverage(engine, actor=town.clerk)
    assert [code for code, _, _ in mine.schools()] == ["101"]
    assert {u.student.student_id for u in mine.uncovered} <= {"00123", "00124"}
    same_answer("999", "201", lambda code: coverage(engine, code, actor=town.clerk))
    assert [code for code, _, _ in coverage(engine, "101", actor=town.clerk).schools()] == ["101"]
    everything = coverage(engine, actor=town.admin)
    assert [code for code, _, _ in everything.schools()] == ["101", "201"]
    assert [code for code, _, _ in coverage(engine).schools()] == ["101", "201"]


def test_rename_and_merge_only_accounts_the_clerk_may_change(engine: Engine) -> None:
    town = build(engine)
    before = school_201(engine)
    clerk = town.clerk
    same_answer(
        "nobody@example.org",
        TOM,
        lambda logon: rename_user(engine, logon, "t@example.org", apply=True, actor=clerk),
    )
    same_answer(
        "nobody@example.org",
        TOM,
        lambda logon: merge_users(engine, logon, "ann@example.org", apply=True, actor=clerk),
    )
    with pytest.raises(InputError) as shared:
        merge_users(engine, "mia@example.org", "ann@example.org", apply=True, actor=clerk)
    assert str(shared.value) == (
        "mia@example.org is also attached to students of another school: ask a district admin "
        "to merge it"
    )
    assert school_201(engine) == before
    # An account of the clerk's own school is theirs to rename; the admin renames any.
    report = rename_user(engine, "ann@example.org", "ann.fry@example.org", apply=True, actor=clerk)
    assert report.counts["updated"] == 1
    report = rename_user(engine, TOM, "thomas@example.org", apply=True, actor=town.admin)
    assert report.counts["updated"] == 1


def test_the_year_end_is_the_district_admins(engine: Engine) -> None:
    town = build(engine)
    before = school_201(engine)
    with pytest.raises(InputError) as refused:
        year_end(engine, apply=True, actor=town.clerk)
    assert "only a district admin runs it" in str(refused.value)
    assert school_201(engine) == before
    assert year_end(engine, actor=town.admin).mode == "simulation"


def delivered(letters: list[Letter]) -> dict[int, str]:
    return {}


def test_activation_emails_and_letters_only_for_accounts_the_clerk_may_change(
    engine: Engine,
) -> None:
    town = build(engine)
    before = school_201(engine)
    clerk = town.clerk
    chosen = Choice(logons=(TOM, "mia@example.org"))
    report = send_activation(engine, chosen, apply=True, actor=clerk)
    assert reasons(report.results) == {
        TOM: "There is no account with logon 'tom@example.org': check the spelling."
    }
    assert [r.key for r in report.results if r.action == "added"] == ["mia@example.org"]
    # Mia's email names her 101 child only: the clerk's preview shows nothing of 201.
    assert "Ava" in report.preview[0][2] and "Max" not in report.preview[0][2]
    same_answer(
        "999", "201", lambda code: send_activation(engine, Choice(school=code), actor=clerk)
    )
    same_answer(
        "9999",
        str(town.their_batch),
        lambda n: send_activation(engine, Choice(batch=int(n)), actor=clerk),
    )
    report = make_letters(engine, LetterChoice(chosen), delivered, apply=True, actor=clerk)
    assert [r.key for r in report.results if r.action == "added"] == ["mia@example.org"]
    assert TOM in reasons(report.results)
    assert school_201(engine) == before
    report = send_activation(engine, Choice(not_activated=True), actor=clerk)
    assert TOM not in {r.key for r in report.results}
    report = send_activation(engine, Choice(not_activated=True), actor=town.admin)
    assert TOM in {r.key for r in report.results}


def test_batches_of_another_schools_staff_are_as_no_batch(engine: Engine) -> None:
    town = build(engine)
    clerk = town.clerk
    theirs = str(town.their_batch)
    same_answer("9999", theirs, lambda n: get_batch(engine, int(n), viewer=clerk))
    assert list_batches(engine, viewer=clerk) == []
    mine = import_users(
        engine,
        input_table(USER_HEADERS, [["ann@example.org", "Annie", "Fry", "GUARDIAN"]]),
        actor=clerk,
    )
    assert [b.id for b in list_batches(engine, viewer=clerk)] == [mine.batch_id]
    # A colleague who shares school 101 sees it; 201's clerk does not; the admin sees all.
    colleague, _ = add_staff(engine, "head@lincoln.org", role=SCHOOL_STAFF, school_codes=["101"])
    assert get_batch(engine, mine.batch_id, viewer=colleague)[0].actor == "clerk@lincoln.org"
    assert [b.id for b in list_batches(engine, viewer=town.other)] == [town.their_batch]
    everything = {b.id for b in list_batches(engine, viewer=town.admin)}
    assert {mine.batch_id, town.their_batch} <= everything == {b.id for b in list_batches(engine)}


def test_undo_takes_back_only_what_the_clerk_may_see_and_change(engine: Engine) -> None:
    town = build(engine)
    clerk = town.clerk
    before = school_201(engine)
    theirs = str(town.their_batch)
    same_answer("9999", theirs, lambda n: undo_batch(engine, int(n), apply=True, actor=clerk))
    # Staff of both schools attach a 201 student: the 101 clerk sees the batch, and may not
    # take back its 201 row.
    both, _ = add_staff(
        engine, "nurse@district.org", role=SCHOOL_STAFF, school_codes=["101", "201"]
    )
    rows = [["ann@example.org", "00457", "Aunt"], ["free@example.org", "00124", "Uncle"]]
    shared = import_links(engine, input_table(LINK_HEADERS, rows), apply=True, actor=both)
    assert shared.counts["added"] == 2
    after = school_201(engine)
    # The clerk reads the colleague's log in its rows about 101 alone; the nurse reads it whole.
    _, seen = get_batch(engine, shared.batch_id, viewer=clerk)
    assert [e.key for e in seen] == ["free@example.org / 00124"]
    _, whole = get_batch(engine, shared.batch_id, viewer=both)
    assert [e.key for e in whole] == ["ann@example.org / 00457", "free@example.org / 00124"]
    with pytest.raises(InputError) as refused:
        undo_batch(engine, shared.batch_id, apply=True, actor=clerk)
    assert str(refused.value) == (
        f"Batch {shared.batch_id} cannot be undone by you: student 00457 is not in your "
        "schools; ask a district admin to undo it"
    )
    assert school_201(engine) == after != before
    mine = import_links(
        engine,
        input_table(LINK_HEADERS, [["free@example.org", "00123", "Uncle"]]),
        apply=True,
        actor=clerk,
    )
    report = undo_batch(engine, mine.batch_id, apply=True, actor=clerk)
    assert report.counts["removed"] == 1
    assert ("free@example.org", "00123", "Uncle") not in links(engine)
    assert undo_batch(engine, shared.batch_id, apply=True, actor=town.admin).counts["removed"] == 2
    assert school_201(engine) == before


def test_the_result_log_warns_the_clerk_only_of_their_own_students(engine: Engine) -> None:
    """An account the rules say must not see a child is named in every run's log: to the staff
    of that child's school only."""
    town = build(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE student_contacts SET portal_access = false WHERE student_id IN "
            "(SELECT id FROM students WHERE student_id IN ('00456', '00124'))"
        )
    table = input_table(USER_HEADERS, [["new@example.org", "Nia", "Lee", "GUARDIAN"]])
    clerks = {r.key: r.warning for r in import_users(engine, table, actor=town.clerk).results}
    admins = {r.key: r.warning for r in import_users(engine, table, actor=town.admin).results}
    assert [key for key, warning in clerks.items() if warning] == ["ann@example.org"]
    assert "student 00124" in (clerks["ann@example.org"] or "")
    assert {key for key, warning in admins.items() if warning} == {
        "ann@example.org",
        "mia@example.org",
        TOM,
    }
