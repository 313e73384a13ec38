"""The outbox: mail queued in the transaction that made its account, sent after that commits.

Queuing is one INSERT in the caller's transaction, so a simulation or a
rolled-back batch leaves no message. ``send_pending`` delivers what is due::

    queued --claim, commit--> sending --server accepts--> sent
                                 |---- 4xx reply / connection lost --> queued (later), and
                                 |     failed once ``send_attempts`` attempts are spent
                                 '---- 5xx reply --------------------> failed
    queued --the account is gone, disabled or already has a password,
             or a newer activation message replaces this one--------> skipped (with the reason)

A message is marked ``sending`` and committed *before* the server sees it, and only ``queued``
messages are ever picked up. A crash in between leaves it ``sending``: it may or may not have
been delivered, so it is never sent again on its own; ``release_stuck`` (``portal outbox
release``) puts it back in the queue for an admin, knowing it may then arrive twice.

Several senders at once (``portal outbox worker`` processes, a ``portal outbox send``) never
claim one message twice: a claim takes the next due message in one transaction under the
portal's write lock, its candidates locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL, and marks it ``sending`` before it commits; the next claim, by any sender, finds
the one after. Senders wait for each other only for a claim's few milliseconds, never during
SMTP. ``send_per_minute`` holds for all senders together: a claim counts, under that same lock,
the messages claimed in the last minute (``claimed_at``) by any sender.

"Never sent twice" over SMTP: a message the server confirmed (``sent``) is never sent again. A
message whose confirmation was lost (the connection dropped after the server took it, or the
sender was killed) may arrive twice, with the same link: the link is made from the message's
seed when it is claimed, the same at every attempt (``activation.message_link``). So every
message the server accepts carries a link that works, even if the process dies right after the
hand-off. A message refused for good at its first attempt takes its link with it. Activation
spends all of an account's tokens; a newer activation message for the account replaces the
older one's link.
"""

import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, delete, func, select, update

from backend.database.engine import bulk_insert, read_transaction, write_transaction
from backend.database.models import ActivationToken, OutboxMessage, PortalUser, utcnow
from backend.errors import InputError, NotFoundError
from backend.imports.contract import CHUNK, Progress, no_progress
from backend.mail.activation import (
    ACTIVATION_LINK_MARK,
    OPEN,
    activation_link,
    activation_secret,
    as_utc,
    message_link,
    token_hash,
)
from backend.settings import Settings, get_settings

STATUSES = ("queued", "sending", "sent", "failed", "skipped")
SECURITY_MODES = ("none", "starttls", "ssl")
MAX_BACKOFF = timedelta(hours=1)
SMTP_TIMEOUT_S = 30
BATCH = 10  # candidates a claim locks at a time, passing over those that must not go
RATE_WINDOW = timedelta(minutes=1)

_GONE = "The account no longer exists, so there is nothing to activate; the message was not sent."
_ACTIVE = "The account already has a password; the activation message was not sent."
_DISABLED = "The account is disabled; the message was not sent."
_REPLACED = "A newer activation message for this account replaces this one; it was not sent."


