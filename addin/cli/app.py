"""The ``portal`` command: every Excel action, run on .xlsx files from a terminal.

Exit codes: 0 all rows fine, 1 some rows in error, 2 the input or command could not be used.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy import Engine

from addin.workbooks.import_file import import_file
from backend.accounts.contact_card import (
    CAN_CREATE,
    HAS_ACCOUNT,
    LOGON_DIFFERS,
    NO_EMAIL,
    contact_card,
    create_account_from_contact,
    logons_for_student,
)
from backend.accounts.single import get_account, modify_user, new_user
from backend.database.engine import migrate, normalise_url, open_database
from backend.errors import InputError, PortalError
from backend.imports.batches import get_batch, list_batches
from backend.imports.contract import Progress as ProgressCallback
from backend.imports.contract import Report, cell_text, describe_changes
from backend.imports.users import IMPORT_MODES, ImportMode
from backend.settings import get_settings

app = typer.Typer(
    help="Parent Portal Accounts: create and maintain parent-portal logons from Excel "
    "workbooks.\n\nEvery import is a simulation unless you add --apply.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(
    help="Import a workbook (simulation unless --apply).", no_args_is_help=True
)
app.add_typer(import_app, name="import")

out = Console()
err = Console(stderr=True)

ACTION_STYLES = {
    "added": "green",
    "updated": "yellow",
    "removed": "dark_orange",
    "skipped": "bright_black",
    "error": "red",
}


class State:
    database_url: str | None = None


state = State()


@app.callback()
def main_options(
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


def engine() -> Engine:
    return open_database(state.database_url)


@contextmanager
def progress_bar() -> Iterator[ProgressCallback]:
    """A progress bar on the terminal, fed by a backend progress callback."""
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def print_report(report: Report, log_path: Path | None) -> None:
    counts = report.counts
    source = f" of {report.source_name}" if report.source_name else ""
    if report.mode == "apply":
        out.print(f"[bold green]APPLIED[/] {report.kind}{source}: changes saved.")
    else:
        out.print(f"[bold yellow]SIMULATION[/] {report.kind}{source}: nothing was saved.")
    out.print(
        f"Batch {report.batch_id}: {len(report.results)} rows: "
        f"[green]{counts['added']} added[/], [yellow]{counts['updated']} updated[/], "
        + (f"{counts['removed']} removed, " if counts["removed"] else "")
        + f"{counts['skipped']} skipped, [red]{counts['error']} errors[/]."
    )
    errors = [r for r in report.results if r.action == "error"]
    for result in errors[:10]:
        out.print(f"  [red]row {result.row}[/] {result.key or ''}: {result.reason}", soft_wrap=True)
    if len(errors) > 10:
        out.print(f"  ... and {len(errors) - 10} more errors: see the log.")
    if log_path is not None:
        out.print(f"Log: {log_path}")
    if report.mode == "simulation" and (counts["added"] or counts["updated"]):
        out.print("Review the log, then run the same command with --apply to save these changes.")


ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Save the changes. Without it, only simulate.")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Where to write the result workbook. Default: next to the input, "
        "named NAME.simulation.xlsx or NAME.applied.xlsx.",
    ),
]


def finish(report: Report, log_path: Path | None) -> None:
    """Print the run's outcome; exit 1 when any row is in error."""
    print_report(report, log_path)
    if report.counts["error"]:
        raise typer.Exit(1)


