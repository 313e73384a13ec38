"""`portal templates`: the template workbooks and the email templates."""

from pathlib import Path
from typing import Annotated

import typer

from addin.cli.output import (
    engine,
    out,
)
from backend.errors import InputError

templates_app = typer.Typer(help="Template workbooks and email templates.", no_args_is_help=True)


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