@dataclass
class SendReport:
    """What one ``send_pending`` run did, in numbers an admin can read at a glance."""

    sent: int = 0
    retried: int = 0  # refused for now (4xx, lost connection): queued again for later
    failed: int = 0  # refused for good (5xx) or out of attempts
    skipped: int = 0  # must not go: the account is gone, disabled or activated, or replaced
    stuck: int = 0  # found ``sending``, left so by an interrupted run: see ``release_stuck``
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
    A message to a disabled account is kept, as skipped with the reason, and never sent.
    """
    now = utcnow()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        shut = _shut_accounts(connection, {row["user_id"] for row in chunk if row.get("user_id")})
        bulk_insert(
            connection,
            cast(Table, OutboxMessage.__table__),
            [
                {
                    "to_address": row["to_address"],
                    "subject": row["subject"],
                    "body": row["body"],
                    "user_id": row.get("user_id"),
                    "batch_id": row.get("batch_id"),
                    "status": "skipped" if row.get("user_id") in shut else "queued",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": _DISABLED if row.get("user_id") in shut else None,
                    "created_at": now,
                    "sent_at": None,
                    "claimed_at": None,
                    "link_seed": None,
                }
                for row in chunk
            ],
        )


def _shut_accounts(connection: Connection, user_ids: set[int]) -> set[int]:
    """Which of these accounts may not be sent mail: those not ACTIVE."""
    if not user_ids:
        return set()
    return set(
        connection.execute(
            select(PortalUser.id).where(PortalUser.id.in_(user_ids), PortalUser.status != OPEN)
        ).scalars()
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


def release_stuck(
    engine: Engine,
    ids: Iterable[int] | None = None,
    *,
    older_than: timedelta = timedelta(0),
    now: datetime | None = None,
) -> list[int]:
    """Put messages left ``sending`` back in the queue; return the ids that were released.

    ``ids`` picks messages (default: every one), ``older_than`` spares those claimed more recently
    (a run may still be sending them). Only ``sending`` moves, in one statement: a message
    whose server reply was recorded (sent, failed) stays as it is. A released message may arrive
    twice, with the same link; nothing else ever moves a message out of ``sending``.
    """
    now = as_utc(now)
    stuck = [
        OutboxMessage.status == "sending",
        (OutboxMessage.claimed_at.is_(None)) | (OutboxMessage.claimed_at <= now - older_than),
    ]
    if ids is not None:
        stuck.append(OutboxMessage.id.in_(sorted(set(ids))))
    with write_transaction(engine) as connection:
        released = list(connection.execute(select(OutboxMessage.id).where(*stuck)).scalars())
        if released:
            connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(released), OutboxMessage.status == "sending")
                .values(status="queued", next_attempt_at=now)
            )
    return sorted(released)


def resend(engine: Engine, message_id: int) -> OutboxMessage:
    """Queue a new copy of a message that was sent, failed or skipped; return the copy.

    A copy of an activation message carries a new link, which replaces the old one when it goes.
    """
    with write_transaction(engine) as connection:
        found = connection.execute(
            select(
                OutboxMessage.to_address,
                OutboxMessage.subject,
                OutboxMessage.body,
                OutboxMessage.user_id,
                OutboxMessage.batch_id,
                OutboxMessage.status,
            ).where(OutboxMessage.id == message_id)
        ).first()
        if found is None:
            raise NotFoundError(
                f"There is no message {message_id}: `portal outbox list` shows them"
            )
        if found.status in ("queued", "sending"):
            raise InputError(
                f"Message {message_id} is still {found.status}: it goes (or went) with its own "
                "link; send it before sending it again"
            )
        queue_message(
            connection,
            **{k: v for k, v in found._mapping.items() if k != "status"},
        )
        # Under the write lock, the newest message is the copy.
        copy = connection.execute(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)
        ).one()
        return OutboxMessage(**copy._mapping)


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th temporary failure: 1, 2, 4, 8... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _any_due(engine: Engine, due_by: datetime) -> bool:
    """Whether a queued message is due: an idle sender asks this, and opens no SMTP connection."""
    with read_transaction(engine) as connection:
        return (
            connection.execute(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= due_by)
                .limit(1)
            ).first()
            is not None
        )


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


@dataclass
class _Claim:
    """What one claim did: the message now ``sending`` (if any), with its email and its activation
    token, and the messages it settled on the way (skipped, or failed for an unsafe header)."""

    busy: bool = False  # the minute is full: nothing was claimed or settled
    message: OutboxMessage | None = None
    email: EmailMessage | None = None
    token: str = ""
    settled: list[tuple[str, OutboxMessage, str]] = field(default_factory=list)
    language: str | None = None  # the account's LANGUAGE, which the link names for its page


def _claim_next(
    engine: Engine,
    due_by: datetime,
    now: datetime,
    per_minute: int,
    compose: Callable[[OutboxMessage], EmailMessage],
) -> _Claim:
    """Mark the next due message ``sending`` and commit: the one way a message is claimed.

    The candidates, a few at a time, are locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
    (passed over, never waited on, while another transaction holds them; SQLite ignores the
    clause and its write lock serialises) inside the portal's write lock, which every claim and
    import takes: a message is found ``queued`` by one claim only, and never while an import is
    disabling its account. Those that must not go are settled here, and the search goes on.
    """
    with write_transaction(engine) as connection:
        if _minute_is_full(connection, per_minute, now):
            return _Claim(busy=True)
        candidates = [
            OutboxMessage(**row._mapping)
            for row in connection.execute(
                select(OutboxMessage)
                .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= due_by)
                .order_by(OutboxMessage.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ]
        claim = _Claim()
        for message in candidates:
            outcome, detail = _claim_one(connection, message, now, compose)
            if outcome != "claimed":
                claim.settled.append((outcome, message, detail))
                continue
            claim.message, claim.token = message, detail
            claim.email = compose(message)
            if detail:
                claim.language = _language(connection, message.user_id)
            break
        return claim


def _claim_one(
    connection: Connection,
    message: OutboxMessage,
    now: datetime,
    compose: Callable[[OutboxMessage], EmailMessage],
) -> tuple[Literal["claimed", "skipped", "failed"], str]:
    """Claim one queued message in the caller's transaction: "claimed" with its activation token
    ('' when it has none), or "skipped" / "failed" with the reason it does not go."""
    try:
        compose(message)
    except ValueError as exc:
        text = f"The message cannot be sent: {exc}"
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(status="failed", last_error=text)
        )
        return "failed", text
    needs_link = ACTIVATION_LINK_MARK in message.body
    reason = _skip_reason(connection, message.id, message.user_id, needs_link)
    if reason:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(status="skipped", last_error=reason)
        )
        return "skipped", reason
    values: dict[str, Any] = {
        "status": "sending",
        "claimed_at": now,
        "attempts": OutboxMessage.attempts + 1,
    }
    token = ""
    if needs_link:
        assert message.user_id is not None  # a message with a link and no account is skipped
        token, values["link_seed"] = message_link(
            connection, message.user_id, message.link_seed, now=now
        )
    connection.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(values))
    return "claimed", token


def _language(connection: Connection, user_id: int | None) -> str | None:
    """The account's LANGUAGE, for its activation link."""
    return connection.execute(
        select(PortalUser.language).where(PortalUser.id == user_id)
    ).scalar_one_or_none()