@import_app.command("users")
def import_users_command(
    file: Annotated[Path, typer.Argument(help="The users workbook (.xlsx).")],
    apply: ApplyOption = False,
    mode: Annotated[
        str,
        typer.Option(
            help="upsert: add new accounts and update existing ones; insert-only: only add; "
            "update-only: only update.",
        ),
    ] = "upsert",
    out_path: OutOption = None,
    sheet: Annotated[
        str | None, typer.Option(help="The sheet to read. Default: 'Users', else the first.")
    ] = None,
) -> None:
    """Import portal users (LOGONID, FIRST_NAME, LAST_NAME, USER_TYPE, ...) from a workbook."""
    if mode not in IMPORT_MODES:
        raise InputError(f"--mode must be one of {', '.join(IMPORT_MODES)}, not '{mode}'")
    db = engine()
    with progress_bar() as progress:
        report, dest = import_file(
            db,
            "users",
            file,
            apply=apply,
            dest=out_path,
            progress=progress,
            mode=cast(ImportMode, mode),
            sheet=sheet,
        )
    finish(report, dest)


@import_app.command("links")
def import_links_command(
    file: Annotated[Path, typer.Argument(help="The student-link workbook (.xlsx).")],
    apply: ApplyOption = False,
    school: Annotated[
        list[str] | None,
        typer.Option(
            help="Only students of this school (code); repeat for several. Rows for other "
            "students are errors."
        ),
    ] = None,
    out_path: OutOption = None,
    sheet: Annotated[
        str | None, typer.Option(help="The sheet to read. Default: 'Links', else the first.")
    ] = None,
) -> None:
    """Attach students to accounts (LOGONID, STUDENT_ID, RELATIONSHIP, ..., ACTION ADD/REMOVE)."""
    db = engine()
    with progress_bar() as progress:
        report, dest = import_file(
            db,
            "links",
            file,
            apply=apply,
            dest=out_path,
            progress=progress,
            schools=school or (),
            sheet=sheet,
        )
    finish(report, dest)


@import_app.command("roster")
def import_roster_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A roster workbook (sheets Schools, Students, Contacts), or a OneRoster "
            "CSV bundle as a folder or .zip."
        ),
    ],
    apply: ApplyOption = False,
    out_path: OutOption = None,
) -> None:
    """Import schools, students and their contacts from a workbook or a OneRoster bundle."""
    db = engine()
    with progress_bar() as progress:
        report, dest = import_file(
            db, "roster", source, apply=apply, dest=out_path, progress=progress
        )
    finish(report, dest)


