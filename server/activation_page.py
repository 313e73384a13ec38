"""The parents' activation page: set the first password from an emailed link or a letter's code.

Served at the path of PORTAL_ACTIVATION_URL. ``GET ?token=...`` shows the password form of an
emailed link; without a token, the form of a printed letter (logon, code). Both post to the same
path and call ``backend.mail.activation.activate``. A wrong, used or expired token or code gets
one same answer; the page's language comes from the link or the browser, never from the token.

The staff server includes ``router``; ``create_activation_app`` serves the page alone.
"""

import base64
import hashlib
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from backend.database.engine import open_database
from backend.errors import InputError, PortalError, SettingsError
from backend.mail.activation import (
    INVALID_LINK,
    MIN_PASSWORD_LENGTH,
    activate,
    activation_secret,
)
from backend.settings import get_settings
from server.activation_texts import TEXTS, choose_language
from server.page_guards import FORM_TOKEN_HOURS, AttemptCounter, form_token_is_valid, new_form_token

PAGES = Path(__file__).parent / "pages"
STYLESHEET = (PAGES / "activation.css").read_text(encoding="utf-8")
COOKIE = "portal_activation_form"
MAX_FORM_BYTES = 16_384  # a password form: anything larger is not one
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLESHEET.encode("utf-8")).digest()).decode()
SECURITY_HEADERS = {
    # No script at all; only our own stylesheet, by its hash; posts only to this server.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the token in the address never leaves in a Referer
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class View:
    """What one answer shows."""

    language: str
    form: Literal["link", "code"] | None
    token: str = ""
    logon: str = ""
    error: str = ""
    done: str = ""
    code_link: bool = False
    status: int = 200
    fields: dict[str, str] = field(default_factory=dict, repr=False)  # holds the password

    @property
    def texts(self) -> dict[str, str]:
        return TEXTS[self.language]


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(PAGES), autoescape=True)


def activation_path() -> str:
    """The page's path, taken from PORTAL_ACTIVATION_URL."""
    return urlsplit(get_settings().activation_url).path or "/"


def activation_router(path: str | None = None) -> APIRouter:
    """The page's two routes at ``path`` (default: that of PORTAL_ACTIVATION_URL)."""
    page = APIRouter(include_in_schema=False)
    page.add_api_route(path or activation_path(), _show, methods=["GET"])
    page.add_api_route(path or activation_path(), _post, methods=["POST"])
    return page


def create_activation_app(database_url: str | None = None) -> FastAPI:
    """The activation page alone, on the database of ``database_url`` (default: the setting)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = open_database(database_url)
    app.include_router(activation_router())
    return app


async def _show(request: Request) -> HTMLResponse:
    """The form: a link's password form with ``?token=``, else a letter's code form."""
    token = request.query_params.get("token", "")
    language = _language(request, request.query_params.get("lang"))
    return _render(request, View(language, "link" if token else "code", token=token))


async def _post(request: Request) -> HTMLResponse:
    """Check the address's count and the form token, then the fields, then activate."""
    fields = await _read_form(request)
    token = fields.get("token", "")
    view = View(
        _language(request, fields.get("lang")),
        "link" if token else "code",
        token=token,
        logon=fields.get("logon", "").strip(),
        fields=fields,
    )
    address = request.client.host if request.client else "unknown"
    limit = get_settings().activation_attempts_per_10_minutes
    if not _counter(request.app).allow(address, limit):
        view.form, view.error, view.status = None, view.texts["too_many"], 429
        return _render(request, view)
    secret = await run_in_threadpool(_secret)
    if secret is None:
        return _render(request, view)  # says the page cannot set passwords now
    if not form_token_is_valid(secret, request.cookies.get(COOKIE), fields.get("form_token")):
        view.error, view.status = view.texts["forged"], 403
        return _render(request, view)
    view.error = _problem(view)
    if view.error:
        view.status = 400
    else:
        await run_in_threadpool(_activate, request.app, view)
    return _render(request, view)


