"""The ``portal`` command: every Excel action, run on .xlsx files from a terminal.

Exit codes: 0 all rows fine, 1 some rows in error, 2 the input or command could not be used
(nothing was saved), 3 the changes were saved but the result workbook could not be written.
Each command group lives in a module of its own; heavy libraries load inside the commands.
"""

from typing import Annotated

import typer
from rich.markup import escape

from addin.cli import (
    accounts,
    activation,
    autocreate,
    coverage,
    doctor,
    excel_addin,
    imports,
    letters,
    lifecycle,
    login,
    outbox,
    records,
    serve,
    staff,
    templates,
)
from addin.cli.output import err, out, state, unanswered
from backend.errors import PortalError, ResultNotWritten

app = typer.Typer(
    help="Parent Portal Accounts: create and maintain parent-portal logons from Excel "
    "workbooks.\n\nEvery import is a simulation unless you add --apply.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def print_version(value: bool) -> None:
    """``--version``: the installed package's version, read from its metadata."""
    if value:
        from importlib.metadata import version

        out.print(f"portal {version('parent-portal-accounts')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version and exit.",
            callback=print_version,
            is_eager=True,
        ),
    ] = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL or SQLite file path. Default: PORTAL_DATABASE_URL, "
            "else a SQLite file in your user data folder.",
        ),
    ] = None,
) -> None:
    state.database_url = database


app.add_typer(imports.import_app, name="import")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.student_app, name="student")
app.add_typer(accounts.contact_app, name="contact")
app.add_typer(excel_addin.addin_app, name="addin")
app.add_typer(templates.templates_app, name="templates")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(activation.activation_app, name="activation")
app.add_typer(staff.staff_app, name="staff")
app.add_typer(lifecycle.lifecycle_app, name="lifecycle")
app.command("run")(imports.run_command)
app.command("autocreate")(autocreate.autocreate_command)
app.command(
    "coverage",
    short_help="Per school and grade, the active students with and without a working guardian "
    "account.",
)(coverage.coverage_command)
app.command(
    "letters",
    short_help="Printed activation letters with one-time codes, for parents without email.",
)(letters.letters_command)
app.command("init")(records.init)
app.command("batches")(records.batches)
app.command("demo")(records.demo)
app.command("doctor")(doctor.doctor)
app.command("serve")(serve.serve_command)
app.command("login")(login.login_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one plain line and exit code 2, never a traceback."""
    for console in (out, err):
        if not console.is_terminal:  # piped or redirected: wide lines, not truncated tables
            console.width = 200
    try:
        code = app(args=argv, prog_name="portal", standalone_mode=False)
    except Exception as exc:
        told = refused(exc)
        if told is None:
            raise  # a bug: its traceback is what a developer needs
        raise SystemExit(told) from None
    if code:
        raise SystemExit(code)


def refused(exc: Exception) -> int | None:
    """Tell ``exc`` in one line and give the exit code, or None for an exception that is a bug."""
    if isinstance(exc, ResultNotWritten | PortalError):
        said(exc)
        return 3 if isinstance(exc, ResultNotWritten) else 2
    if isinstance(exc, typer.TyperException):  # a mistyped command, option or value: one line
        if exc.format_message():  # (none when the help was shown for a bare command)
            line = escape(usage_line(exc))
            err.print(f"[bold red]Error:[/] {line}", soft_wrap=True, highlight=False)
        return exc.exit_code
    if isinstance(exc, typer.Abort):
        err.print("Aborted.")
        return 1
    reason = unanswered(exc)
    if reason is None:
        return None
    said(
        PortalError(
            f"The database did not answer ({reason}); nothing was done. Check that it is "
            "running and that --db or PORTAL_DATABASE_URL names it (`portal doctor` checks)"
        )
    )
    return 2


def said(exc: Exception) -> None:
    """A refusal in one line, its values shown as typed and with nothing invisible in them."""
    from backend.imports.cell_values import visible

    err.print(f"[bold red]Error:[/] {escape(visible(str(exc)))}", soft_wrap=True, highlight=False)


def usage_line(exc: typer.TyperException) -> str:
    """What was mistyped, in one line (an option's choices listed), and where help is."""
    message = exc.format_message().replace("Value error, ", "")
    context = getattr(exc, "ctx", None)
    if context is None:
        return message
    return f"{message} See '{context.command_path} --help'."
