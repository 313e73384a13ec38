"""The outbox against a real SMTP server (aiosmtpd, in-process), on SQLite and PostgreSQL.

The server can also take a message and hang up before confirming it, or hold its answer while
a `portal outbox send` process is killed: the two ways a message's confirmation is lost.

What is asserted is what a parent and an admin see: the messages the server received, the link
in them working, and the outbox rows' status, attempts and last error.
"""

import asyncio
import datetime as dt
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers import run_cli
from sqlalchemy import Engine, delete, select, update
from test_activation import PASSWORD, every_stored_text, make_accounts, refused, set_status

from backend.database.engine import write_transaction
from backend.database.models import ActivationToken, OutboxMessage, PortalUser, utcnow
from backend.errors import InputError
from backend.mail.activation import (
    ACTIVATION_LINK_MARK,
    INVALID_LINK,
    activate,
    token_hash,
    verify_password,
)
from backend.mail.outbox import (
    counts,
    list_messages,
    queue_message,
    queue_messages,
    release_stuck,
    send_pending,
)
from backend.settings import get_settings

SENDER = "Lincoln Schools <portal@lincoln.example.org>"
LINK = re.compile(r"https://portal\.example\.org/activate\?token=\S+")


def free_port() -> int:
    """A port nothing listens on (aiosmtpd's Controller cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailServer:
    """An aiosmtpd handler: keeps what it accepts, refuses what a test tells it to."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.busy_for = 0  # answer "451 try again" to this many next recipients
        self.unknown: set[str] = set()  # recipients answered "550 no such user"
        self.peers: list[Any] = []  # the client's address of each recipient: one per connection
        self.drop_for = 0  # take this many next messages, then hang up before confirming them
        self.hold_after = 0  # once this many messages arrived, take more but confirm none...
        self.holding = False  # ...while this is set

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.peers.append(session.peer)
        if address in self.unknown:
            return "550 5.1.1 No such user"
        if self.busy_for > 0:
            self.busy_for -= 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        wire = envelope.original_content.replace(b"\r\n", b"\n")  # read it as a mail client would
        received = message_from_bytes(wire, policy=policy.default)
        assert isinstance(received, EmailMessage)
        self.received.append(received)
        if self.drop_for > 0:
            self.drop_for -= 1
            server.transport.abort()  # the message was taken; its confirmation is lost
        while self.holding and len(self.received) > self.hold_after:
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


def point_settings_at(monkeypatch: pytest.MonkeyPatch, port: int, **more: str) -> None:
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_PORT", str(port))
    monkeypatch.setenv("PORTAL_MAIL_FROM", SENDER)
    for name, value in more.items():
        monkeypatch.setenv(f"PORTAL_{name.upper()}", value)
    get_settings.cache_clear()


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    point_settings_at(monkeypatch, controller.port)
    try:
        yield handler
    finally:
        controller.stop()


def queue(engine: Engine, *messages: dict[str, Any]) -> list[int]:
    """Queue messages the way AutoCreate does, in one write transaction; return their ids."""
    with write_transaction(engine) as connection:
        for message in messages:
            queue_message(connection, **{"user_id": None, "batch_id": None, **message})
    return [m.id for m in sorted(list_messages(engine, limit=1000), key=lambda m: m.id)]


def welcome(user_id: int | None, to_address: str) -> dict[str, Any]:
    return {
        "to_address": to_address,
        "subject": "Bienvenue au portail, Zoë",
        "body": f"Bonjour Zoë,\n\nChoose your password here:\n{ACTIVATION_LINK_MARK}\n\nMerci.",
        "user_id": user_id,
    }


def rows(engine: Engine) -> dict[str, Any]:
    """Outbox rows by recipient."""
    with engine.connect() as connection:
        return {r.to_address: r for r in connection.execute(select(OutboxMessage))}


def token_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(ActivationToken).order_by(ActivationToken.id)))


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives back times without their zone; all stored times are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def token_in(received: EmailMessage) -> str:
    [link] = LINK.findall(received.get_content())
    return parse_qs(urlsplit(link).query)["token"][0]