user_app = typer.Typer(
    help="One account at a time: New User, Modify User, show.", no_args_is_help=True
)
student_app = typer.Typer(
    help="A student's contact card and the logons attached to them.", no_args_is_help=True
)
contact_app = typer.Typer(help="Accounts made from a guardian contact.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(student_app, name="student")
app.add_typer(contact_app, name="contact")


def print_results(report: Report) -> None:
    """A single-account run: one line per thing it did, then exit 1 if any was refused."""
    title = (
        "[bold green]Saved[/]"
        if report.mode == "apply"
        else ("[bold yellow]SIMULATION[/] (nothing saved; add --apply to save)")
    )
    out.print(f"{title}: {report.kind}, batch {report.batch_id}")
    for result in report.results:
        style = ACTION_STYLES.get(result.action, "")
        changes = f" ({describe_changes(result.changes)})" if result.changes else ""
        out.print(
            f"  [{style}]{result.action:<8}[/] {result.key or ''}: {result.reason}{changes}",
            soft_wrap=True,
            highlight=False,
        )
    if report.counts["error"] or (
        report.kind == "new user" and report.results[0].action == "skipped"
    ):
        raise typer.Exit(1)


@user_app.command("new")
def user_new(
    logon_id: Annotated[str, typer.Argument(help="Email address (the logon ID).")],
    user_type: Annotated[str, typer.Option("--type", help="GUARDIAN or STUDENT.")],
    last_name: Annotated[str, typer.Option("--last", help="Last name.")],
    first_name: Annotated[str, typer.Option("--first", help="First name.")],
    email: Annotated[
        str | None, typer.Option(help="Email for notices, when it differs from the logon.")
    ] = None,
    student: Annotated[
        list[str] | None, typer.Option(help="Attach this student ID; repeat for several.")
    ] = None,
) -> None:
    """New User: create one account (then see it with `portal user show`)."""
    print_results(
        new_user(
            engine(),
            logon_id=logon_id,
            user_type=user_type,
            last_name=last_name,
            first_name=first_name,
            email=email,
            students=student or (),
        )
    )


@user_app.command("show")
def user_show(logon_id: Annotated[str, typer.Argument(help="The account's logon ID.")]) -> None:
    """Show an account and the students attached to it."""
    account = get_account(engine(), logon_id)
    out.print(
        f"[bold]{account.logon_id}[/] ({account.user_type}, {account.status})", highlight=False
    )
    out.print(f"Name: {account.first_name} {account.last_name}", highlight=False)
    for label, value in (
        ("Email", account.email),
        ("Phone", account.phone),
        ("Language", account.language),
    ):
        if value:
            out.print(f"{label}: {value}", highlight=False)
    out.print(
        f"Created {account.created_at:%Y-%m-%d %H:%M} UTC, "
        f"updated {account.updated_at:%Y-%m-%d %H:%M} UTC"
    )
    if not account.students:
        out.print("No students attached.")
        return
    table = RichTable(
        "Student ID",
        "Name",
        "Grade",
        "School",
        "Relationship",
        "Primary",
        "Notices",
        title="Students attached to this account",
    )
    for s in account.students:
        table.add_row(
            s.student_id,
            f"{s.first_name} {s.last_name}",
            s.grade or "",
            s.school or "",
            s.relationship or "",
            "Y" if s.is_primary else "N",
            "Y" if s.notices else "N",
        )
    out.print(table)


@user_app.command("modify")
def user_modify(
    logon_id: Annotated[str, typer.Argument(help="The account's logon ID.")],
    first: Annotated[str | None, typer.Option(help="New first name.")] = None,
    last: Annotated[str | None, typer.Option(help="New last name.")] = None,
    email: Annotated[str | None, typer.Option(help="New email for notices.")] = None,
    phone: Annotated[str | None, typer.Option(help="New phone number.")] = None,
    language: Annotated[str | None, typer.Option(help="New preferred language.")] = None,
    status: Annotated[str | None, typer.Option(help="ACTIVE or DISABLED.")] = None,
    attach: Annotated[
        list[str] | None, typer.Option(help="Attach this student ID; repeat for several.")
    ] = None,
    detach: Annotated[
        list[str] | None, typer.Option(help="Detach this student ID; repeat for several.")
    ] = None,
    relationship: Annotated[
        str | None, typer.Option(help="Relationship for the students attached now.")
    ] = None,
) -> None:
    """Modify User: change an account's details and the students attached to it."""
    changes = {
        k: v
        for k, v in {
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "language": language,
            "status": status,
        }.items()
        if v is not None
    }
    print_results(
        modify_user(
            engine(),
            logon_id,
            changes=changes,
            attach=attach or (),
            detach=detach or (),
            relationship=relationship,
        )
    )


STATUS_STYLES = {HAS_ACCOUNT: "green", CAN_CREATE: "cyan", LOGON_DIFFERS: "yellow", NO_EMAIL: "red"}


@student_app.command("card")
def student_card(student_id: Annotated[str, typer.Argument(help="The student's ID.")]) -> None:
    """The contact card: each contact with its account status (has account, can create, ...)."""
    card = contact_card(engine(), student_id)
    out.print(
        f"[bold]{card.student_id}[/] {card.first_name} {card.last_name}, grade "
        f"{card.grade or '-'}, school {card.school or '-'}",
        highlight=False,
    )
    table = RichTable(
        "Contact", "Name", "Relationship", "Email", "Guardian", "Portal", "Status", "Account"
    )
    for entry in card.entries:
        note = entry.account or ""
        if entry.account:
            note += " (attached)" if entry.linked else " (not attached to this student)"
        if entry.other_logons:
            note = "attached logons: " + ", ".join(entry.other_logons)
        if entry.shared_with:
            note += (" " if note else "") + "email shared with " + ", ".join(entry.shared_with)
        style = STATUS_STYLES.get(entry.status, "")
        table.add_row(
            entry.contact_id,
            f"{entry.first_name} {entry.last_name}",
            entry.relationship or "",
            entry.email or "",
            "Y" if entry.is_guardian else "N",
            "Y" if entry.portal_access else "N",
            f"[{style}]{entry.status}[/]",
            note,
        )
    out.print(table)
    if any(e.status == CAN_CREATE for e in card.entries):
        out.print("Create an account from a contact: portal contact create-account CONTACT_ID")


@student_app.command("logons")
def student_logons(student_id: Annotated[str, typer.Argument(help="The student's ID.")]) -> None:
    """Every logon attached to a student (the seed's search of Logon IDs by student ID)."""
    logons = logons_for_student(engine(), student_id)
    if not logons:
        out.print(f"No logon is attached to student {student_id.strip()}.")
        return
    table = RichTable("Logon ID", "Type", "Status", "Name", "Relationship")
    for logon in logons:
        table.add_row(
            logon.logon_id,
            logon.user_type,
            logon.status,
            f"{logon.first_name} {logon.last_name}",
            logon.relationship or "",
        )
    out.print(table)


@contact_app.command("create-account")
def contact_create_account(
    contact_id: Annotated[str, typer.Argument(help="The contact's ID.")],
    apply: ApplyOption = False,
) -> None:
    """The card's +: a guardian account from the contact's email, attached to their students."""
    print_results(create_account_from_contact(engine(), contact_id, apply=apply))


addin_app = typer.Typer(
    help="The Excel add-in: the Parent Portal tab on the ribbon.", no_args_is_help=True
)
app.add_typer(addin_app, name="addin")


@addin_app.command("build")
def addin_build(
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the add-in (default build/ParentPortal.xlam)."),
    ] = None,
) -> None:
    """Build the add-in (.xlam) from its text sources; the same sources give the same bytes."""
    from addin.xlam import build_addin

    out.print(f"Add-in built: {build_addin(out_path)}")