def _minute_is_full(connection: Connection, per_minute: int, now: datetime) -> bool:
    """Whether ``per_minute`` messages were claimed in the minute before ``now``, by any sender.

    Read under the write lock that every claim takes, so two senders cannot both take the last
    place. Only the few rows a minute at most can hold qualify; the scan is cheap beside SMTP.
    """
    if per_minute <= 0:
        return False
    recent = connection.execute(
        select(func.count()).where(OutboxMessage.claimed_at > now - RATE_WINDOW)
    ).scalar_one()
    return bool(recent >= per_minute)


def _skip_reason(
    connection: Connection, message_id: int, user_id: int | None, needs_link: bool
) -> str | None:
    """Why a message must not go out, or None when it may."""
    account = None
    if user_id is not None:
        account = connection.execute(
            select(
                PortalUser.status, PortalUser.password_hash.is_not(None).label("has_password")
            ).where(PortalUser.id == user_id)
        ).first()
    if account is not None and account.status != OPEN:
        return _DISABLED
    if not needs_link:
        return None
    if account is None:
        return _GONE
    if account.has_password:
        return _ACTIVE
    newer = connection.execute(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.id > message_id,
            OutboxMessage.status.in_(("queued", "sending", "sent")),
            OutboxMessage.body.contains(ACTIVATION_LINK_MARK, autoescape=True),
        )
        .limit(1)
    ).first()
    return _REPLACED if newer else None


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


Told = Callable[[str, OutboxMessage, str | None], None]
"""Hears of each message as it is settled: "sent", "failed", "retry" or "skipped", with the
server's reply or the reason (None for "sent")."""


def _not_told(outcome: str, message: OutboxMessage, detail: str | None) -> None:
    return None


def _once(action: Callable[[], None]) -> None:
    action()


def mailer_for(settings: Settings) -> "_Mailer":
    """A mailer once the settings that a run needs were checked: an unusable security mode or an
    unreadable activation secret stops the run before any message is touched."""
    security = settings.smtp_security.strip().lower()
    if security not in SECURITY_MODES:
        raise InputError(
            f"PORTAL_SMTP_SECURITY is '{settings.smtp_security}': "
            f"use one of {', '.join(SECURITY_MODES)}."
        )
    activation_secret()
    return _Mailer(settings, security)


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
    run = _SendRun(engine, settings, mailer_for(settings), now, sleep)
    total = _count_due(engine, run.started)
    run.report.stuck = counts(engine)["sending"]
    try:
        while True:
            progress("Sending messages", min(run.done, total), total)
            went = run.send_next(run.started)
            if went != "more":
                break
        if went == "none":
            progress("Sending messages", total, total)
    finally:
        run.mailer.drop(polite=True)
    run.report.waiting = counts(engine)["queued"]
    return run.report


