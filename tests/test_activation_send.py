"""`portal activation send` on SQLite and PostgreSQL, with a real SMTP server (aiosmtpd).

Accounts made by a users import and attached by a student-link import (not by AutoCreate) get
their activation email; what is asserted is what staff and parents see: the log rows, the
outbox, the emails the server received and whether their links work.
"""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from factories import LINK_HEADERS, SMALL_DISTRICT, input_table
from helpers import read_log, run_cli
from sqlalchemy import Engine, select, text
from test_activation import PASSWORD, refused
from test_outbox import LINK, MailServer, mail_server  # noqa: F401  (the fixture)

from backend.database.engine import write_transaction
from backend.database.models import Batch, OutboxMessage, PortalUser
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import activate, issue_token, verify_password
from backend.mail.activation_send import Choice, send_activation
from backend.mail.outbox import send_pending
from backend.mail.templates import set_template

USERS = (
    ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "STATUS", "LANGUAGE"],
    [
        ["ana@example.org", "Ana", "Ruiz", "GUARDIAN", None, None, "Spanish"],
        ["ben@example.org", "Ben", "Lee", "GUARDIAN", None, None, "English"],
        ["cal.lee", "Cal", "Lee", "STUDENT", None, None, None],  # a username, no EMAIL
        ["dan@example.org", "Dan", "Lee", "GUARDIAN", None, "DISABLED", None],
        ["eve@example.org", "Eve", "Lee", "GUARDIAN", None, None, "es-MX"],
    ],
)
LINKS = [
    ["ana@example.org", "00123", "Mother"],
    ["ben@example.org", "456", "Father"],
    ["cal.lee", "00123", "Self"],
    ["dan@example.org", "00123", "Father"],
    ["eve@example.org", "00123", "Aunt"],
]


@pytest.fixture
def district(engine: Engine) -> Engine:
    """Lincoln (101) and Wash (201); five accounts, Eve's activated already."""
    import_roster(engine, apply=True, **SMALL_DISTRICT.tables())
    users = import_users(engine, input_table(*USERS, source_name="users.xlsx"), apply=True)
    links = import_links(engine, input_table(LINK_HEADERS, LINKS), apply=True)
    assert users.counts["error"] == links.counts["error"] == 0
    with write_transaction(engine) as connection:
        eve = connection.execute(
            select(PortalUser.id).where(PortalUser.logon_key == "eve@example.org")
        ).scalar_one()
        token = issue_token(connection, eve)
    activate(engine, token, PASSWORD)
    return engine


def outbox(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.to_address, OutboxMessage.subject, OutboxMessage.status).order_by(
                OutboxMessage.id
            )
        )
        return [tuple(row) for row in rows]


def rows_of(path: Path) -> dict[str | None, tuple[str, str]]:
    """The log's rows: action and reason by logon."""
    _, rows = read_log(path)
    return {r.key: (r.action, r.reason or "") for r in rows}


