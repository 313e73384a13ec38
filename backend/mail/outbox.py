"""The outbox: mail queued in the transaction that made its account, sent after that commits.

Queuing is one INSERT in the caller's transaction, so a simulation or a
rolled-back batch leaves no message. ``send_pending`` delivers what is due::

    queued --claim, commit--> sending --server accepts--> sent
                                 |---- 4xx reply / connection lost --> queued (later), and
                                 |     failed once ``send_attempts`` attempts are spent
                                 '---- 5xx reply --------------------> failed
    queued --the account is gone or already has a password--> skipped

A message is marked ``sending`` and committed *before* the server sees it, and only ``queued``
messages are ever picked up. A crash in between leaves it ``sending`` for good: it may or may
not have been delivered, so it is never sent again on its own; ``release_stuck`` lets an admin
who has checked put it back.

Activation links: the token is issued in the transaction that claims the message (the one that
commits ``sending``). So every message the server accepts carries a link that works, even if the
process dies right after the hand-off. When the server refuses the message, the token is deleted
with the refusal; when the connection is lost mid-send (delivered or not, nobody can tell) it
stays. A token the message never carried is harmless: its raw value existed only in this
process's memory, and it expires after ``activation_hours``. Activation spends all of an
account's tokens, so a retried message's older links die with the first use.
"""

import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from backend.database.engine import read_transaction, write_transaction
from backend.database.models import ActivationToken, OutboxMessage, PortalUser, utcnow
from backend.errors import InputError
from backend.imports.contract import CHUNK, Progress, no_progress
from backend.mail.activation import (
    ACTIVATION_LINK_MARK,
    activation_link,
    as_utc,
    issue_token,
    token_hash,
)
from backend.settings import Settings, get_settings

STATUSES = ("queued", "sending", "sent", "failed", "skipped")
SECURITY_MODES = ("none", "starttls", "ssl")
MAX_BACKOFF = timedelta(hours=1)
SMTP_TIMEOUT_S = 30
PAGE = 500  # messages read per query: a district's first mailing is tens of thousands

_GONE = "The account no longer exists, so there is nothing to activate; the message was not sent."
_ACTIVE = "The account already has a password; the activation message was not sent."


@dataclass
class SendReport:
    """What one ``send_pending`` run did, in numbers an admin can read at a glance."""

    sent: int = 0
    retried: int = 0  # refused for now (4xx, lost connection): queued again for later
    failed: int = 0  # refused for good (5xx) or out of attempts
    skipped: int = 0  # no longer needed: the account is gone or already activated
    stuck: int = 0  # left ``sending`` by an interrupted run: see ``release_stuck``
    waiting: int = 0  # still queued after the run, waiting for their next attempt
    error: str | None = None  # why the run stopped early: the mail server could not be used


def queue_message(
    connection: Connection,
    *,
    to_address: str,
    subject: str,
    body: str,
    user_id: int | None,
    batch_id: int | None,
) -> None:
    """Queue one message in the caller's transaction: it exists only if that transaction commits."""
    queue_messages(
        connection,
        [
            {
                "to_address": to_address,
                "subject": subject,
                "body": body,
                "user_id": user_id,
                "batch_id": batch_id,
            }
        ],
    )


