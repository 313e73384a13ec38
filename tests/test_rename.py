"""Renaming a logon and merging a duplicate account, from the terminal, on both databases."""

import pytest
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    SCHOOL_HEADERS,
    STUDENT_HEADERS,
    USER_HEADERS,
    input_table,
)
from helpers import run_cli
from sqlalchemy import Engine, func, select

from backend.accounts.contact_card import LOGON_DIFFERS, contact_card
from backend.accounts.single import get_account
from backend.database.engine import write_transaction
from backend.database.models import Batch, BatchEvent, OutboxMessage, PortalUser
from backend.errors import InputError, NotFoundError
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import INVALID_LINK, activate, issue_token, verify_password
from backend.mail.outbox import queue_message

TYPO = "tom.nguyen@yahooo.com"
RIGHT = "tom.nguyen@yahoo.com"
PASSWORD = "correct horse battery"


def district(engine: Engine, links: list[list[str]]) -> None:
    """Three students; Tom's right address is on the cards of 001 and 002, and on 003's with
    PORTAL_ACCESS N; accounts under the typo and, when ``links`` name it, the right address."""
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table(
            STUDENT_HEADERS,
            [
                ["001", "Ava", "Nguyen", "3", "101", None],
                ["002", "Max", "Nguyen", "5", "101", None],
                ["003", "Lin", "Tran", "4", "101", "lin.tran@students.example.org"],
            ],
            sheet="Students",
        ),
        contacts=input_table(
            CONTACT_HEADERS,
            [
                ["001", "C1", "Tom", "Nguyen", "Father", RIGHT, "Y", "Y", 1],
                ["002", "C1", "Tom", "Nguyen", "Father", RIGHT, "Y", "Y", 1],
                ["003", "C1", "Tom", "Nguyen", "Stepfather", RIGHT, "Y", "N", 2],
            ],
            sheet="Contacts",
        ),
        apply=True,
    )
    assert report.counts["error"] == 0
    logons = sorted({logon for logon, _, _ in links})
    users = [[logon, "Tom", "Nguyen", "GUARDIAN"] for logon in logons]
    assert import_users(engine, input_table(USER_HEADERS, users), apply=True).counts["error"] == 0
    linked = import_links(engine, input_table(LINK_HEADERS, links), apply=True)
    assert linked.counts["error"] == 0


def account_row(engine: Engine, logon: str) -> PortalUser:
    with engine.connect() as connection:
        row = connection.execute(select(PortalUser).where(PortalUser.logon_id == logon)).one()
        return PortalUser(**row._mapping)


def batch_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Batch)).scalar_one())


def last_batch(engine: Engine) -> tuple[Batch, list[tuple[str | None, str, str | None]]]:
    """The newest batch and its events' key, action and reason."""
    with engine.connect() as connection:
        batch = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
        events = connection.execute(
            select(BatchEvent.key, BatchEvent.action, BatchEvent.reason)
            .where(BatchEvent.batch_id == batch.id)
            .order_by(BatchEvent.id)
        )
        return Batch(**batch._mapping), [tuple(e) for e in events]


def new_token(engine: Engine, logon: str) -> str:
    with write_transaction(engine) as connection:
        return issue_token(connection, account_row(engine, logon).id)


