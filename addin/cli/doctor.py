"""`portal doctor`: what IT runs on a desk when the add-in misbehaves.

Each check says what it found and, when it fails, what to do about it in plain words: Python's
version, the installed packages, the add-in where ``portal addin install`` puts it and its
settings file, and the database (or, with PORTAL_SERVER_URL, the district server and the staff
token). Exit code 0 when every check passes, 1 otherwise. It changes nothing: a database it
cannot find is reported, not created.
"""

import importlib
import os
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import typer
from rich.markup import escape

from addin.cli.output import out, state

DISTRIBUTION = "parent-portal-accounts"
MINIMUM_PYTHON = (3, 11)


@dataclass(frozen=True)
class Check:
    """One check: its name, whether it passed, what was found, and the fix when it failed."""

    name: str
    passed: bool
    found: str
    fix: str = ""


def current_platform() -> str:
    return sys.platform


def check_python() -> Check:
    version = ".".join(str(part) for part in sys.version_info[:3])
    wanted = ".".join(str(part) for part in MINIMUM_PYTHON)
    if sys.version_info[:2] >= MINIMUM_PYTHON:
        return Check("Python", True, f"{version} at {sys.executable}")
    return Check(
        "Python",
        False,
        f"{version} at {sys.executable}",
        f"Install Python {wanted} or newer and install Parent Portal Accounts with it.",
    )


def _requirements() -> list[str]:
    """The distributions the package needs (not its optional extras)."""
    names = []
    for line in metadata.requires(DISTRIBUTION) or []:
        if "extra ==" in line:
            continue
        name = line.split(";")[0].split("[")[0]
        for mark in "<>=!~ (":
            name = name.split(mark)[0]
        names.append(name.strip())
    return names