def _count_due(engine: Engine, started: datetime) -> int:
    with read_transaction(engine) as connection:
        return connection.execute(
            select(func.count()).where(
                OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= started
            )
        ).scalar_one()


class _SendRun:
    """One run of sending: its clock, its pace, its connection and its tally.

    ``stopping`` is asked before each claim: once it says yes, no further message is claimed.
    ``settle`` records an outcome (a worker retries it while the database is away); ``told``
    hears of each message.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        mailer: "_Mailer",
        now: datetime | None,
        sleep: Callable[[float], None],
        *,
        stopping: Callable[[], bool] = lambda: False,
        settle: Callable[[Callable[[], None]], None] = _once,
        told: Told = _not_told,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.now = now
        self.sleep = sleep
        self.stopping = stopping
        self.settle = settle
        self.told = told
        self.per_minute = settings.send_per_minute
        self.interval = 60 / self.per_minute if self.per_minute > 0 else 0.0
        self.attempts_allowed = max(settings.send_attempts, 1)
        self.envelope_from = parseaddr(settings.mail_from)[1]
        self.last_hand_off: float | None = None
        self.done = 0  # messages settled one way or another
        self.report = SendReport()
        self.started = self.clock()

    def clock(self) -> datetime:
        return as_utc(self.now)

    def send_next(self, due_by: datetime) -> Literal["more", "none", "stop"]:
        """Claim and deliver the next message due by ``due_by``: "none" when no message is due,
        "stop" when the run is stopping or the mail server cannot be used (``report.error``
        says why), the messages left untouched."""
        if not _any_due(self.engine, due_by):
            return "none"  # asked first: no pause and no SMTP connection for nothing
        while True:
            self._pace()
            if self.stopping():
                return "stop"
            try:
                smtp = self.mailer.ready()
            except (smtplib.SMTPException, OSError) as exc:
                self.report.error = (
                    f"The mail server {self.settings.smtp_host}:{self.settings.smtp_port} could "
                    f"not be used: {_refusal(exc).text}. The remaining messages stay queued, "
                    "untouched."
                )
                return "stop"
            claim = _claim_next(self.engine, due_by, self.clock(), self.per_minute, self._compose)
            if not claim.busy:
                break
            self.sleep(min(self.interval, 1.0))  # the minute is full: wait for a place in it
        for outcome, message, detail in claim.settled:
            self.done += 1
            if outcome == "failed":
                self.report.failed += 1
            else:
                self.report.skipped += 1
            self.told(outcome, message, detail)
        if claim.message is None or claim.email is None:
            return "more" if claim.settled else "none"
        self.last_hand_off = time.monotonic()
        self._hand_off(smtp, claim.email, claim.message, claim.token, claim.language)
        self.done += 1
        return "more"

    def _compose(self, message: OutboxMessage) -> EmailMessage:
        return _compose(message, self.settings, self.clock())

    def _pace(self) -> None:
        """Wait out what is left of the interval since the last hand-off."""
        if self.last_hand_off is not None:
            pause = self.interval - (time.monotonic() - self.last_hand_off)
            if pause > 0:
                self.sleep(pause)

    def _hand_off(
        self,
        smtp: smtplib.SMTP,
        email: EmailMessage,
        message: OutboxMessage,
        token: str,
        language: str | None = None,
    ) -> None:
        """Give a claimed message to the server and record how that went."""
        body = message.body
        if token:
            body = body.replace(ACTIVATION_LINK_MARK, activation_link(token, language))
        email.set_content(body)
        try:
            smtp.send_message(email, from_addr=self.envelope_from, to_addrs=[message.to_address])
        except (smtplib.SMTPException, OSError) as exc:
            self.mailer.drop()
            self._refused(message, _refusal(exc), token)
            return
        sent = {"status": "sent", "sent_at": self.clock(), "last_error": None}
        self.settle(lambda: _settle(self.engine, message.id, "sending", sent))
        self.report.sent += 1
        self.told("sent", message, None)

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
        # A link no attempt can have delivered goes; a retry carries the same link again.
        never_delivered = refusal.definite and message.attempts == 0
        spent = token if never_delivered and values["status"] == "failed" else ""
        self.settle(lambda: _settle(self.engine, message.id, "sending", values, spent))
        self.told("failed" if values["status"] == "failed" else "retry", message, refusal.text)