def test_rename_simulates_then_keeps_links_history_and_password(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    district(engine, [[TYPO, "001", "Father"], [TYPO, "002", "Father"]])
    activate(engine, new_token(engine, TYPO), PASSWORD)
    before = account_row(engine, TYPO)

    simulated = run_cli(capsys, "--db", database_url, "user", "rename", TYPO, RIGHT)
    assert simulated.code == 0, simulated.stderr
    assert "SIMULATION" in simulated.stdout
    assert f"updated  {TYPO}: Logon changed; its 2 attached student(s)" in simulated.stdout
    assert f"LOGONID: {TYPO} -> {RIGHT}" in simulated.stdout
    assert account_row(engine, TYPO).id == before.id  # nothing saved

    applied = run_cli(capsys, "--db", database_url, "user", "rename", TYPO, RIGHT, "--apply")
    assert applied.code == 0, applied.stderr
    assert "Saved" in applied.stdout
    after = account_row(engine, RIGHT)
    assert (after.id, after.created_batch_id, after.created_at) == (
        before.id,
        before.created_batch_id,
        before.created_at,
    )
    assert [s.student_id for s in get_account(engine, RIGHT).students] == ["001", "002"]
    assert verify_password(engine, RIGHT, PASSWORD)
    assert not verify_password(engine, TYPO, PASSWORD)
    with pytest.raises(NotFoundError):
        get_account(engine, TYPO)
    batch, events = last_batch(engine)
    assert (batch.kind, batch.mode, batch.options) == (
        "rename user",
        "apply",
        {"from": TYPO, "to": RIGHT},
    )
    assert events[0][:2] == (TYPO, "updated")
    assert after.updated_batch_id == batch.id
    card = {e.contact_id: e for e in contact_card(engine, "001").entries}
    assert (card["C1"].status, card["C1"].account, card["C1"].linked) == (
        "has account",
        RIGHT,
        True,
    )


def test_rename_to_a_new_address_revokes_unused_links(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    district(engine, [[TYPO, "001", "Father"]])
    token = new_token(engine, TYPO)
    with write_transaction(engine) as connection:
        queue_message(
            connection,
            to_address=TYPO,
            subject="Welcome",
            body="Activate: [[activation-link]]",
            user_id=account_row(engine, TYPO).id,
            batch_id=None,
        )
    result = run_cli(capsys, "--db", database_url, "user", "rename", TYPO, RIGHT, "--apply")
    assert result.code == 0, result.stderr
    assert f"activation link sent or queued for {TYPO} no longer works" in result.stdout
    with pytest.raises(InputError, match=INVALID_LINK.split(":")[0]):
        activate(engine, token, PASSWORD)
    with engine.connect() as connection:
        status, why = connection.execute(
            select(OutboxMessage.status, OutboxMessage.last_error)
        ).one()
    assert (status, why) == (
        "skipped",
        f"The account's logon was changed to {RIGHT}: not sent to the old address",
    )


def test_rename_in_capitals_only_keeps_links_working(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    district(engine, [[RIGHT, "001", "Father"]])
    token = new_token(engine, RIGHT)
    result = run_cli(
        capsys, "--db", database_url, "user", "rename", RIGHT, "Tom.Nguyen@yahoo.com", "--apply"
    )
    assert result.code == 0, result.stderr
    assert "no longer works" not in result.stdout
    assert account_row(engine, "Tom.Nguyen@yahoo.com").logon_key == RIGHT
    assert activate(engine, token, PASSWORD) == "Tom.Nguyen@yahoo.com"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (
            TYPO,
            RIGHT,
            f"There is already an account '{RIGHT}'; to make the two one, merge them: "
            f"portal user merge {TYPO} into {RIGHT}",
        ),
        (TYPO, "tom.nguyen@y\u0430hoo.com", "mixes Latin and Cyrillic letters"),
        (TYPO, "tom.nguyen", "is not a valid email address"),
        (
            TYPO,
            "Lin.Tran@students.example.org",
            "STUDENT_EMAIL of student 003), never a guardian's",
        ),
        (TYPO, TYPO, f"The account's logon is already '{TYPO}'; nothing to change"),
        ("nobody@example.org", "somebody@example.org", "There is no account 'nobody@example.org'"),
    ],
)
def test_rename_refusals_are_one_line_and_save_nothing(
    engine: Engine,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    said: str,
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    batches = batch_count(engine)
    result = run_cli(capsys, "--db", database_url, "user", "rename", old, new, "--apply")
    assert result.code == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert batch_count(engine) == batches
    assert [s.student_id for s in get_account(engine, TYPO).students] == ["001"]


def test_rename_refuses_a_logon_that_may_not_see_its_students(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """003's card says Tom may not see Lin: the typo account attached to Lin keeps its name."""
    district(engine, [[TYPO, "003", "Stepfather"]])
    result = run_cli(capsys, "--db", database_url, "user", "rename", TYPO, RIGHT, "--apply")
    assert result.code == 2
    assert f"Renamed to '{RIGHT}', the account could not keep student 003: PORTAL_ACCESS is N" in (
        result.stderr
    )
    assert f"portal user modify {TYPO} --detach 003" in result.stderr
    assert [s.student_id for s in get_account(engine, TYPO).students] == ["003"]


def test_merge_moves_links_disables_the_duplicate_and_refuses_forbidden_ones(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    district(
        engine,
        [
            [TYPO, "001", "Father"],
            [TYPO, "002", "Father"],
            [TYPO, "003", "Stepfather"],
            [RIGHT, "001", "Father"],
        ],
    )
    activate(engine, new_token(engine, TYPO), PASSWORD)
    args = ["--db", database_url, "user", "merge", TYPO, "into", RIGHT]
    simulated = run_cli(capsys, *args)
    assert "SIMULATION" in simulated.stdout
    assert [s.student_id for s in get_account(engine, TYPO).students] == ["001", "002", "003"]

    applied = run_cli(capsys, *args, "--apply")
    assert applied.code == 1  # one student was not moved: a person should look
    batch, events = last_batch(engine)
    assert (batch.kind, batch.options) == ("merge users", {"duplicate": TYPO, "keep": RIGHT})
    assert [event[:2] for event in events] == [
        (TYPO, "updated"),
        (RIGHT, "updated"),
        (f"{TYPO} / 001", "removed"),
        (f"{RIGHT} / 002", "updated"),
        (f"{RIGHT} / 003", "error"),
    ]
    assert events[4][2] is not None and events[4][2].startswith(
        f"Not moved (it stays on the disabled {TYPO}): PORTAL_ACCESS is N for Tom Nguyen"
    )
    assert f"{RIGHT} / 003: Not moved" in applied.stdout
    assert f"portal activation send --logon {RIGHT}" in applied.stdout  # TYPO was activated
    kept = get_account(engine, RIGHT)
    assert [(s.student_id, s.relationship) for s in kept.students] == [
        ("001", "Father"),
        ("002", "Father"),
    ]
    duplicate = get_account(engine, TYPO)
    assert duplicate.status == "DISABLED"
    assert [s.student_id for s in duplicate.students] == ["003"]
    assert not verify_password(engine, TYPO, PASSWORD)
    assert not any(e[1] == "skipped" and "already sees" in (e[2] or "") for e in events)

    again = run_cli(capsys, *args, "--apply")  # nothing more to move; 003 is still refused
    _, events = last_batch(engine)
    assert again.code == 1
    assert [event[:2] for event in events] == [
        (TYPO, "skipped"),
        (RIGHT, "skipped"),
        (f"{RIGHT} / 003", "error"),
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([TYPO, "into", "Tom.Nguyen@Yahooo.com"], "are one account already"),
        ([TYPO, "onto", RIGHT], "portal user merge DUPLICATE into KEEP (not 'onto')"),
        ([TYPO, "into", "nobody@example.org"], "There is no account 'nobody@example.org'"),
        ([TYPO, "into", "lin3"], "only accounts of one type can be merged"),
    ],
)
def test_merge_refusals_are_one_line_and_save_nothing(
    engine: Engine,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    said: str,
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    student = input_table(USER_HEADERS, [["lin3", "Lin", "Tran", "STUDENT"]])
    assert import_users(engine, student, apply=True).counts["added"] == 1
    batches = batch_count(engine)
    result = run_cli(capsys, "--db", database_url, "user", "merge", *args, "--apply")
    assert result.code == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert batch_count(engine) == batches
    assert get_account(engine, TYPO).status == "ACTIVE"


def test_card_suggests_the_rename_of_the_closest_logon(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    district(
        engine, [["grandma.nguyen@example.org", "001", "Grandmother"], [TYPO, "001", "Father"]]
    )
    entry = contact_card(engine, "001").entries[0]
    assert entry.status == LOGON_DIFFERS
    assert entry.suggestion == f"portal user rename {TYPO} {RIGHT}"
    result = run_cli(capsys, "--db", database_url, "student", "card", "001")
    assert result.code == 0
    assert f"if so: portal user rename {TYPO} {RIGHT}" in result.stdout
    renamed = run_cli(capsys, "--db", database_url, *entry.suggestion.split()[1:], "--apply")
    assert renamed.code == 0
    assert contact_card(engine, "001").entries[0].status == "has account"


def test_card_suggests_merging_a_typo_account_made_twice(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The typo account and the right one both see Ava; a grandmother's logon is no typo."""
    grandma = "grandma.nguyen@example.org"
    district(
        engine, [[grandma, "001", "Grandmother"], [TYPO, "001", "Father"], [RIGHT, "001", "Father"]]
    )
    entry = contact_card(engine, "001").entries[0]
    assert (entry.status, entry.suggestion) == (
        "has account",
        f"portal user merge {TYPO} into {RIGHT}",
    )
    result = run_cli(capsys, "--db", database_url, "student", "card", "001")
    assert f"if so: portal user merge {TYPO} into {RIGHT}" in result.stdout
    assert grandma not in result.stdout.split("if so:")[1]
    merged = run_cli(capsys, "--db", database_url, *entry.suggestion.split()[1:], "--apply")
    assert merged.code == 0, merged.stdout
    assert contact_card(engine, "001").entries[0].suggestion is None
    assert get_account(engine, TYPO).students == []
