"""`portal staff`: the district's staff, their schools and their personal API tokens."""

from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table as RichTable

from addin.cli.output import engine, out, shown

if TYPE_CHECKING:
    from backend.staff.identity import StaffIdentity

Role = Literal["district-admin", "school-staff"]

staff_app = typer.Typer(
    help="The district's staff who use a district server: add them, list them, disable them, "
    "give them a new token.",
    no_args_is_help=True,
)

EmailArgument = Annotated[str, typer.Argument(help="The staff member's email address.")]
RoleOption = Annotated[
    Role,
    typer.Option(
        help="district-admin (every school) or school-staff (only the schools of --school).",
        case_sensitive=False,
    ),
]
SchoolsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--school",
        metavar="CODE",
        help="A school code, as the roster gives it; repeat for each school. Required for "
        "school-staff, not allowed for district-admin.",
        show_default=False,
    ),
]


def show_token(token: str) -> None:
    """The token on a line of its own, and that it is never shown again."""
    out.print(token, highlight=False, soft_wrap=True)
    out.print(
        "Copy this token now and give it to its holder privately: it will not be shown again. "
        "If it is lost, `portal staff rotate-token EMAIL` makes a new one.",
        highlight=False,
    )


@staff_app.command("add")
def staff_add(
    email: EmailArgument,
    role: RoleOption,
    school: SchoolsOption = None,
    name: Annotated[
        str | None, typer.Option(help="The name shown beside the email.", show_default=False)
    ] = None,
) -> None:
    """Add a staff member and print their personal API token, once."""
    from backend.staff.identity import add_staff

    identity, token = add_staff(
        engine(), email, role=role.lower(), school_codes=school or (), display_name=name
    )
    out.print(f"Added {shown(identity.email)}: {role_text(identity)}.", highlight=False)
    show_token(token)


def role_text(identity: "StaffIdentity") -> str:
    schools = f" for {', '.join(identity.school_codes)}" if identity.school_codes else ""
    return f"{identity.role}{shown(schools)}"


@staff_app.command("change")
def staff_change(email: EmailArgument, role: RoleOption, school: SchoolsOption = None) -> None:
    """Change a staff member's role or schools (a move to another school); their token keeps
    working, and the change holds from their next request."""
    from backend.staff.identity import change_staff

    identity = change_staff(engine(), email, role=role.lower(), school_codes=school or ())
    out.print(f"{shown(identity.email)} is now {role_text(identity)}.", highlight=False)


@staff_app.command("list")
def staff_list() -> None:
    """List the staff: email, role, schools, status and when their token was last used."""
    from backend.staff.identity import list_staff

    members = list_staff(engine())
    if not members:
        out.print("No staff yet: `portal staff add EMAIL --role ...` adds one.")
        return
    table = RichTable("Email", "Name", "Role", "Schools", "Status", "Last used (UTC)")
    for member in members:
        table.add_row(
            shown(member.email),
            shown(member.display_name or ""),
            member.role,
            shown(", ".join(member.school_codes) or "all"),
            member.status,
            f"{member.last_used_at:%Y-%m-%d %H:%M}" if member.last_used_at else "never",
        )
    out.print(table)


@staff_app.command("disable")
def staff_disable(email: EmailArgument) -> None:
    """End a staff member's access: their tokens stop working at once.

    Their email stays on the batches they ran, in `portal batches`."""
    from backend.staff.identity import disable_staff

    if disable_staff(engine(), email):
        out.print(f"Disabled {shown(email.strip())}: their tokens no longer work.", highlight=False)
    else:
        out.print(f"{shown(email.strip())} was already disabled.", highlight=False)


@staff_app.command("enable")
def staff_enable(email: EmailArgument) -> None:
    """Give a disabled staff member their access back, with a new token printed once."""
    from backend.staff.identity import enable_staff

    token = enable_staff(engine(), email)
    out.print(f"Enabled {shown(email.strip())} again, with a new token:", highlight=False)
    show_token(token)


@staff_app.command("rotate-token")
def staff_rotate_token(email: EmailArgument) -> None:
    """Give a staff member a new token, printed once; their earlier tokens stop working."""
    from backend.staff.identity import rotate_token

    token = rotate_token(engine(), email)
    out.print(
        f"New token for {shown(email.strip())}; the earlier one no longer works:", highlight=False
    )
    show_token(token)
