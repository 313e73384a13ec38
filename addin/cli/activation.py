"""`portal activation send`: an activation email for chosen accounts, simulation first."""

from pathlib import Path
from typing import Annotated

import typer

from addin.cli.output import ApplyOption, engine, finish, progress_bar

LogonsOption = Annotated[
    list[str] | None,
    typer.Option("--logon", metavar="LOGON", help="An account's logon; repeat for more accounts."),
]
SchoolOption = Annotated[
    str | None,
    typer.Option("--school", metavar="CODE", help="Accounts attached to a student there."),
]
BatchOption = Annotated[
    int | None,
    typer.Option(
        "--batch",
        metavar="N",
        help="Accounts batch N added, or attached a student to (`portal batches`).",
    ),
]
NotActivatedOption = Annotated[
    bool,
    typer.Option(
        "--not-activated",
        help="Only accounts that have no password yet; alone, every such account.",
    ),
]
"""The options that choose accounts, alike for activation emails and printed letters."""

activation_app = typer.Typer(
    help="Activation emails: the link that sets a new account's password.",
    no_args_is_help=True,
)


@activation_app.command("send")
def activation_send(
    logon: LogonsOption = None,
    school: SchoolOption = None,
    batch: BatchOption = None,
    not_activated: NotActivatedOption = False,
    template: Annotated[
        str,
        typer.Option(
            help="The email template; an account whose LANGUAGE has a variant "
            "(welcome.es, ...) gets that one."
        ),
    ] = "welcome",
    apply: ApplyOption = False,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Result workbook (default activation.simulation.xlsx or "
            "activation.applied.xlsx here).",
        ),
    ] = None,
) -> None:
    """Queue one activation email per chosen account, whatever made it; each option given
    narrows the choice. Disabled accounts, accounts without an email address and accounts
    already activated get none: the log says why. An account that had an email before gets a
    new link, and the old one stops working when the new email goes. `portal outbox send`
    sends them."""
    from addin import remote_school_year
    from addin.files.result_writer import check_destination
    from addin.remote import from_settings
    from addin.workbooks.file import write_run_log
    from addin.workbooks.result_sheet import log_from_report
    from backend.mail.activation_send import Choice, send_activation

    dest = out_path or Path(f"activation.{'applied' if apply else 'simulation'}.xlsx")
    check_destination(dest)
    choice = Choice(tuple(logon or ()), school, batch, not_activated, template)
    remote = from_settings()
    if remote is not None:
        report = remote_school_year.send_activation(remote, choice, apply=apply)
    else:
        with progress_bar() as progress:
            report = send_activation(engine(), choice, apply=apply, progress=progress)
    write_run_log(dest, log_from_report(report, "LOGONID"))
    finish(report, dest, told=None)
