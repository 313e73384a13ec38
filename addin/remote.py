"""Client mode: the imports and AutoCreate run on the district server instead of a database.

With PORTAL_SERVER_URL set, the rows a front end read go to the server over HTTPS (httpx) as
plain values, and the report comes back as the service made it there: the front end writes the
same Import Log it writes in local mode. The staff token comes from the operating system's
credential store (`portal login` puts it there), else PORTAL_SERVER_TOKEN (for scripts); it is
never written to a file or a workbook. A refusal from the server is the same error, with the
same words, as the local service raises. The single-account commands, the contact card, the
look-ups and the batches go through ``addin.remote_records``; coverage, activation emails and
the year end through ``addin.remote_school_year``.
"""

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from backend.errors import InputError, NotFoundError, NotSignedIn, PortalError
from backend.imports.contract import InputTable, Progress, Report, cell_text
from backend.imports.reviewed import ChangedSinceReview, Review
from backend.settings import get_settings
from server.wire import decode_report, encode_table

if TYPE_CHECKING:
    import httpx

    from backend.accounts.autocreate import Options

KEYRING_SERVICE = "parent-portal-accounts"
"""The credential store's name for our entries; each is keyed by the server's URL."""
TIMEOUT_S = 600.0
"""A roster of a large district is planned and saved in one request: minutes, not seconds."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this computer alone: nothing sent to it crosses a network."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_address(url: str) -> str:
    """PORTAL_SERVER_URL as used: https, or http to this computer alone (a token sent over a
    network unencrypted could be read on the way)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return url
    raise InputError(
        f"The district server's address '{url}' must begin with https:// (PORTAL_SERVER_URL): "
        "staff tokens are never sent unencrypted"
    )


def stored_token(server_url: str) -> str | None:
    """The staff token `portal login` stored for this server, or None."""
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, server_url)
    except KeyringError:
        return None


@dataclass(frozen=True)
class Remote:
    """A district server and the staff token to send it."""

    url: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the answer's JSON, or the server's refusal raised as our own error."""
        import httpx  # client mode only: a local run never loads it

        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = httpx.request(
                method, self.url.rstrip("/") + path, json=body, headers=headers, timeout=TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise PortalError(
                f"The district server at {self.url} (PORTAL_SERVER_URL) did not answer: {exc}. "
                "Nothing was sent; check the address, or ask IT whether it is running"
            ) from None
        if response.is_success:
            return response.json()
        raise refusal(response)

    def runner(self, kind: str) -> Callable[..., Report]:
        """``ImportKind.run`` for ``kind``, run on this server: same arguments, same report."""
        return lambda _engine, tables, **options: self.run(kind, tables, **options)

    def run(
        self,
        kind: str,
        tables: Mapping[str, InputTable],
        *,
        apply: bool,
        progress: Progress | None = None,
        review: Review | None = None,
        **options: Any,
    ) -> Report:
        body: dict[str, Any] = {"apply": apply}
        if review is not None:
            body["review"] = {"batch_id": review.batch_id, "confirmed": review.confirmed}
        path, sent = request_of(kind, tables, apply, options)
        if progress is not None:
            progress("Waiting for the server", 0, 1)
        report = decode_report(self.call("POST", path, body | sent))
        if progress is not None:
            progress("Waiting for the server", 1, 1)
        return report

    def autocreate(self, options: "Options", *, apply: bool) -> Report:
        """`portal autocreate` on the server, with the options of its flags."""
        body = {"apply": apply, "options": options.model_dump()}
        return decode_report(self.call("POST", "/api/autocreate", body))


def request_of(
    kind: str, tables: Mapping[str, InputTable], apply: bool, options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The address and body of a ``kind`` run, taking what the local run would take."""
    if kind == "users":
        return "/api/imports/users", {
            "table": encode_table(tables["Users"]),
            "mode": options.get("mode", "upsert"),
        }
    if kind == "links":
        return "/api/imports/links", {
            "table": encode_table(tables["Links"]),
            "schools": list(options.get("schools", ())),
        }
    if kind == "roster":
        return "/api/imports/roster", {
            name.lower(): encode_table(tables[name])
            for name in ("Schools", "Students", "Contacts")
            if name in tables
        }
    return "/api/autocreate", {"options": autocreate_options(tables, apply).model_dump()}


def autocreate_options(tables: Mapping[str, InputTable], apply: bool) -> "Options":
    """The Options sheet (and the Students sheet's selection) as AutoCreate's options."""
    from addin.workbooks.autocreate_options import read_options

    chosen, simulation = read_options(tables["Options"])
    if apply and simulation:
        raise InputError(
            "SIMULATION is Y on the Options sheet: review the simulation's log, then set "
            "SIMULATION to N and press Create again"
        )
    if "Students" in tables:
        chosen.students = [cell_text(cells[0]) or "" for _, cells in tables["Students"].rows]
    return chosen


def refusal(response: "httpx.Response") -> PortalError:
    """The server's one-line refusal as the error the local service would have raised."""
    try:
        body = response.json()
        message = str(body["error"])
    except (ValueError, KeyError, TypeError):
        message = f"The district server answered {response.status_code} {response.reason_phrase}"
        body = {}
    status = response.status_code
    if status == 401:
        return NotSignedIn(message)
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ChangedSinceReview(message, list(body.get("differences", [])))
    if status in (400, 413, 422, 429):
        return InputError(message)
    return PortalError(message)


def from_settings() -> Remote | None:
    """The district server to run on, when PORTAL_SERVER_URL names one; None: local mode."""
    settings = get_settings()
    if not settings.server_url:
        return None
    url = server_address(settings.server_url)
    token = stored_token(url) or settings.server_token
    if not token:
        raise NotSignedIn(
            f"No staff token for the district server {url}: run `portal login` and paste the "
            "token the district's portal administrator gave you"
        )
    return Remote(url, token.strip())


def remote_kinds(remote: Remote) -> dict[str, Any]:
    """Every import kind, each run on ``remote``: the registry the front ends use, remotely."""
    from addin.workbooks.kinds import KINDS

    return {name: replace(kind, run=remote.runner(name)) for name, kind in KINDS.items()}