def test_activation_messages_are_delivered_once_and_their_links_work(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    outbox_ids = queue(
        engine,
        welcome(ids["ann@example.org"], "ann@example.org"),
        welcome(ids["bob@example.org"], "bob@example.org"),
    )
    pauses: list[float] = []
    report = send_pending(engine, sleep=pauses.append)
    assert (report.sent, report.retried, report.failed, report.skipped) == (2, 0, 0, 0)
    assert (report.stuck, report.waiting, report.error) == (0, 0, None)

    first, second = mail_server.received
    assert first["From"] == SENDER
    assert [first["To"], second["To"]] == ["ann@example.org", "bob@example.org"]
    assert first["Subject"] == "Bienvenue au portail, Zoë"
    assert first["Message-ID"] == f"<outbox.{outbox_ids[0]}@lincoln.example.org>"
    assert first.get_content_type() == "text/plain"
    assert first.get_content_charset() == "utf-8"
    body = first.get_content()
    assert body.startswith("Bonjour Zoë,") and ACTIVATION_LINK_MARK not in body
    assert token_in(first) != token_in(second)

    stored = rows(engine)
    assert [(r.status, r.attempts, r.last_error) for r in stored.values()] == [
        ("sent", 1, None)
    ] * 2
    assert all(r.sent_at is not None for r in stored.values())
    assert counts(engine) == {"queued": 0, "sending": 0, "sent": 2, "failed": 0, "skipped": 0}
    for received in (first, second):
        assert token_in(received) not in every_stored_text(engine)

    assert activate(engine, token_in(first), PASSWORD) == "ann@example.org"
    assert verify_password(engine, "ann@example.org", PASSWORD)
    assert not verify_password(engine, "bob@example.org", PASSWORD)

    again = send_pending(engine, sleep=pauses.append)
    assert (again.sent, again.retried, again.failed, again.skipped) == (0, 0, 0, 0)
    assert len(mail_server.received) == 2


def test_a_message_without_a_link_makes_no_token(engine: Engine, mail_server: MailServer) -> None:
    queue(engine, {"to_address": "office@example.org", "subject": "Report", "body": "Done."})
    assert send_pending(engine).sent == 1
    assert mail_server.received[0].get_content() == "Done.\n"
    with engine.connect() as connection:
        assert connection.execute(select(ActivationToken)).first() is None


def test_a_temporary_refusal_is_retried_later_then_sent(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "ann@example.org")
    queue(engine, welcome(ids["ann@example.org"], "ann@example.org"))
    mail_server.busy_for = 1
    now = utcnow() + dt.timedelta(seconds=1)

    first = send_pending(engine, now=now)
    assert (first.sent, first.retried, first.failed, first.waiting) == (0, 1, 0, 1)
    row = rows(engine)["ann@example.org"]
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "451 4.3.0 Try again later")
    assert aware(row.next_attempt_at) == now + dt.timedelta(minutes=1)
    refused_link = token_rows(engine)  # kept: the next attempt carries the same link
    assert len(refused_link) == 1

    too_soon = send_pending(engine, now=now + dt.timedelta(seconds=59))
    assert (too_soon.sent, too_soon.retried, too_soon.waiting) == (0, 0, 1)

    later = send_pending(engine, now=now + dt.timedelta(minutes=1))
    assert (later.sent, later.retried, later.failed, later.waiting) == (1, 0, 0, 0)
    row = rows(engine)["ann@example.org"]
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    [received] = mail_server.received
    [token] = token_rows(engine)
    assert token.token_hash == refused_link[0].token_hash == token_hash(token_in(received))
    assert activate(engine, token_in(received), PASSWORD) == "ann@example.org"


