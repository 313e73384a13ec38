"""`portal addin`: build and install the Excel add-in."""

from pathlib import Path
from typing import Annotated

import typer

from addin.cli.output import (
    out,
)

addin_app = typer.Typer(
    help="The Excel add-in: the Parent Portal tab on the ribbon.", no_args_is_help=True
)


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
    machine: Annotated[
        bool,
        typer.Option(
            "--machine/--user",
            help="--machine: for every user of this computer (IT, as administrator), with "
            "settings in one machine-wide file. --user (the default): for you alone.",
        ),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="The database the add-in works on (default: PORTAL_DATABASE_URL); "
            "required with --machine."
        ),
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(
            help="The district server (https://...) the add-in works through instead of a "
            "database (default: PORTAL_SERVER_URL); staff sign in with `portal login`."
        ),
    ] = None,
) -> None:
    """Install the add-in (Windows, macOS) and say what is left to do."""
    from addin.xlam import build_addin, install_addin

    message = install_addin(
        xlam or build_addin(),
        scope="machine" if machine else "user",
        database_url=database_url,
        server_url=server_url,
    )
    out.print(message, highlight=False)
