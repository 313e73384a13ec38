"""`portal user`, `portal student`, `portal contact`: one account at a time, a student's card."""

from typing import Annotated, Any, Literal

import typer
from rich.table import Table as RichTable

from addin.cli.output import ApplyOption, engine, out, print_results, shown

UserType = Literal["GUARDIAN", "STUDENT"]
AccountStatus = Literal["ACTIVE", "DISABLED"]

user_app = typer.Typer(
    help="One account at a time: New User, Modify User, show, rename, merge.",
    no_args_is_help=True,
)
student_app = typer.Typer(
    help="A student's contact card and the logons attached to them.", no_args_is_help=True
)
contact_app = typer.Typer(help="Accounts made from a guardian contact.", no_args_is_help=True)


@user_app.command("new")
def user_new(
    logon_id: Annotated[str, typer.Argument(help="Email address (the logon ID).")],
    user_type: Annotated[
        UserType, typer.Option("--type", help="GUARDIAN or STUDENT.", case_sensitive=False)
    ],
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
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.single import new_user

    fields: dict[str, Any] = {
        "logon_id": logon_id,
        "user_type": user_type,
        "last_name": last_name,
        "first_name": first_name,
        "email": email,
    }
    remote = from_settings()
    if remote is not None:
        print_results(remote_records.new_user(remote, students=student or (), **fields))
        return
    print_results(new_user(engine(), students=student or (), **fields))


@user_app.command("show")
def user_show(logon_id: Annotated[str, typer.Argument(help="The account's logon ID.")]) -> None:
    """Show an account and the students attached to it."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.single import get_account

    remote = from_settings()
    account = (
        get_account(engine(), logon_id)
        if remote is None
        else remote_records.get_account(remote, logon_id)
    )
    out.print(
        f"[bold]{shown(account.logon_id)}[/] ({account.user_type}, {account.status})",
        highlight=False,
    )
    out.print(f"Name: {shown(account.first_name)} {shown(account.last_name)}", highlight=False)
    for label, value in (
        ("Email", account.email),
        ("Phone", account.phone),
        ("Language", account.language),
    ):
        if value:
            out.print(f"{label}: {shown(value)}", highlight=False)
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
            shown(s.student_id),
            shown(f"{s.first_name} {s.last_name}"),
            shown(s.grade),
            shown(s.school),
            shown(s.relationship),
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
    status: Annotated[
        AccountStatus | None, typer.Option(help="ACTIVE or DISABLED.", case_sensitive=False)
    ] = None,
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
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.single import modify_user

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
    asked: dict[str, Any] = {
        "changes": changes,
        "attach": attach or (),
        "detach": detach or (),
        "relationship": relationship,
    }
    remote = from_settings()
    if remote is not None:
        print_results(remote_records.modify_user(remote, logon_id, **asked))
        return
    print_results(modify_user(engine(), logon_id, **asked))


@user_app.command("rename")
def user_rename(
    old: Annotated[str, typer.Argument(help="The account's logon ID now.")],
    new: Annotated[str, typer.Argument(help="The logon ID it should have (no account has it).")],
    apply: ApplyOption = False,
) -> None:
    """Rename a logon (a typo, a changed email): its students, history and activation stay
    with the account; a link sent to the old address stops working."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.rename import rename_user

    remote = from_settings()
    if remote is not None:
        print_results(remote_records.rename_user(remote, old, new, apply=apply))
        return
    print_results(rename_user(engine(), old, new, apply=apply))


@user_app.command("merge")
def user_merge(
    duplicate: Annotated[str, typer.Argument(help="The logon ID of the duplicate account.")],
    into: Annotated[str, typer.Argument(metavar="into", help="The word 'into'.")],
    keep: Annotated[str, typer.Argument(help="The logon ID of the account to keep.")],
    apply: ApplyOption = False,
) -> None:
    """Merge a duplicate account into the one kept: its students move (where the rules allow),
    the duplicate is disabled, both stay in the audit trail."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.rename import merge_users
    from backend.errors import InputError

    if into.strip().casefold() != "into":
        raise InputError(
            f"Write the command as: portal user merge DUPLICATE into KEEP (not '{into}')"
        )
    remote = from_settings()
    if remote is not None:
        print_results(remote_records.merge_users(remote, duplicate, keep, apply=apply))
        return
    print_results(merge_users(engine(), duplicate, keep, apply=apply))


# Contact-card statuses (backend.accounts.contact_card) and their colours.
STATUS_STYLES = {
    "has account": "green",
    "can create": "cyan",
    "logon differs": "yellow",
    "no email": "red",
}


@student_app.command("card")
def student_card(student_id: Annotated[str, typer.Argument(help="The student's ID.")]) -> None:
    """The contact card: each contact with its account status (has account, can create, ...)."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.contact_card import CAN_CREATE, contact_card

    remote = from_settings()
    card = (
        contact_card(engine(), student_id)
        if remote is None
        else remote_records.contact_card(remote, student_id)
    )
    out.print(
        f"[bold]{shown(card.student_id)}[/] {shown(f'{card.first_name} {card.last_name}')}, "
        f"grade {shown(card.grade or '-')}, school {shown(card.school or '-')}",
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
            shown(entry.contact_id),
            shown(f"{entry.first_name} {entry.last_name}"),
            shown(entry.relationship),
            shown(entry.email),
            "Y" if entry.is_guardian else "N",
            "Y" if entry.portal_access else "N",
            f"[{style}]{entry.status}[/]",
            shown(note),
        )
    out.print(table)
    if any(e.status == CAN_CREATE for e in card.entries):
        out.print("Create an account from a contact: portal contact create-account CONTACT_ID")
    for entry in card.entries:
        if entry.suggestion:
            out.print(
                f"Contact {shown(entry.contact_id)} may be attached under a mistyped or old "
                f"logon too; if so: {shown(entry.suggestion)}",
                soft_wrap=True,
                highlight=False,
            )


@student_app.command("logons")
def student_logons(student_id: Annotated[str, typer.Argument(help="The student's ID.")]) -> None:
    """Every logon attached to a student: the Logon IDs searched by student ID."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.contact_card import logons_for_student

    remote = from_settings()
    logons = (
        logons_for_student(engine(), student_id)
        if remote is None
        else remote_records.logons_for_student(remote, student_id)
    )
    if not logons:
        out.print(f"No logon is attached to student {shown(student_id.strip())}.")
        return
    table = RichTable("Logon ID", "Type", "Status", "Name", "Relationship")
    for logon in logons:
        table.add_row(
            shown(logon.logon_id),
            logon.user_type,
            logon.status,
            shown(f"{logon.first_name} {logon.last_name}"),
            shown(logon.relationship),
        )
    out.print(table)


@contact_app.command("create-account")
def contact_create_account(
    contact_id: Annotated[str, typer.Argument(help="The contact's ID.")],
    apply: ApplyOption = False,
    email_template: Annotated[
        str | None,
        typer.Option(help="Email the new account with this template, as AutoCreate does."),
    ] = None,
) -> None:
    """The card's +: a guardian account from the contact's email, attached to their students
    under AutoCreate's rules."""
    from addin import remote_records
    from addin.remote import from_settings
    from backend.accounts.contact_card import create_account_from_contact

    remote = from_settings()
    if remote is not None:
        report = remote_records.create_account_from_contact(
            remote, contact_id, apply=apply, email_template=email_template
        )
    else:
        report = create_account_from_contact(
            engine(), contact_id, apply=apply, email_template=email_template
        )
    print_results(report)
