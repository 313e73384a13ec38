"""Every service, called by a school-101 clerk on the students, accounts, contacts, schools and
batches of school 201, on both databases: nothing of school 201 is returned or changed."""

from collections.abc import Callable
from typing import Any

from factories import LINK_HEADERS, USER_HEADERS, input_table
from scope_district import TOM, build, school_201
from sqlalchemy import Engine

from backend.accounts.autocreate import Options, autocreate
from backend.accounts.contact_card import (
    contact_card,
    create_account_from_contact,
    logons_for_student,
)
from backend.accounts.coverage import coverage
from backend.accounts.lookups import account_summaries, logons_of_students
from backend.accounts.rename import merge_users, rename_user
from backend.accounts.single import get_account, modify_user, new_user
from backend.accounts.year_end import year_end
from backend.errors import PortalError
from backend.imports.batches import get_batch, list_batches
from backend.imports.contract import Report
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.undo import undo_batch
from backend.imports.users import import_users
from backend.mail.activation_send import Choice, send_activation
from backend.mail.letters import LetterChoice, make_letters

OF_201 = ("00456", "00457", "Max", "Sam", "eve@example.org", "Wash")
"""What names school 201's students, its only contact and its name."""


def shown(answer: Any) -> str:
    """What a caller is shown: a report's rows but its refusals (which repeat what the clerk
    typed), its preview and summary; anything else as its text."""
    if isinstance(answer, Report):
        rows = [r for r in answer.results if r.action != "error"]
        return repr((rows, answer.preview, answer.extra))
    return repr(answer)


def test_a_school_101_clerk_gets_and_changes_nothing_of_school_201(engine: Engine) -> None:
    town = build(engine)
    clerk, batch = town.clerk, town.their_batch
    before = school_201(engine)
    users = input_table(USER_HEADERS, [[TOM, "T", "Lee", "GUARDIAN"]])
    pairs = input_table(
        LINK_HEADERS, [[TOM, "00457", "Father"], ["mia@example.org", "00457", None]]
    )
    calls: list[Callable[[], Any]] = [
        lambda: import_users(engine, users, apply=True, actor=clerk),
        lambda: import_links(engine, pairs, apply=True, actor=clerk),
        lambda: import_roster(
            engine, students=input_table(["STUDENT_ID"], [["00456"]]), actor=clerk
        ),
        lambda: autocreate(engine, Options(), apply=True, actor=clerk),
        lambda: autocreate(engine, Options(students=["00456", "00457"]), apply=True, actor=clerk),
        lambda: autocreate(engine, Options(schools=["201"]), apply=True, actor=clerk),
        lambda: new_user(
            engine,
            logon_id="neo@example.org",
            user_type="GUARDIAN",
            last_name="Lee",
            first_name="Neo",
            students=["00456"],
            actor=clerk,
        ),
        lambda: modify_user(engine, TOM, changes={"status": "DISABLED"}, actor=clerk),
        lambda: modify_user(engine, "mia@example.org", detach=["00456"], actor=clerk),
        lambda: get_account(engine, TOM, actor=clerk),
        lambda: get_account(engine, "mia@example.org", actor=clerk),
        lambda: contact_card(engine, "00456", actor=clerk),
        lambda: logons_for_student(engine, "00457", actor=clerk),
        lambda: create_account_from_contact(engine, "C4", apply=True, actor=clerk),
        lambda: create_account_from_contact(engine, "C1", apply=True, actor=clerk),
        lambda: account_summaries(engine, [TOM, "mia@example.org"], actor=clerk),
        lambda: logons_of_students(engine, ["00456", "00457", "00123"], actor=clerk),
        lambda: rename_user(engine, TOM, "t@example.org", apply=True, actor=clerk),
        lambda: merge_users(engine, TOM, "ann@example.org", apply=True, actor=clerk),
        lambda: merge_users(engine, "mia@example.org", "ann@example.org", apply=True, actor=clerk),
        lambda: coverage(engine, actor=clerk),
        lambda: coverage(engine, "201", actor=clerk),
        lambda: year_end(engine, apply=True, actor=clerk),
        lambda: send_activation(engine, Choice(logons=(TOM,)), apply=True, actor=clerk),
        lambda: send_activation(engine, Choice(school="201"), apply=True, actor=clerk),
        lambda: send_activation(engine, Choice(not_activated=True), apply=True, actor=clerk),
        lambda: make_letters(
            engine, LetterChoice(Choice(not_activated=True)), lambda _: {}, apply=True, actor=clerk
        ),
        lambda: undo_batch(engine, batch, apply=True, actor=clerk),
        lambda: get_batch(engine, batch, viewer=clerk),
        lambda: list_batches(engine, 100, viewer=clerk),
    ]
    answers, refusals = [], []
    for call in calls:
        try:
            answers.append(shown(call()))
        except PortalError as refused:
            refusals.append(str(refused))
    missing = f"There is no batch {batch}; `portal batches` lists them"
    assert refusals == [
        "The roster covers every school: only a district admin imports it; ask the district's "
        "portal administrator",
        "School 201 is not one of your schools: leave it out",
        *["There is no account 'tom@example.org'"] * 2,
        "There is no student '00456'",
        "There is no student '00457'",
        "There is no contact 'C4'",
        *["There is no account 'tom@example.org'"] * 2,
        "mia@example.org is also attached to students of another school: ask a district admin "
        "to merge it",
        "There is no school with code '201'; see the Schools sheet of the roster",
        "The year end covers every school: only a district admin runs it; ask the district's "
        "portal administrator",
        "There is no school with code '201': the roster import's SCHOOL_CODE column lists them",
        missing,
        missing,
    ]
    leaked = {name: [a for a in answers if name in a] for name in OF_201}
    assert leaked == {name: [] for name in OF_201}
    assert school_201(engine) == before
    # The same calls by the district admin reach school 201.
    report = send_activation(engine, Choice(school="201"), apply=True, actor=town.admin)
    assert report.counts["added"] == 2
    assert school_201(engine) != before