def _problem(view: View) -> str:
    """What the parent must fix before anything is tried, in the page's words, or ''."""
    password, confirm = view.fields.get("password", ""), view.fields.get("confirm", "")
    if view.form == "code" and not (view.logon and view.fields.get("code", "").strip()):
        return view.texts["missing"]
    if len(password) < MIN_PASSWORD_LENGTH:
        return view.texts["too_short"].format(minimum=MIN_PASSWORD_LENGTH, length=len(password))
    if password != confirm:
        return view.texts["mismatch"]
    return ""


def _activate(app: FastAPI, view: View) -> None:
    """Set the password; the answer goes into ``view``. Runs in a worker thread: hashing and the
    database block."""
    fields = view.fields
    try:
        if view.form == "link":
            logon = activate(_engine(app), view.token, fields["password"])
        else:
            logon = activate(_engine(app), fields["code"], fields["password"], logon=view.logon)
    except InputError as exc:
        view.status = 400
        view.error = view.texts["invalid"] if str(exc) == INVALID_LINK else str(exc)
        if view.form == "link":  # the link is spent: no form, but the letter's way in
            view.form, view.code_link = None, True
        return
    except (PortalError, SQLAlchemyError):
        view.status, view.error = 503, view.texts["unavailable"]
        return
    view.form, view.done = None, view.texts["done"].format(logon=logon)


def _render(request: Request, view: View) -> HTMLResponse:
    """The page for ``view``, with a fresh form token wherever it shows a form."""
    texts, path = view.texts, request.url.path
    cookie = form_token = ""
    secret = _secret() if view.form is not None else b""
    if secret is None:
        view.form, view.error, view.status = None, texts["unavailable"], 503
    elif view.form is not None:
        kept = request.cookies.get(COOKIE, "")
        cookie, form_token = new_form_token(secret, nonce=kept if _NONCE.fullmatch(kept) else None)
    query = {"token": view.token} if view.token and not view.code_link else {}
    context: dict[str, Any] = {
        "language": view.language,
        "t": texts,
        "heading": texts["done_title"] if view.done else texts["title"],
        "stylesheet": Markup(STYLESHEET),  # our own file, verbatim: its hash is in the CSP
        "form": view.form,
        "error": view.error,
        "done": view.done,
        "token": view.token,
        "logon": view.logon,
        "form_token": form_token,
        "minimum": MIN_PASSWORD_LENGTH,
        "action": path,
        "code_link": f"{path}?{urlencode({'lang': view.language})}" if view.code_link else "",
        "other_languages": [
            {"code": code, "name": TEXTS[code]["language_name"], "href": _href(path, query, code)}
            for code in TEXTS
            if code != view.language
        ],
    }
    html = _templates().get_template("activation.html").render(context)
    response = HTMLResponse(html, status_code=view.status, headers=SECURITY_HEADERS)
    if cookie:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=FORM_TOKEN_HOURS * 3600,
            path=path,
            secure=urlsplit(get_settings().activation_url).scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return response


def _secret() -> bytes | None:
    """The activation secret, or None when its file cannot be used (the server's log says why
    when the staff commands run; a parent only learns to try later)."""
    try:
        return activation_secret()
    except SettingsError:
        return None


def _href(path: str, query: dict[str, str], language: str) -> str:
    return f"{path}?{urlencode(query | {'lang': language})}"


def _language(request: Request, asked: str | None) -> str:
    return choose_language(asked, request.headers.get("accept-language"))


async def _read_form(request: Request) -> dict[str, str]:
    """The posted fields of a URL-encoded form of at most MAX_FORM_BYTES; {} for anything else
    (which then fails the form-token check)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        text = body.decode("utf-8", "replace")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        return {}
    return dict(pairs)


_state_lock = threading.Lock()


def _counter(app: FastAPI) -> AttemptCounter:
    """The app's count of tries per address (one per app, so each process counts its own)."""
    with _state_lock:
        counter: AttemptCounter | None = getattr(app.state, "activation_attempts", None)
        if counter is None:
            counter = app.state.activation_attempts = AttemptCounter()
        return counter


def _engine(app: FastAPI) -> Engine:
    """The including app's engine (``app.state.engine``), else the configured database's."""
    engine: Engine | None = getattr(app.state, "engine", None)
    return engine if engine is not None else open_database(per_session=True)


router = activation_router()
"""The page at PORTAL_ACTIVATION_URL's path, for the staff server to include."""