def test_temporary_refusals_fail_the_message_after_the_allowed_attempts(
    engine: Engine, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SEND_ATTEMPTS", "4")
    get_settings.cache_clear()
    queue(engine, {"to_address": "ann@example.org", "subject": "Hello", "body": "Hi."})
    mail_server.busy_for = 100
    now = utcnow() + dt.timedelta(seconds=1)
    waits = []
    for _ in range(3):
        assert send_pending(engine, now=now).retried == 1
        row = rows(engine)["ann@example.org"]
        waits.append(aware(row.next_attempt_at) - now)
        now = aware(row.next_attempt_at)
    assert waits == [dt.timedelta(minutes=m) for m in (1, 2, 4)]
    last = send_pending(engine, now=now)
    assert (last.sent, last.retried, last.failed, last.waiting) == (0, 0, 1, 0)
    row = rows(engine)["ann@example.org"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "451 4.3.0 Try again later")
    assert send_pending(engine, now=now + dt.timedelta(days=1)).retried == 0
    assert mail_server.received == []


def test_a_permanent_refusal_fails_at_once_and_the_run_goes_on(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "gone@example.org", "ann@example.org")
    mail_server.unknown = {"gone@example.org"}
    queue(
        engine,
        welcome(ids["gone@example.org"], "gone@example.org"),
        welcome(ids["ann@example.org"], "ann@example.org"),
    )
    report = send_pending(engine)
    assert (report.sent, report.retried, report.failed) == (1, 0, 1)
    gone = rows(engine)["gone@example.org"]
    assert (gone.status, gone.attempts, gone.last_error) == ("failed", 1, "550 5.1.1 No such user")
    assert [m["To"] for m in mail_server.received] == ["ann@example.org"]
    assert len(set(mail_server.peers)) == 2  # a fresh connection after the refusal
    with engine.connect() as connection:  # only the delivered message's token exists
        assert connection.execute(select(ActivationToken.user_id)).scalars().all() == [
            ids["ann@example.org"]
        ]
    assert send_pending(engine, now=utcnow() + dt.timedelta(days=1)).failed == 0
    assert [m.to_address for m in list_messages(engine, status="failed")] == ["gone@example.org"]


def test_a_message_left_sending_is_never_sent_again_by_itself(
    engine: Engine, mail_server: MailServer
) -> None:
    [crashed, fresh] = queue(
        engine,
        {"to_address": "ann@example.org", "subject": "One", "body": "1"},
        {"to_address": "bob@example.org", "subject": "Two", "body": "2"},
    )
    with write_transaction(engine) as connection:  # what a crash after the claim leaves
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == crashed)
            .values(status="sending", attempts=1)
        )
    report = send_pending(engine)
    assert (report.sent, report.stuck) == (1, 1)
    assert [m["To"] for m in mail_server.received] == ["bob@example.org"]
    assert send_pending(engine, now=utcnow() + dt.timedelta(days=1)).sent == 0
    assert [m.id for m in list_messages(engine, status="sending")] == [crashed]

    assert release_stuck(engine, [crashed, fresh, 999]) == [crashed]
    report = send_pending(engine)
    assert (report.sent, report.stuck) == (1, 0)
    assert [m["To"] for m in mail_server.received] == ["bob@example.org", "ann@example.org"]
    # A re-send carries the Message-ID the first hand-off would have had.
    assert mail_server.received[1]["Message-ID"] == f"<outbox.{crashed}@lincoln.example.org>"
    assert rows(engine)["ann@example.org"].attempts == 2