def _modules_of() -> dict[str, list[str]]:
    """Distribution name (normalised) -> the top-level modules it installs."""
    modules: dict[str, list[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules.setdefault(_normal(distribution), []).append(module)
    return modules


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def check_packages() -> list[Check]:
    """Each required package: installed, its version, and importable."""
    try:
        own = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return [
            Check(
                "Packages",
                False,
                f"{DISTRIBUTION} is not installed in {sys.prefix}",
                "Install Parent Portal Accounts in this Python environment (uv sync, or pip "
                "install the wheel your district built).",
            )
        ]
    checks = [Check(DISTRIBUTION, True, own)]
    modules = _modules_of()
    for name in _requirements():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            checks.append(
                Check(
                    name,
                    False,
                    "not installed",
                    f"Reinstall Parent Portal Accounts: {name} "
                    "is missing from this Python environment.",
                )
            )
            continue
        broken = _import_problem(modules.get(_normal(name), []))
        if broken:
            checks.append(
                Check(
                    name,
                    False,
                    f"{version}, but it does not load ({broken})",
                    f"Reinstall {name} in this Python environment (pip install --force-"
                    f"reinstall {name}).",
                )
            )
        else:
            checks.append(Check(name, True, version))
    return checks


def _import_problem(modules: list[str]) -> str | None:
    """The first of a package's modules that fails to load; a deprecation warning (an old name
    a package still ships, such as python-multipart's ``multipart``) is not a failure."""
    for module in sorted(m for m in modules if not m.startswith("_")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
        except Exception as exc:
            return f"{module}: {exc.__class__.__name__}: {exc}"
    return None


def addin_locations(
    platform: str, home: Path, environ: dict[str, str] | os._Environ[str]
) -> list[tuple[Path, Path]]:
    """Where ``portal addin install`` puts the add-in and its settings on ``platform``: for
    every user (``--machine``) first, then for this user; none where Excel does not run."""
    from addin.xlam.build import ADDIN_FILE_NAME
    from addin.xlam.install import addin_places

    if platform not in ("win32", "darwin"):
        return []
    places = []
    for scope in ("machine", "user"):
        startup, config = addin_places(platform, home, environ, scope)
        if config is not None:
            places.append((startup / ADDIN_FILE_NAME, config))
    return places


def check_addin(
    platform: str, home: Path, environ: dict[str, str] | os._Environ[str]
) -> list[Check]:
    """The add-in file and its settings: there, and pointing at a Python and this project."""
    places = addin_locations(platform, home, environ)
    if not places:
        return [
            Check(
                "Excel add-in", True, f"not checked: Excel does not run on this system ({platform})"
            )
        ]
    install = (
        "Run 'portal addin install' for yourself (Excel closed), or, as an administrator, "
        "'portal addin install --machine' for every user; then start Excel again."
    )
    installed = next(((x, c) for x, c in places if x.is_file()), None)
    if installed is None:
        where = " or ".join(str(xlam) for xlam, _ in places)
        return [Check("Excel add-in", False, f"no add-in at {where}", install)]
    xlam, config = installed
    checks = [Check("Excel add-in", True, str(xlam))]
    if not config.is_file():
        return [*checks, Check("Add-in settings", False, f"no settings file at {config}", install)]
    return [*checks, _check_settings(platform, config, install)]


def _check_settings(platform: str, config: Path, install: str) -> Check:
    """The settings file names a Python that exists, this project and the worksheet functions."""
    from addin.excel.settings_file import read_settings, settings_encoding

    settings = {k.upper(): v for k, v in read_settings(config, settings_encoding(platform)).items()}
    key = "INTERPRETER_MAC" if platform == "darwin" else "INTERPRETER_WIN"
    problems = []
    python = settings.get(key, "")
    if not python or not Path(python).is_file():
        problems.append(f"{key} names no Python that exists ({python or 'none'})")
    project = settings.get("PYTHONPATH", "")
    if not project or not (Path(project) / "addin").is_dir():
        problems.append(f"PYTHONPATH is not a folder holding Parent Portal ({project or 'none'})")
    from addin.xlam.udfs import UDF_MODULE

    if UDF_MODULE not in settings.get("UDF MODULES", ""):
        problems.append(f"UDF MODULES does not name {UDF_MODULE}")
    if problems:
        return Check("Add-in settings", False, f"{config}: " + "; ".join(problems), install)
    return Check("Add-in settings", True, f"{config} (Python {python})")


def check_database(url: str | None) -> list[Check]:
    """The database opens, and its tables are at the newest version; nothing is created."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from backend.database.engine import is_current, make_engine, normalise_url
    from backend.settings import get_settings

    resolved = normalise_url(url or get_settings().database_url)
    shown = make_url(resolved).render_as_string(hide_password=True)
    if resolved.startswith("sqlite"):
        path = make_url(resolved).database
        if path and path != ":memory:" and not Path(path).is_file():
            return [
                Check(
                    "Database",
                    False,
                    f"no database file at {path}",
                    "Run 'portal init' to create it, or set PORTAL_DATABASE_URL (or --db) to "
                    "the district's database.",
                )
            ]
    engine = make_engine(resolved)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = is_current(engine)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else "no details"
        return [
            Check(
                "Database",
                False,
                f"{shown} does not open ({exc.__class__.__name__}: {first})",
                "Check PORTAL_DATABASE_URL (or --db): the server's name, the database, the user "
                "and password, and that this computer may reach the server.",
            )
        ]
    finally:
        engine.dispose()
    checks = [Check("Database", True, shown)]
    if current:
        return [*checks, Check("Database tables", True, "up to date")]
    return [
        *checks,
        Check(
            "Database tables",
            False,
            "not at the newest version",
            "Run 'portal init' once to bring the tables up to date (back the database up first).",
        ),
    ]


def check_server(url: str) -> list[Check]:
    """A client of the district server: the address, the staff token, and that the server
    answers and knows the token (``GET /api/me``, which changes nothing)."""
    from addin.remote import Remote, server_address, stored_token
    from backend.errors import PortalError
    from backend.settings import get_settings

    try:
        address = server_address(url)
    except PortalError as exc:
        return [Check("District server", False, str(exc), "Give PORTAL_SERVER_URL as https://...")]
    token = stored_token(address) or get_settings().server_token
    if not token:
        return [
            Check(
                "District server",
                False,
                f"{address}: no staff token on this computer for this user",
                "Run 'portal login' and paste the token the portal administrator gave you.",
            )
        ]
    try:
        me = Remote(address, token.strip()).call("GET", "/api/me")
    except PortalError as exc:
        return [
            Check(
                "District server",
                False,
                f"{address}: {exc}",
                "Check the address and that the server runs; for a refused token, run "
                "'portal login' again.",
            )
        ]
    return [Check("District server", True, f"{address}, signed in as {me['email']} ({me['role']})")]


def server_url(platform: str, home: Path, environ: dict[str, str] | os._Environ[str]) -> str:
    """PORTAL_SERVER_URL of the environment, else of the add-in's settings files."""
    from addin.excel.settings_file import addin_settings
    from backend.settings import get_settings

    named = get_settings().server_url or addin_settings(platform, home, environ).get(
        "PORTAL_SERVER_URL", ""
    )
    return named.strip()


def run_checks(
    platform: str | None = None,
    home: Path | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
) -> list[Check]:
    """Every check; on a client of the district server, the server instead of a database."""
    platform = platform or current_platform()
    home = home or Path.home()
    environ = os.environ if environ is None else environ
    server = server_url(platform, home, environ)
    return [
        check_python(),
        *check_packages(),
        *check_addin(platform, home, environ),
        *(check_server(server) if server else check_database(state.database_url)),
    ]


def doctor() -> None:
    """Check this computer's set-up (Python, packages, Excel add-in, database or district
    server); say what to fix."""
    checks = run_checks()
    for check in checks:
        mark = "[green]ok[/]  " if check.passed else "[bold red]FAIL[/]"
        found = escape(check.found)  # paths and server replies, never markup
        out.print(f"{mark} {check.name}: {found}", highlight=False, soft_wrap=True)
        if not check.passed:
            out.print(f"     To fix: {escape(check.fix)}", highlight=False, soft_wrap=True)
    failed = [check for check in checks if not check.passed]
    if failed:
        out.print(f"{len(failed)} of {len(checks)} checks failed.", highlight=False)
        raise typer.Exit(1)
    out.print(f"All {len(checks)} checks passed.", highlight=False)
