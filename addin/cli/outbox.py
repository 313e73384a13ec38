"""`portal outbox`: emails waiting to go, sent, or refused."""

from typing import Annotated

import typer
from rich.table import Table as RichTable

from addin.cli.output import engine, out, progress_bar, shown
from backend.errors import InputError

outbox_app = typer.Typer(help="Emails waiting to go, sent, or refused.", no_args_is_help=True)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="Only queued, sending, sent, failed or skipped.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List the outbox: who each message goes to, its state and the server's last reply."""
    from backend.mail.outbox import counts, list_messages

    db = engine()
    out.print(", ".join(f"{n} {s}" for s, n in counts(db).items()))
    table = RichTable("Id", "To", "Subject", "Status", "Attempts", "Last reply")
    for message in list_messages(db, status, limit):
        table.add_row(
            str(message.id),
            shown(message.to_address),
            shown(message.subject),
            message.status,
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
    out.print(
        f"Sent {result.sent}, to retry later {result.retried}, failed {result.failed}, "
        f"skipped {result.skipped}, still waiting {result.waiting}."
    )
    if result.stuck:
        out.print(
            f"{result.stuck} messages were left 'sending' by an interrupted run; they are "
            "not sent again on their own (check the mail server's log first)."
        )
    if result.error:
        raise InputError(f"The mail server could not be used: {result.error}")
    if result.failed:
        raise typer.Exit(1)