@addin_app.command("install")
def addin_install(
    xlam: Annotated[
        Path | None,
        typer.Option(help="An add-in built before; default: build one now."),
    ] = None,
) -> None:
    """Install the add-in for this user (Windows, macOS) and say what is left to do."""
    from addin.xlam import build_addin, install_addin

    out.print(install_addin(xlam or build_addin()), highlight=False)


@app.command("run")
def run_command(
    action: Annotated[
        str,
        typer.Argument(
            help="A ribbon action: users.check, users.simulate, users.apply, "
            "links.*, roster.*, lookup, template.new."
        ),
    ],
    workbook_path: Annotated[Path, typer.Argument(help="The workbook (.xlsx) to act on.")],
    out_path: OutOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Apply even if the sheet changed since its simulation.")
    ] = False,
    value: Annotated[
        str | None, typer.Option(help="For lookup: the STUDENT_ID or LOGONID to look up.")
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="For template.new: users, links, roster or autocreate.")
    ] = None,
) -> None:
    """Run any ribbon button's action on a workbook file, exactly as Excel would."""
    from addin.workbooks.actions import dispatch
    from addin.workbooks.file import FileWorkbook

    if action == "template.new" and not workbook_path.exists():
        from addin.workbooks.templates import build_template

        out.print(
            f"New {kind or 'users'} workbook: {build_template(kind or 'users', workbook_path)}"
        )
        return
    db = engine()
    with (
        progress_bar() as progress,
        FileWorkbook(workbook_path, out=out_path, assume_yes=yes, value=value) as workbook,
    ):
        result = dispatch(action, workbook, db, kind=kind, progress=progress)
    for message in workbook.messages:
        out.print(message, soft_wrap=True, highlight=False)
    if isinstance(result, Report) and result.counts["error"]:
        raise typer.Exit(1)


templates_app = typer.Typer(help="Template workbooks and email templates.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")


