"""`portal serve`: the district server, for staff whose Excel or terminal sends it their rows."""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from addin.cli.output import out, state, unanswered
from backend.errors import InputError, PortalError


def shown_url(url: str) -> str:
    """A database URL as it may be printed: the password, if any, as ***."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def serve_command(
    host: Annotated[
        str,
        typer.Option(
            help="The address to listen on. Another than 127.0.0.1 needs --ssl-certfile and "
            "--ssl-keyfile, or --behind-proxy."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="How many server processes share the port.", min=1, max=64)
    ] = 1,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL or SQLite file path. Default: portal's own --db, else "
            "PORTAL_DATABASE_URL.",
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="The server's TLS certificate (PEM), to serve HTTPS.")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM).")
    ] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy",
            help="The district's HTTPS proxy or load balancer terminates TLS in front of this "
            "server: listen on another address than 127.0.0.1 without a certificate.",
        ),
    ] = False,
) -> None:
    """Run the district server: the imports, AutoCreate, accounts and the audit trail over
    HTTP, for staff with a token (`portal staff add`). Its API is described at /docs."""
    import uvicorn
    from sqlalchemy.exc import OperationalError

    from addin.remote import is_loopback
    from backend.database.engine import normalise_url, open_database
    from backend.settings import get_settings

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise InputError("Give both --ssl-certfile and --ssl-keyfile, or neither")
    tls = ssl_certfile is not None
    if not is_loopback(host) and not tls and not behind_proxy:
        raise InputError(
            f"Listening on {host} would send staff tokens over the network unencrypted: give "
            "--ssl-certfile and --ssl-keyfile, or --behind-proxy when the district's HTTPS "
            "proxy terminates TLS in front of this server"
        )
    url = normalise_url(database or state.database_url or get_settings().database_url)
    try:
        open_database(url).dispose()  # created or upgraded once, before the workers start
    except OperationalError as exc:
        reason = unanswered(exc)
        raise PortalError(
            f"The database {shown_url(url)} did not answer ({reason}); the server was not started"
        ) from None
    os.environ["PORTAL_DATABASE_URL"] = url  # every worker process opens the same database
    get_settings.cache_clear()
    scheme = "https" if tls else "http"
    where = f"{scheme}://{host}:{port}"
    processes = f"{workers} server processes" if workers > 1 else "1 server process"
    out.print(
        f"Parent Portal server on {escape(where)} ({processes}), database "
        f"{escape(shown_url(url))}. API described at {escape(where)}/docs. Ctrl+C stops it.",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        proxy_headers=behind_proxy,
        log_level="info",
    )
