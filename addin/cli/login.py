"""`portal login`: keep a staff token for the district server in the computer's credential store."""

import sys
from typing import Annotated

import typer
from rich.markup import escape

from addin.cli.output import out
from backend.errors import InputError


def login_command(
    server: Annotated[
        str | None,
        typer.Option(
            help="The district server's address (https://...). Default: PORTAL_SERVER_URL."
        ),
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin", help="Read the token from standard input instead of asking for it."
        ),
    ] = False,
) -> None:
    """Sign in to the district server: the token the portal administrator gave you is checked
    with the server, then kept in this computer's credential store (never in a file); the
    ribbon's imports and Look Up, `portal import`, `autocreate`, `run`, `user`, `student`,
    `contact` and `batches` then run on the server while PORTAL_SERVER_URL names it."""
    import keyring
    from keyring.errors import KeyringError

    from addin.remote import KEYRING_SERVICE, Remote, server_address
    from backend.settings import get_settings

    named = server or get_settings().server_url
    if not named:
        raise InputError(
            "Name the district server: portal login --server https://portal.district.org, "
            "or set PORTAL_SERVER_URL"
        )
    url = server_address(named)
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = typer.prompt("Staff token (ppa_...)", hide_input=True).strip()
    me = Remote(url, token).call("GET", "/api/me")
    try:
        keyring.set_password(KEYRING_SERVICE, url, token)
    except KeyringError as exc:
        raise InputError(
            f"This computer has no credential store to keep the token in ({exc}); a script "
            "can give it as PORTAL_SERVER_TOKEN instead"
        ) from None
    out.print(
        f"Signed in to {escape(url)} as {escape(me['email'])} ({escape(me['role'])}). "
        "The token is kept in this computer's credential store.",
        highlight=False,
        soft_wrap=True,
    )