def test_sending_is_throttled_to_send_per_minute(
    engine: Engine, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SEND_PER_MINUTE", "30")
    get_settings.cache_clear()
    queue(
        engine,
        *({"to_address": f"p{n}@example.org", "subject": "S", "body": "B"} for n in range(4)),
    )
    pauses: list[float] = []
    progress: list[tuple[str, int, int]] = []
    report = send_pending(engine, sleep=pauses.append, progress=lambda *a: progress.append(a))
    assert report.sent == 4
    # Two seconds from one hand-off to the next, less the time the hand-off itself took.
    assert len(pauses) == 3
    assert all(1.0 < pause <= 2.0 for pause in pauses), pauses
    assert progress[0] == ("Sending messages", 0, 4) and progress[-1] == ("Sending messages", 4, 4)
    assert len(set(mail_server.peers)) == 1  # one connection for the whole run


def test_messages_of_a_rolled_back_transaction_do_not_exist(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_transaction(engine) as connection:
        queue_message(
            connection,
            to_address="ann@example.org",
            subject="Welcome",
            body="Hello",
            user_id=None,
            batch_id=None,
        )
        raise RuntimeError("the batch failed")
    assert counts(engine)["queued"] == 0
    assert list_messages(engine) == []

    many = [{"to_address": f"p{n}@example.org", "subject": "S", "body": "B"} for n in range(1200)]
    with write_transaction(engine) as connection:
        queue_messages(connection, many)
    assert counts(engine) == {"queued": 1200, "sending": 0, "sent": 0, "failed": 0, "skipped": 0}
    assert len(list_messages(engine, status="queued", limit=2000)) == 1200
    with pytest.raises(InputError, match="Unknown message status 'lost'"):
        list_messages(engine, status="lost")


def test_activation_messages_no_longer_needed_are_skipped(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    queue(
        engine,
        welcome(ids["ann@example.org"], "ann@example.org"),
        welcome(ids["bob@example.org"], "bob@example.org"),
    )
    with write_transaction(engine) as connection:  # Bob's account is deleted before sending
        connection.execute(delete(PortalUser).where(PortalUser.id == ids["bob@example.org"]))
    report = send_pending(engine)
    assert (report.sent, report.skipped) == (1, 1)
    bob = rows(engine)["bob@example.org"]
    assert (bob.status, bob.attempts) == ("skipped", 0)
    assert "no longer exists" in bob.last_error

    activate(engine, token_in(mail_server.received[0]), PASSWORD)
    queue(engine, welcome(ids["ann@example.org"], "ann@example.org"))  # a reminder, too late
    report = send_pending(engine)
    assert (report.sent, report.skipped) == (0, 1)
    [reminder] = list_messages(engine, limit=1)
    assert reminder.status == "skipped" and "already has a password" in reminder.last_error
    assert len(mail_server.received) == 1
    assert verify_password(engine, "ann@example.org", PASSWORD)


def test_an_unsafe_header_fails_the_message_without_sending(
    engine: Engine, mail_server: MailServer
) -> None:
    queue(engine, {"to_address": "ann@example.org", "subject": "Hi\nBcc: x@evil.test", "body": "B"})
    report = send_pending(engine)
    assert (report.sent, report.failed) == (0, 1)
    row = rows(engine)["ann@example.org"]
    assert row.status == "failed" and row.attempts == 0
    assert "cannot be sent" in row.last_error and "linefeed" in row.last_error
    assert mail_server.received == []


def test_an_unreachable_server_touches_no_message(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_settings_at(monkeypatch, free_port())
    queue(engine, {"to_address": "ann@example.org", "subject": "S", "body": "B"})
    report = send_pending(engine)
    assert report.sent == report.retried == report.failed == 0
    assert report.error is not None
    assert "could not be used: Connection to the mail server failed" in report.error
    assert "Connection refused" in report.error
    row = rows(engine)["ann@example.org"]
    assert (row.status, row.attempts) == ("queued", 0)
    assert report.waiting == 1


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that the client trusts through SSL_CERT_FILE."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_encrypted_connections_with_a_login(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, security: str
) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    handler = MailServer()
    if security == "ssl":
        options: dict[str, Any] = {"ssl_context": server_context, "auth_require_tls": False}
    else:
        options = {"tls_context": server_context, "require_starttls": True}
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, **options
    )
    controller.start()
    try:
        point_settings_at(
            monkeypatch,
            controller.port,
            smtp_security=security,
            smtp_user="portal",
            smtp_password="wrong",
        )
        queue(engine, {"to_address": "ann@example.org", "subject": "S", "body": "B"})
        refused = send_pending(engine)
        assert refused.error is not None and "535" in refused.error
        assert rows(engine)["ann@example.org"].attempts == 0

        point_settings_at(monkeypatch, controller.port, smtp_password="s3cret")
        assert send_pending(engine).sent == 1
        assert [m["To"] for m in handler.received] == ["ann@example.org"]
        # smtplib tries each offered mechanism before it gives up on a password.
        assert set(logins[:-1]) == {(b"portal", b"wrong")}
        assert logins[-1] == (b"portal", b"s3cret")
    finally:
        controller.stop()


def test_an_unknown_security_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_SMTP_SECURITY", "tls13")
    get_settings.cache_clear()
    with pytest.raises(InputError, match="PORTAL_SMTP_SECURITY is 'tls13'"):
        send_pending(engine=None)  # type: ignore[arg-type]


def outbox_list(capsys: pytest.CaptureFixture[str], database_url: str, *more: str) -> str:
    """What `portal outbox list` prints."""
    result = run_cli(capsys, "--db", database_url, "outbox", "list", *more)
    assert result.code == 0, result
    return result.stdout


def test_a_disabled_account_gets_no_message_queued_or_retried(
    engine: Engine,
    database_url: str,
    mail_server: MailServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = ["ann@example.org", "bob@example.org", "cal@example.org", "dee@example.org"]
    ids = make_accounts(engine, *people)
    set_status(engine, "DISABLED", "ann@example.org")  # before queueing
    queue(engine, *(welcome(ids[p], p) for p in people))
    assert rows(engine)["ann@example.org"].status == "skipped"  # dropped as it was queued
    set_status(engine, "DISABLED", "bob@example.org")  # before sending
    mail_server.busy_for = 1  # Cal's first attempt is refused for now...
    now = utcnow() + dt.timedelta(seconds=1)
    first = send_pending(engine, now=now)
    assert (first.sent, first.retried, first.skipped) == (1, 1, 1)
    set_status(engine, "DISABLED", "cal@example.org")  # ...and Cal is disabled before the retry
    retry = send_pending(engine, now=now + dt.timedelta(hours=1))
    assert (retry.sent, retry.retried, retry.skipped, retry.waiting) == (0, 0, 1, 0)
    assert [m["To"] for m in mail_server.received] == ["dee@example.org"]

    reason = "The account is disabled; the message was not sent."
    stored = rows(engine)
    assert [(stored[p].status, stored[p].last_error) for p in people[:3]] == [
        ("skipped", reason)
    ] * 3
    assert [stored[p].attempts for p in people[:3]] == [0, 0, 1]
    shown = outbox_list(capsys, database_url)
    assert "0 queued, 0 sending, 1 sent, 0 failed, 3 skipped" in shown
    assert [line for line in shown.splitlines() if reason in line and "skipped" in line] == [
        line for line in shown.splitlines() if any(p in line for p in people[:3])
    ]
    assert len([line for line in shown.splitlines() if reason in line]) == 3
    with engine.connect() as connection:  # Cal's link of the refused attempt is gone
        assert connection.execute(select(ActivationToken.user_id)).scalars().all() == [
            ids["dee@example.org"]
        ]
    set_status(engine, "ACTIVE", "ann@example.org", "bob@example.org", "cal@example.org")
    assert send_pending(engine, now=now + dt.timedelta(days=1)).sent == 0


def test_a_lost_confirmation_brings_the_same_link_twice_and_it_works_once(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    queue(
        engine,
        welcome(ids["ann@example.org"], "ann@example.org"),
        welcome(ids["bob@example.org"], "bob@example.org"),
    )
    mail_server.drop_for = 2  # both taken, neither confirmed
    now = utcnow() + dt.timedelta(seconds=1)
    first = send_pending(engine, now=now)
    assert (first.sent, first.retried, first.failed, first.waiting) == (0, 2, 0, 2)
    assert "Connection to the mail server failed" in rows(engine)["ann@example.org"].last_error
    assert len(set(mail_server.peers)) == 2  # a fresh connection after the drop

    set_status(engine, "DISABLED", "bob@example.org")  # Bob's copy did arrive; then he is shut
    again = send_pending(engine, now=now + dt.timedelta(minutes=1))
    assert (again.sent, again.retried, again.skipped, again.waiting) == (1, 0, 1, 0)
    ann_first, bob_only, ann_again = mail_server.received
    assert [m["To"] for m in (ann_first, bob_only, ann_again)] == [
        "ann@example.org",
        "bob@example.org",
        "ann@example.org",
    ]
    assert token_in(ann_first) == token_in(ann_again)  # one message, one link
    assert ann_first["Message-ID"] == ann_again["Message-ID"]
    assert token_in(ann_first) not in every_stored_text(engine)
    assert [r.user_id for r in token_rows(engine)] == [ids["ann@example.org"]]
    assert activate(engine, token_in(ann_again), PASSWORD) == "ann@example.org"
    assert refused(engine, token_in(ann_first)) == INVALID_LINK

    assert refused(engine, token_in(bob_only)) == INVALID_LINK
    set_status(engine, "ACTIVE", "bob@example.org")
    assert refused(engine, token_in(bob_only)) == INVALID_LINK  # enabling revives no link
    assert not verify_password(engine, "bob@example.org", PASSWORD)


def test_a_new_message_replaces_the_accounts_old_link(
    engine: Engine, mail_server: MailServer
) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    queue(
        engine,
        welcome(ids["bob@example.org"], "bob@example.org"),
        welcome(ids["ann@example.org"], "ann@example.org"),
    )
    mail_server.busy_for = 1  # Bob's is refused for now; Ann's goes out
    now = utcnow() + dt.timedelta(seconds=1)
    first = send_pending(engine, now=now)
    assert (first.sent, first.retried) == (1, 1)
    # Both ask for a new email (a new message each) before Bob's first is retried.
    queue(
        engine,
        welcome(ids["ann@example.org"], "ann@example.org"),
        welcome(ids["bob@example.org"], "bob@example.org"),
    )
    now = utcnow() + dt.timedelta(seconds=1)
    second = send_pending(engine, now=now)
    assert (second.sent, second.retried, second.waiting) == (2, 0, 1)
    later = send_pending(engine, now=now + dt.timedelta(minutes=1))
    assert (later.sent, later.skipped, later.waiting) == (0, 1, 0)

    old_ann, new_ann, bob = mail_server.received
    assert [m["To"] for m in (old_ann, new_ann, bob)] == [
        "ann@example.org",
        "ann@example.org",
        "bob@example.org",
    ]
    assert token_in(old_ann) != token_in(new_ann)
    assert refused(engine, token_in(old_ann)) == INVALID_LINK
    assert activate(engine, token_in(new_ann), PASSWORD) == "ann@example.org"
    assert activate(engine, token_in(bob), PASSWORD) == "bob@example.org"
    first_bob = min((r for r in rows_of(engine) if r.to_address == "bob@example.org"), key=id_of)
    assert (first_bob.status, first_bob.attempts) == ("skipped", 1)
    assert "newer activation message" in first_bob.last_error


def rows_of(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(OutboxMessage).order_by(OutboxMessage.id)))


def id_of(row: Any) -> int:
    return int(row.id)


def test_release_spares_messages_a_run_may_still_be_sending(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [old, recent, done] = queue(
        engine,
        *({"to_address": f"{n}@example.org", "subject": "S", "body": "B"} for n in "abc"),
    )
    now = utcnow()
    with write_transaction(engine) as connection:
        for message_id, status, minutes in ((old, "sending", 30), (recent, "sending", 2)):
            connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(status=status, attempts=1, claimed_at=now - dt.timedelta(minutes=minutes))
            )
        connection.execute(
            update(OutboxMessage).where(OutboxMessage.id == done).values(status="sent")
        )
    shown = outbox_list(capsys, database_url, "--status", "sending").splitlines()
    assert [line for line in shown if "sending for" in line] == [
        next(line for line in shown if "b@example.org" in line and "sending for 2 min" in line),
        next(line for line in shown if "a@example.org" in line and "sending for 30 min" in line),
    ]
    assert release_stuck(engine, older_than=dt.timedelta(minutes=10), now=now) == [old]
    assert release_stuck(engine, older_than=dt.timedelta(minutes=10), now=now) == []
    assert release_stuck(engine, now=now) == [recent]
    assert counts(engine) == {"queued": 2, "sending": 0, "sent": 1, "failed": 0, "skipped": 0}


def test_a_send_killed_while_the_server_answers_leaves_one_message_to_release(
    engine: Engine,
    database_url: str,
    mail_server: MailServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = ["ann@example.org", "bob@example.org", "cal@example.org"]
    ids = make_accounts(engine, *people)
    queue(engine, *(welcome(ids[p], p) for p in people))
    mail_server.hold_after, mail_server.holding = 1, True  # Ann's is confirmed, Bob's waits...
    portal = Path(sys.executable).with_name("portal")
    sender = subprocess.Popen(
        [str(portal), "--db", database_url, "outbox", "send"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(mail_server.received) < 2:
        assert sender.poll() is None, sender.communicate()
        assert time.monotonic() < deadline, "the sender never reached the second message"
        time.sleep(0.02)
    os.kill(sender.pid, signal.SIGKILL)  # ...when the sender is killed
    assert sender.wait(timeout=30) == -signal.SIGKILL
    mail_server.holding = False
    stuck = rows(engine)["bob@example.org"]
    assert (stuck.status, stuck.attempts, stuck.sent_at) == ("sending", 1, None)

    shown = outbox_list(capsys, database_url)
    assert "1 queued, 1 sending, 1 sent, 0 failed, 0 skipped" in shown
    [line] = [line for line in shown.splitlines() if "bob@example.org" in line]
    assert "sending for under a minute" in line

    sent = run_cli(capsys, "--db", database_url, "outbox", "send")
    assert sent.code == 0, sent
    assert "Found 1 message(s) left 'sending' by an interrupted run" in sent.stdout
    assert "Sent 1, to retry later 0, failed 0, skipped 0, still waiting 0." in sent.stdout
    assert [m["To"] for m in mail_server.received] == people  # Bob's was not sent again

    spared = run_cli(capsys, "--db", database_url, "outbox", "release")
    assert spared.code == 0 and "nothing to release" in spared.stdout
    assert "1 message(s) have been 'sending' for less than 10 min" in spared.stdout
    released = run_cli(capsys, "--db", database_url, "outbox", "release", "--older-than", "0")
    assert f"Put 1 message(s) back in the queue: {stuck.id}." in released.stdout
    assert "may arrive twice, with the same link" in released.stdout
    again = run_cli(capsys, "--db", database_url, "outbox", "send")
    assert "Sent 1," in again.stdout and "Found" not in again.stdout

    bob_held, bob_again = (m for m in mail_server.received if m["To"] == "bob@example.org")
    assert token_in(bob_held) == token_in(bob_again)
    assert rows(engine)["bob@example.org"].attempts == 2
    assert activate(engine, token_in(bob_held), PASSWORD) == "bob@example.org"
    assert refused(engine, token_in(bob_again)) == INVALID_LINK
    assert counts(engine) == {"queued": 0, "sending": 0, "sent": 3, "failed": 0, "skipped": 0}


def test_a_resend_on_request_carries_a_new_link_that_replaces_the_old_one(
    engine: Engine, database_url: str, mail_server: MailServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = make_accounts(engine, "ann@example.org", "bob@example.org")
    [ann, bob] = queue(
        engine,
        welcome(ids["ann@example.org"], "ann@example.org"),
        welcome(ids["bob@example.org"], "bob@example.org"),
    )
    early = run_cli(capsys, "--db", database_url, "outbox", "resend", str(ann))
    assert early.code == 2 and f"Message {ann} is still queued" in early.stderr
    assert send_pending(engine).sent == 2

    again = run_cli(capsys, "--db", database_url, "outbox", "resend", str(ann))
    assert again.code == 0
    assert (
        again.stdout.split()
        == (
            f"Queued message {bob + 1}, a copy of message {ann}: `portal outbox send` sends it."
        ).split()
    )
    set_status(engine, "DISABLED", "bob@example.org")
    shut = run_cli(capsys, "--db", database_url, "outbox", "resend", str(bob))
    assert shut.code == 0 and "The account is disabled; the message was not sent." in shut.stdout
    missing = run_cli(capsys, "--db", database_url, "outbox", "resend", "999")
    assert missing.code == 2 and "There is no message 999" in missing.stderr

    assert send_pending(engine, now=utcnow() + dt.timedelta(seconds=1)).sent == 1
    first, _, copy = mail_server.received
    assert copy["To"] == "ann@example.org" and copy["Subject"] == first["Subject"]
    assert token_in(copy) != token_in(first)
    assert refused(engine, token_in(first)) == INVALID_LINK
    assert activate(engine, token_in(copy), PASSWORD) == "ann@example.org"