def queue_messages(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Queue many messages with bulk inserts (AutoCreate queues thousands in one batch).

    Each row has ``to_address``, ``subject``, ``body`` and optionally ``user_id``, ``batch_id``.
    """
    now = utcnow()
    statement = insert(OutboxMessage).execution_options(render_nulls=True)
    for start in range(0, len(rows), CHUNK):
        connection.execute(
            statement,
            [
                {
                    "to_address": row["to_address"],
                    "subject": row["subject"],
                    "body": row["body"],
                    "user_id": row.get("user_id"),
                    "batch_id": row.get("batch_id"),
                    "status": "queued",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": None,
                    "created_at": now,
                    "sent_at": None,
                }
                for row in rows[start : start + CHUNK]
            ],
        )


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InputError(f"Unknown message status '{status}': use one of {', '.join(STATUSES)}.")


def list_messages(
    engine: Engine, status: str | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """The newest messages first, optionally only those with one status."""
    _check_status(status)
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    with read_transaction(engine) as connection:
        return [OutboxMessage(**row._mapping) for row in connection.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    """How many messages have each status; every status is listed, with 0 when there are none."""
    with read_transaction(engine) as connection:
        found = connection.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {status: 0 for status in STATUSES} | {status: n for status, n in found}


def release_stuck(engine: Engine, ids: Iterable[int], *, now: datetime | None = None) -> list[int]:
    """Put messages left ``sending`` back in the queue; return the ids that were released.

    Only for an admin who has checked that they were not delivered (or accepts a duplicate):
    nothing else ever moves a message out of ``sending``.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    stuck = (OutboxMessage.id.in_(wanted), OutboxMessage.status == "sending")
    with write_transaction(engine) as connection:
        released = list(connection.execute(select(OutboxMessage.id).where(*stuck)).scalars())
        connection.execute(
            update(OutboxMessage).where(*stuck).values(status="queued", next_attempt_at=as_utc(now))
        )
    return sorted(released)


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th temporary failure: 1, 2, 4, 8... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _due(engine: Engine, now: datetime) -> Iterator[OutboxMessage]:
    """Queued messages due by ``now`` in id order, a page at a time, with no transaction held."""
    after = 0
    while True:
        with read_transaction(engine) as connection:
            page = [
                OutboxMessage(**row._mapping)
                for row in connection.execute(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "queued",
                        OutboxMessage.next_attempt_at <= now,
                        OutboxMessage.id > after,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(PAGE)
                )
            ]
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def _compose(message: OutboxMessage, settings: Settings, now: datetime) -> EmailMessage:
    """Headers of the email; raises ValueError for a header that would be unsafe to send."""
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    # The same outbox row always carries the same Message-ID, so a re-send can be recognised.
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = f"<outbox.{message.id}@{domain}>"
    return email


class _Mailer:
    """One SMTP connection for a whole run, opened again after anything goes wrong with it."""

    def __init__(self, settings: Settings, security: str) -> None:
        self.settings = settings
        self.security = security
        self.smtp: smtplib.SMTP | None = None

    def ready(self) -> smtplib.SMTP:
        """A connection that answered just now: a message is claimed only when one exists."""
        if self.smtp is not None:
            try:
                if self.smtp.noop()[0] == 250:
                    return self.smtp
            except (smtplib.SMTPException, OSError):
                pass
            self.drop()
        self.smtp = self._connect()
        return self.smtp

    def _connect(self) -> smtplib.SMTP:
        host, port = self.settings.smtp_host, self.settings.smtp_port
        smtp: smtplib.SMTP
        if self.security == "ssl":
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.smtp_user:
                smtp.login(self.settings.smtp_user, self.settings.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def drop(self, *, polite: bool = False) -> None:
        """Forget the connection; say goodbye only when it is known to be healthy."""
        if self.smtp is None:
            return
        try:
            if polite:
                self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.smtp.close()
            self.smtp = None


@dataclass(frozen=True)
class _Refusal:
    """How a failed hand-off is handled: retried or not, and whether the server surely said no."""

    permanent: bool
    definite: bool  # the server replied with a refusal: the message was certainly not taken
    text: str


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def _refusal(exc: Exception) -> _Refusal:
    """Sort a failed send by the server's reply: 5xx is final, 4xx and lost connections retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, message = next(iter(exc.recipients.values()))
        return _Refusal(500 <= code <= 599, True, _reply(code, message))
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 400:
        code = exc.smtp_code
        return _Refusal(500 <= code <= 599, True, _reply(code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Refusal(True, True, f"The mail server cannot take this message: {exc}")
    return _Refusal(
        False, False, f"Connection to the mail server failed: {exc or type(exc).__name__}"
    )


def _claim(
    engine: Engine, message: OutboxMessage, needs_link: bool, now: datetime
) -> tuple[Literal["claimed", "skipped", "taken"], str]:
    """Mark the message ``sending`` and commit, with its activation token ('' when it has none).

    "taken" means another run claimed the message first; "skipped" that it is no longer needed.
    """
    with write_transaction(engine) as connection:
        current = connection.execute(
            select(OutboxMessage.status, OutboxMessage.user_id).where(
                OutboxMessage.id == message.id
            )
        ).first()
        if current is None or current.status != "queued":
            return "taken", ""
        if needs_link:
            reason = _no_link_reason(connection, current.user_id)
            if reason:
                connection.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.id)
                    .values(status="skipped", last_error=reason)
                )
                return "skipped", ""
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(status="sending", attempts=OutboxMessage.attempts + 1)
        )
        token = issue_token(connection, current.user_id, now=now) if needs_link else ""
        return "claimed", token


def _no_link_reason(connection: Connection, user_id: int | None) -> str | None:
    """Why an activation message must not go out, or None when its account still needs it."""
    has_password = None
    if user_id is not None:
        has_password = connection.execute(
            select(PortalUser.password_hash.is_not(None)).where(PortalUser.id == user_id)
        ).scalar_one_or_none()
    if has_password is None:
        return _GONE
    return _ACTIVE if has_password else None


def _settle(
    engine: Engine, message_id: int, expected: str, values: dict[str, Any], token: str = ""
) -> None:
    """Record how a hand-off ended; ``token`` is deleted with it when the server surely refused."""
    with write_transaction(engine) as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == expected)
            .values(values)
        )
        if token:
            connection.execute(
                delete(ActivationToken).where(ActivationToken.token_hash == token_hash(token))
            )


def send_pending(
    engine: Engine,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> SendReport:
    """Send every queued message that is due, at most ``send_per_minute``; report what happened.

    ``now`` fixes the clock (tests); ``sleep`` is how the run waits between messages. A run stops
    early, touching no further message, when the mail server cannot be reached or refuses the
    login: ``SendReport.error`` says why.
    """
    settings = settings or get_settings()
    progress = progress or no_progress
    security = settings.smtp_security.strip().lower()
    if security not in SECURITY_MODES:
        raise InputError(
            f"PORTAL_SMTP_SECURITY is '{settings.smtp_security}': "
            f"use one of {', '.join(SECURITY_MODES)}."
        )
    run = _SendRun(engine, settings, _Mailer(settings, security), now, sleep)
    total = _count_due(engine, run.started)
    try:
        for done, message in enumerate(_due(engine, run.started)):
            progress("Sending messages", done, total)
            if not run.send(message):
                break
        else:
            progress("Sending messages", total, total)
    finally:
        run.mailer.drop(polite=True)
    tally = counts(engine)
    run.report.stuck, run.report.waiting = tally["sending"], tally["queued"]
    return run.report


def _count_due(engine: Engine, started: datetime) -> int:
    with read_transaction(engine) as connection:
        return connection.execute(
            select(func.count()).where(
                OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= started
            )
        ).scalar_one()


class _SendRun:
    """One ``send_pending`` run: its clock, its pace, its connection and its tally."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        mailer: _Mailer,
        now: datetime | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.now = now
        self.sleep = sleep
        per_minute = settings.send_per_minute
        self.interval = 60 / per_minute if per_minute > 0 else 0.0
        self.attempts_allowed = max(settings.send_attempts, 1)
        self.envelope_from = parseaddr(settings.mail_from)[1]
        self.last_hand_off: float | None = None
        self.report = SendReport()
        self.started = self.clock()

    def clock(self) -> datetime:
        return as_utc(self.now)

    def send(self, message: OutboxMessage) -> bool:
        """Deliver one message; False when the mail server cannot be used, which ends the run."""
        try:
            email = _compose(message, self.settings, self.clock())
        except ValueError as exc:
            failure = {"status": "failed", "last_error": f"The message cannot be sent: {exc}"}
            _settle(self.engine, message.id, "queued", failure)
            self.report.failed += 1
            return True
        self._pace()
        try:
            smtp = self.mailer.ready()
        except (smtplib.SMTPException, OSError) as exc:
            self.report.error = (
                f"The mail server {self.settings.smtp_host}:{self.settings.smtp_port} could not "
                f"be used: {_refusal(exc).text}. The remaining messages stay queued, untouched."
            )
            return False
        needs_link = ACTIVATION_LINK_MARK in message.body
        outcome, token = _claim(self.engine, message, needs_link, self.clock())
        if outcome == "skipped":
            self.report.skipped += 1
        if outcome == "claimed":
            self.last_hand_off = time.monotonic()
            self._hand_off(smtp, email, message, token)
        return True

    def _pace(self) -> None:
        """Wait out what is left of the interval since the last hand-off."""
        if self.last_hand_off is not None:
            pause = self.interval - (time.monotonic() - self.last_hand_off)
            if pause > 0:
                self.sleep(pause)

    def _hand_off(
        self, smtp: smtplib.SMTP, email: EmailMessage, message: OutboxMessage, token: str
    ) -> None:
        """Give a claimed message to the server and record how that went."""
        body = message.body
        if token:
            body = body.replace(ACTIVATION_LINK_MARK, activation_link(token))
        email.set_content(body)
        try:
            smtp.send_message(email, from_addr=self.envelope_from, to_addrs=[message.to_address])
        except (smtplib.SMTPException, OSError) as exc:
            self.mailer.drop()
            self._refused(message, _refusal(exc), token)
            return
        sent = {"status": "sent", "sent_at": self.clock(), "last_error": None}
        _settle(self.engine, message.id, "sending", sent)
        self.report.sent += 1

    def _refused(self, message: OutboxMessage, refusal: _Refusal, token: str) -> None:
        """Failed for good (5xx, or out of attempts) or queued again after a wait."""
        attempts = message.attempts + 1
        if refusal.permanent or attempts >= self.attempts_allowed:
            values: dict[str, Any] = {"status": "failed"}
            self.report.failed += 1
        else:
            values = {"status": "queued", "next_attempt_at": self.clock() + backoff(attempts)}
            self.report.retried += 1
        values["last_error"] = refusal.text
        _settle(self.engine, message.id, "sending", values, token if refusal.definite else "")