@templates_app.command("build")
def templates_build(
    folder: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write them to (default: workbook_templates here)."),
    ] = None,
) -> None:
    """Build the template workbooks (users, links, roster, AutoCreate) from the import columns."""
    from addin.workbooks.templates import build_all

    for path in build_all(folder or Path("workbook_templates")):
        out.print(f"Template: {path}")


@app.command("autocreate")
def autocreate_command(
    school: Annotated[
        list[str] | None, typer.Option(help="Only students of this school (code); repeatable.")
    ] = None,
    grade: Annotated[
        list[str] | None, typer.Option(help="Only students in this grade; repeatable.")
    ] = None,
    students: Annotated[
        Path | None,
        typer.Option(
            help="Only these students: a workbook whose first column is STUDENT_ID, "
            "or a text file with one ID a line."
        ),
    ] = None,
    create_accounts: Annotated[
        bool, typer.Option(help="Create accounts for guardians whose email is no logon yet.")
    ] = True,
    attach_existing: Annotated[
        bool, typer.Option(help="Attach students to guardians' existing accounts.")
    ] = True,
    guardians_only: Annotated[
        bool, typer.Option(help="Only contacts flagged as guardians.")
    ] = True,
    portal_access_only: Annotated[
        bool, typer.Option(help="Only contacts whose portal access is allowed.")
    ] = True,
    max_priority: Annotated[
        int | None, typer.Option(help="Only contacts of this priority or better (1 = first).")
    ] = None,
    email_template: Annotated[
        str | None, typer.Option(help="Email each new account with this template.")
    ] = None,
    apply: ApplyOption = False,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Result workbook (default autocreate.simulation.xlsx or "
            "autocreate.applied.xlsx here).",
        ),
    ] = None,
) -> None:
    """AutoCreate: accounts from students' guardian contacts, simulation first."""
    from addin.workbooks.file import write_log_workbook
    from addin.workbooks.result_sheet import log_from_report
    from backend.accounts.autocreate import Options, autocreate, split_list

    options = Options(
        schools=split_list(school),
        grades=split_list(grade),
        students=read_student_ids(students) if students else [],
        create_accounts=create_accounts,
        attach_existing=attach_existing,
        guardians_only=guardians_only,
        portal_access_only=portal_access_only,
        max_priority=max_priority,
        email_template=email_template,
    )
    db = engine()
    with progress_bar() as progress:
        report = autocreate(db, options, apply=apply, progress=progress)
    dest = out_path or Path(f"autocreate.{'applied' if apply else 'simulation'}.xlsx")
    write_log_workbook(dest, log_from_report(report, "STUDENT_ID / CONTACT_ID"))
    for label, value in report.extra:
        out.print(f"{label}: {value}")
    finish(report, dest)


def read_student_ids(path: Path) -> list[str]:
    """Student IDs from a workbook's first column (under a header) or a text file's lines."""
    if path.suffix.lower() == ".xlsx":
        from addin.workbooks.file import read_table

        table, _ = read_table(path, preferred=("Students",))
        return [cell_text(cells[0]) or "" for _, cells in table.rows if cells]
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} could not be read as a list of student IDs: {exc}") from None
    return [line.strip() for line in lines if line.strip() and line.strip() != "STUDENT_ID"]


email_app = typer.Typer(
    help="Email templates: what AutoCreate sends new accounts.", no_args_is_help=True
)
templates_app.add_typer(email_app, name="email")


@email_app.command("list")
def email_list() -> None:
    """List the email templates."""
    from backend.mail.templates import DEFAULT_NAME, list_templates

    templates = list_templates(engine())
    for template in templates:
        out.print(f"{template.name}: {template.subject}", highlight=False)
    if not any(t.name == DEFAULT_NAME for t in templates):
        out.print(f"{DEFAULT_NAME}: (built in; `portal templates email show {DEFAULT_NAME}`)")


