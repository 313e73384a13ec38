"""`portal outbox`: emails waiting to go, sent, refused or not sent, and those left stuck."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table as RichTable

from addin.cli.output import engine, out, progress_bar, shown
from backend.errors import InputError

if TYPE_CHECKING:
    from backend.database.models import OutboxMessage

MessageStatus = Literal["queued", "sending", "sent", "failed", "skipped"]

outbox_app = typer.Typer(
    help="Emails waiting to go, sent, refused or not sent, and those left stuck.",
    no_args_is_help=True,
)

DEFAULT_STUCK_MINUTES = 10


def age(since: datetime | None, now: datetime) -> str:
    """How long ago, in words: 'under a minute', '7 min', '2 h 05 min', '3 days'."""
    if since is None:
        return "a long time"
    minutes = int((now - since) / timedelta(minutes=1))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} days"


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        MessageStatus | None,
        typer.Option(help="Only queued, sending, sent, failed or skipped.", case_sensitive=False),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List the outbox: who each message goes to, its state, and the server's last reply or why
    it was not sent. A message 'sending' says for how long: one left so by an interrupted run
    waits for `portal outbox release`."""
    from backend.mail.activation import as_utc
    from backend.mail.outbox import counts, list_messages

    db = engine()
    out.print(", ".join(f"{n} {s}" for s, n in counts(db).items()))
    now = as_utc(None)
    table = RichTable("Id", "To", "Subject", "Status", "Attempts", "Last reply, or why not sent")
    for message in list_messages(db, status, limit):
        state = message.status
        if state == "sending":
            claimed = as_utc(message.claimed_at) if message.claimed_at else None
            state = f"sending for {age(claimed, now)}"
        table.add_row(
            str(message.id),
            shown(message.to_address),
            shown(message.subject),
            state,
            str(message.attempts),
            shown(message.last_error),
        )
    out.print(table)


@outbox_app.command("send")
def outbox_send() -> None:
    """Send what is queued and due, over SMTP (PORTAL_SMTP_* settings), throttled."""
    from backend.mail.outbox import send_pending

    with progress_bar() as progress:
        result = send_pending(engine(), progress=progress)
    if result.stuck:
        out.print(
            f"Found {result.stuck} message(s) left 'sending' by an interrupted run: they are not "
            "sent again on their own. `portal outbox list --status sending` shows them; "
            "`portal outbox release` puts them back in the queue (each may then arrive twice)."
        )
    out.print(
        f"Sent {result.sent}, to retry later {result.retried}, failed {result.failed}, "
        f"skipped {result.skipped}, still waiting {result.waiting}."
    )
    if result.error:
        raise InputError(f"The mail server could not be used: {result.error}")
    if result.failed:
        raise typer.Exit(1)


@outbox_app.command("worker")
def outbox_worker(
    poll: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            metavar="SECONDS",
            help="How often to look for mail that is due. Default: PORTAL_OUTBOX_POLL_S (5).",
        ),
    ] = None,
) -> None:
    """Send the outbox's mail as it becomes due, until stopped (Ctrl+C, or SIGTERM from a
    service manager): the message being handed to the mail server is finished and recorded
    first. Several workers may run at once on PostgreSQL; on SQLite run one."""
    import signal
    import threading
    from types import FrameType

    from backend.mail.worker import run_worker
    from backend.settings import get_settings

    poll_s = poll if poll is not None else float(get_settings().outbox_poll_s)
    if poll_s <= 0:
        raise InputError(f"PORTAL_OUTBOX_POLL_S is {poll_s:g}: it must be 1 or more seconds.")
    stop = threading.Event()

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, ask_to_stop)
    db = engine()
    out.print(
        f"Sending the outbox's mail as it becomes due, looking every {poll_s:g} s; "
        "Ctrl+C stops after the message being sent.",
        soft_wrap=True,
    )
    report = run_worker(db, poll_s=poll_s, stop=stop, told=told_line, said=said_line)
    out.print(
        f"Stopped: {report.sent} sent, {report.failed} failed, {report.skipped} skipped",
        soft_wrap=True,
    )


def told_line(outcome: str, message: "OutboxMessage", detail: str | None) -> None:
    """One line per message a worker settles, in words."""
    to = f"message {message.id} to {shown(message.to_address)}"
    lines = {
        "sent": f"Sent {to}.",
        "failed": f"Failed: {to}: {shown(detail)}",
        "retry": f"Not sent yet, will try again later: {to}: {shown(detail)}",
        "skipped": f"Not sent: {to}: {shown(detail)}",
    }
    out.print(lines[outcome], soft_wrap=True, highlight=False)


def said_line(line: str) -> None:
    out.print(shown(line), soft_wrap=True, highlight=False)


@outbox_app.command("release")
def outbox_release(
    older_than: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="MINUTES",
            help="Only messages 'sending' for at least this many minutes: a run still going "
            "may be sending the newer ones.",
        ),
    ] = DEFAULT_STUCK_MINUTES,
) -> None:
    """Put messages left 'sending' by an interrupted run back in the queue, for `portal outbox
    send`. Whether the mail server took them was never recorded: a parent may get such a
    message twice, with the same link. Messages the server's answer was recorded for (sent,
    failed) are never touched."""
    from backend.mail.outbox import counts, release_stuck

    db = engine()
    released = release_stuck(db, older_than=timedelta(minutes=older_than))
    waiting = counts(db)["sending"]
    if released:
        out.print(
            f"Put {len(released)} message(s) back in the queue: {', '.join(map(str, released))}. "
            "`portal outbox send` sends them; each may arrive twice, with the same link."
        )
    else:
        out.print("No message has been left 'sending' that long: nothing to release.")
    if waiting:
        out.print(
            f"{waiting} message(s) have been 'sending' for less than {older_than} min and were "
            "left alone; use --older-than to release them sooner."
        )


@outbox_app.command("resend")
def outbox_resend(
    message_id: Annotated[int, typer.Argument(help="The message's Id in `portal outbox list`.")],
) -> None:
    """Queue a new copy of a message that was sent, failed or skipped, for `portal outbox send`.
    An activation email's copy carries a new link, and the old link stops working when it goes."""
    from backend.mail.outbox import resend

    copy = resend(engine(), message_id)
    if copy.status == "skipped":
        out.print(f"Message {copy.id}, a copy of message {message_id}: {copy.last_error}")
    else:
        out.print(
            f"Queued message {copy.id}, a copy of message {message_id}: "
            "`portal outbox send` sends it."
        )