def test_a_simulation_lists_who_would_get_an_email_and_why_not(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "activation.xlsx"
    result = run_cli(
        capsys, "--db", database_url, "activation", "send", "--school", "101", "--out", str(log)
    )
    assert result.code == 0, result.stderr
    assert "SIMULATION" in result.stdout and "Emails queued: 0" in result.stdout
    rows = rows_of(log)
    assert {key: action for key, (action, _) in rows.items()} == {
        "ana@example.org": "added",
        "cal.lee": "skipped",
        "dan@example.org": "skipped",
        "eve@example.org": "skipped",
    }
    assert rows["ana@example.org"][1] == (
        "Activation email to ana@example.org (template 'welcome')"
    )
    assert "no email address" in rows["cal.lee"][1]
    assert "disabled" in rows["dan@example.org"][1]
    assert "activated already" in rows["eve@example.org"][1]
    assert outbox(district) == []  # a simulation queues nothing
    with district.connect() as connection:
        batch = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert (batch.kind, batch.mode, batch.added, batch.skipped) == (
        "Activation emails",
        "simulation",
        1,
        3,
    )
    assert batch.options["school"] == "101"


def test_not_activated_picks_every_account_without_a_password(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "activation.xlsx"
    args = ("--db", database_url, "activation", "send", "--not-activated", "--out", str(log))
    assert run_cli(capsys, *args, "--apply").code == 0
    rows = rows_of(log)
    # Eve has a password: --not-activated leaves her out altogether.
    assert {key: action for key, (action, _) in rows.items()} == {
        "ana@example.org": "added",
        "ben@example.org": "added",
        "cal.lee": "skipped",
        "dan@example.org": "skipped",
    }
    assert outbox(district) == [
        ("ana@example.org", "Your parent portal account for Ava", "queued"),
        ("ben@example.org", "Your parent portal account for Max", "queued"),
    ]
    # Narrowed by school: only Wash's parent.
    assert run_cli(capsys, *args, "--school", "201").code == 0
    assert list(rows_of(log)) == ["ben@example.org"]


def test_a_batch_and_logons_choose_accounts_and_a_wrong_logon_is_an_error(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    more = input_table(
        ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
        [["fay@example.org", "Fay", "Ng", "GUARDIAN"]],
        source_name="new.xlsx",
    )
    batch = import_users(district, more, apply=True).batch_id
    log = tmp_path / "activation.xlsx"
    base = ("--db", database_url, "activation", "send", "--out", str(log))
    assert run_cli(capsys, *base, "--batch", str(batch)).code == 0
    assert list(rows_of(log)) == ["fay@example.org"]
    simulated = import_users(district, more).batch_id
    refused_batch = run_cli(capsys, *base, "--batch", str(simulated))
    assert refused_batch.code == 2 and (
        f"Batch {simulated} was a simulation and made no account" in refused_batch.stderr
    )
    result = run_cli(capsys, *base, "--logon", "BEN@example.org", "--logon", "nobody@example.org")
    assert result.code == 1
    rows = rows_of(log)
    assert rows["ben@example.org"][0] == "added"
    assert rows["nobody@example.org"] == (
        "error",
        "There is no account with logon 'nobody@example.org': check the spelling.",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Choose the accounts: --logon, --school, --batch or --not-activated"),
        (("--school", "999"), "There is no school with code '999'"),
        (("--batch", "999"), "There is no batch 999"),
        (("--logon", "ana@example.org", "--template", "nope"), "There is no email template 'nope'"),
    ],
)
def test_a_choice_that_cannot_be_used_saves_nothing(
    district: Engine,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    log = tmp_path / "activation.xlsx"
    result = run_cli(
        capsys, "--db", database_url, "activation", "send", *args, "--apply", "--out", str(log)
    )
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert outbox(district) == [] and not log.exists()


def received_token(server: MailServer, to: str) -> str:
    """The token of the newest email the server received for ``to``."""
    message = [m for m in server.received if m["To"] == to][-1]
    match = LINK.search(message.get_content())
    assert match is not None
    return parse_qs(urlsplit(match.group(0)).query)["token"][0]


def test_a_resent_link_replaces_the_old_one(
    district: Engine,
    mail_server: MailServer,  # noqa: F811
) -> None:
    ana = Choice(logons=["ana@example.org"])
    send_activation(district, ana, apply=True)
    assert send_pending(district, sleep=lambda _: None).sent == 1
    first = received_token(mail_server, "ana@example.org")

    again = send_activation(district, ana, apply=True)
    assert again.counts["added"] == 1
    assert send_pending(district, sleep=lambda _: None).sent == 1
    second = received_token(mail_server, "ana@example.org")
    assert second != first

    # The old link fails with the one same message as a link that never existed.
    assert refused(district, first) == refused(district, "no-such-token")
    assert not verify_password(district, "ana@example.org", PASSWORD)
    assert activate(district, second, PASSWORD) == "ana@example.org"
    assert verify_password(district, "ana@example.org", PASSWORD)
    # Activated now: a third run sends nothing.
    third = send_activation(district, ana, apply=True)
    assert third.counts == {"added": 0, "updated": 0, "removed": 0, "skipped": 1, "error": 0}


def test_an_unsent_email_is_replaced_by_a_newer_one(
    district: Engine,
    mail_server: MailServer,  # noqa: F811
) -> None:
    ben = Choice(logons=["ben@example.org"])
    send_activation(district, ben, apply=True)
    send_activation(district, ben, apply=True)
    report = send_pending(district, sleep=lambda _: None)
    assert (report.sent, report.skipped) == (1, 1)
    assert [status for _, _, status in outbox(district)] == ["skipped", "sent"]
    assert activate(district, received_token(mail_server, "ben@example.org"), PASSWORD)


def test_the_accounts_language_picks_the_template_variant(
    district: Engine,
    mail_server: MailServer,  # noqa: F811
) -> None:
    set_template(
        district,
        "welcome.es",
        "Su cuenta del portal para {{ student_names }}",
        "Estimada {{ guardian_name }}:\n\nEnlace: {{ activation_link | trim }}\n",
    )
    with district.begin() as connection:  # Eve has not set her password after all
        connection.execute(text("UPDATE portal_users SET password_hash = NULL"))
    report = send_activation(district, Choice(not_activated=True), apply=True)
    templates = {
        r.key: r.reason.rpartition("template ")[2] for r in report.results if r.action == "added"
    }
    assert templates == {
        "ana@example.org": "'welcome.es')",  # Spanish
        "ben@example.org": "'welcome')",  # English: no variant, the base template
        "eve@example.org": "'welcome.es')",  # es-MX
    }
    assert send_pending(district, sleep=lambda _: None).sent == 3
    subjects = {m["To"]: str(m["Subject"]) for m in mail_server.received}
    assert subjects == {
        "ana@example.org": "Su cuenta del portal para Ava",
        "ben@example.org": "Your parent portal account for Max",
        "eve@example.org": "Su cuenta del portal para Ava",
    }
    spanish = next(m for m in mail_server.received if m["To"] == "ana@example.org")
    assert "Estimada Ana Ruiz:" in spanish.get_content()
    assert activate(district, received_token(mail_server, "ana@example.org"), PASSWORD)