@email_app.command("show")
def email_show(name: Annotated[str, typer.Argument(help="The template's name.")]) -> None:
    """Show a template, and the merge fields it may use."""
    from backend.mail.templates import FIELDS, get_template

    template = get_template(engine(), name)
    out.print(f"Subject: {template.subject}\n\n{template.body}", highlight=False, markup=False)
    out.print(
        "Merge fields: " + ", ".join(f"{{{{ {field} }}}}" for field in FIELDS),
        highlight=False,
        markup=False,
    )


@email_app.command("set")
def email_set(
    name: Annotated[str, typer.Argument(help="The template's name.")],
    file: Annotated[
        Path,
        typer.Argument(help="A text file: a 'Subject: ...' line, a blank line, then the body."),
    ],
) -> None:
    """Add or replace a template from a text file; unknown merge fields are refused."""
    from backend.mail.templates import parse_text, set_template

    try:
        text_value = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file.name} could not be read: {exc}") from None
    template = parse_text(name, text_value)
    set_template(engine(), template.name, template.subject, template.body)
    out.print(f"Saved email template '{template.name}'.")


outbox_app = typer.Typer(help="Emails waiting to go, sent, or refused.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


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
            message.to_address,
            message.subject,
            message.status,
            str(message.attempts),
            message.last_error or "",
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


@app.command()
def init() -> None:
    """Create the database, or bring its tables up to date."""
    url = normalise_url(state.database_url or get_settings().database_url)
    migrate(open_database(url))
    out.print(f"Database ready: {url}")


@app.command()
def batches(
    batch_id: Annotated[
        int | None, typer.Argument(help="Show this batch and its row events.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many recent batches to list.")] = 20,
) -> None:
    """List recent runs (imports, simulations), or show one with what happened to each row."""
    db = engine()
    if batch_id is None:
        table = RichTable(
            "Batch",
            "When (UTC)",
            "Run",
            "Mode",
            "Source",
            "By",
            "Added",
            "Updated",
            "Removed",
            "Skipped",
            "Errors",
        )
        for batch in list_batches(db, limit):
            table.add_row(
                str(batch.id),
                batch.finished_at.strftime("%Y-%m-%d %H:%M"),
                batch.kind,
                batch.mode.upper(),
                batch.source_name or "",
                batch.actor,
                str(batch.added),
                str(batch.updated),
                str(batch.removed),
                str(batch.skipped),
                str(batch.errors),
            )
        out.print(table)
        return
    batch, events = get_batch(db, batch_id)
    out.print(
        f"Batch {batch.id}: {batch.kind}, {batch.mode.upper()}, by {batch.actor}, "
        f"{batch.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    out.print(f"Source: {batch.source_name or '-'} (SHA-256 {batch.source_sha256 or '-'})")
    out.print(
        f"Added {batch.added}, updated {batch.updated}, removed {batch.removed}, "
        f"skipped {batch.skipped}, "
        f"errors {batch.errors}"
    )
    table = RichTable("Row", "Key", "Action", "Changes", "Reason")
    for event in events:
        changes = {k: tuple(v) for k, v in (event.changes or {}).items()}
        table.add_row(
            str(event.row_number or ""),
            event.key or "",
            f"[{ACTION_STYLES.get(event.action, '')}]{event.action}[/]",
            describe_changes(changes),
            event.reason or "",
        )
    out.print(table)


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database and workbooks.")
    ] = Path("portal-demo"),
) -> None:
    """Build a demo district, then simulate and apply a users import with some bad rows."""
    from addin.demo.run import run_demo

    run_demo(folder, out, progress_bar)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes become one plain line and exit code 2, never a traceback."""
    for console in (out, err):
        if not console.is_terminal:  # piped or redirected: wide lines, not truncated tables
            console.width = 200
    try:
        app(args=argv)  # typer itself reports a mistyped command or option, with exit code 2
    except PortalError as exc:
        err.print(f"[bold red]Error:[/] {exc}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
