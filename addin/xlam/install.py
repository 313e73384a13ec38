"""Put the add-in where Excel loads it at start-up, and write the settings it reads.

Two scopes (see ``addin.excel.settings_file`` for the files and their order):

- ``user`` (the default): one person. Windows: the user's XLSTART folder
  (``%APPDATA%\\Microsoft\\Excel\\XLSTART``), settings in ``%USERPROFILE%\\.parentportal\\``.
  macOS: Excel's start-up folder in the Office group container, settings in Excel's sandbox.
- ``machine``: every user of the computer, for IT. Windows: the XLSTART folder beside
  ``EXCEL.EXE``, settings in ``%PROGRAMDATA%\\ParentPortal\\``. macOS: the start-up folder of
  Office's machine-wide user content (``/Library/Application Support/Microsoft/Office365/User
  Content.localized``), the settings beside it. Both need administrator rights: without them,
  the files are left beside the add-in and the message says what to copy where.

On macOS, RunPython also needs xlwings' AppleScript in each user's
``~/Library/Application Scripts/com.microsoft.Excel`` (what ``xlwings runpython install`` does).
Settings are written in the encoding VBA's ``Input #`` reads: the ANSI code page on Windows,
UTF-8 on macOS. Excel itself is not started or scripted.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from addin.excel.settings_file import (
    MAC_MACHINE_FOLDER,
    machine_settings_path,
    settings_encoding,
    user_settings_path,
)
from backend.errors import PortalError

from .udfs import UDF_MODULE
from .vba_sources import XLWINGS_DIR, XLWINGS_VERSION

PROJECT_ROOT = Path(str(files("addin"))).resolve().parent
"""The folder holding the installed ``addin`` package (a checkout or site-packages): the add-in's
PYTHONPATH, so Excel's Python imports this very copy."""
MAC_STARTUP = Path("Library/Group Containers/UBF8T346G9.Office/User Content/Startup/Excel")
MAC_MACHINE_STARTUP = MAC_MACHINE_FOLDER.parent / "Startup.localized" / "Excel"
MAC_SCRIPTS = Path("Library/Application Scripts/com.microsoft.Excel")
WINDOWS_OFFICE_FOLDERS = (
    Path("Microsoft Office") / "root" / "Office16",
    Path("Microsoft Office") / "Office16",
)
"""Where ``EXCEL.EXE`` is, under Program Files: Click-to-Run (Microsoft 365, 2019 and later),
then MSI installs."""
DATABASE_KEY = "PORTAL_DATABASE_URL"
SERVER_KEY = "PORTAL_SERVER_URL"
Scope = Literal["user", "machine"]


class AddinInstallError(PortalError, OSError):
    """The add-in could not be copied or its settings written; the message says why."""


@dataclass(frozen=True)
class Placed:
    """A file put where it belongs, or, lacking the rights, left at ``staged`` to copy there."""

    target: Path
    staged: Path | None = None

    def describe(self, what: str) -> str:
        if self.staged is None:
            return f"{what}: {self.target}"
        return f"{what}: copy {self.staged} to {self.target} as an administrator"


def settings_text(path: Path, settings: dict[str, str], encoding: str) -> bytes:
    """The settings file with ``settings`` set, keeping any other lines it has, encoded.

    A value VBA cannot read back is refused: one with a double quote or a line break, or one the
    encoding cannot hold (a name outside the ANSI code page, on Windows)."""
    for key, value in settings.items():
        if '"' in value or "\n" in value or "\r" in value:
            raise AddinInstallError(
                f"The add-in's setting {key} cannot hold quotes or line breaks: {value!r}."
            )
        try:
            value.encode(encoding)
        except UnicodeEncodeError as error:
            bad = value[error.start : error.end]
            raise AddinInstallError(
                f"The add-in's setting {key} ({value}) has '{bad}', which Excel's macros cannot "
                f"read on this computer (they read settings files as {encoding}). Install the "
                "project in a folder whose path has only plain letters, such as "
                "C:\\ParentPortal, and run 'portal addin install' there."
            ) from None
    kept: list[str] = []
    if path.exists():
        for line in path.read_bytes().decode(encoding, errors="replace").splitlines():
            key = line.split(",", 1)[0].strip().strip('"').upper()
            if line.strip() and key not in settings:
                kept.append(line)
    lines = kept + [f'"{key}","{value}"' for key, value in settings.items()]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _place(data: bytes, target: Path, staging: Path, scope: Scope) -> Placed:
    """Write ``data`` to ``target``; for the machine scope without the rights, to ``staging``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return Placed(target)
    except PermissionError as error:
        if scope == "machine":
            staged = staging / target.name
            staged.write_bytes(data)
            return Placed(target, staged)
        raise AddinInstallError(
            f"Could not write {target}: close Excel (it keeps the add-in open) and run "
            "'portal addin install' again."
        ) from error


def windows_machine_startup(environ: Mapping[str, str]) -> Path:
    """The XLSTART folder beside ``EXCEL.EXE``, which Excel opens for every user."""
    roots = [environ.get(name) for name in ("ProgramFiles", "ProgramFiles(x86)", "ProgramW6432")]
    for root in filter(None, roots):
        for folder in WINDOWS_OFFICE_FOLDERS:
            if (Path(root) / folder / "EXCEL.EXE").is_file():
                return Path(root) / folder / "XLSTART"
    root = environ.get("ProgramFiles", "C:\\Program Files")
    return Path(root) / WINDOWS_OFFICE_FOLDERS[0] / "XLSTART"


def addin_places(
    platform: str, home: Path, environ: Mapping[str, str], scope: Scope
) -> tuple[Path, Path | None]:
    """Where the add-in goes (Excel's start-up folder) and where its settings go, for ``scope``;
    the settings path is None when the machine-wide folder is unknown (no PROGRAMDATA)."""
    if scope == "machine":
        startup = windows_machine_startup(environ) if platform == "win32" else MAC_MACHINE_STARTUP
        return startup, machine_settings_path(platform, environ)
    if platform == "win32":
        appdata = Path(environ.get("APPDATA", home / "AppData" / "Roaming"))
        startup = appdata / "Microsoft" / "Excel" / "XLSTART"
    else:
        startup = home / MAC_STARTUP
    return startup, user_settings_path(platform, home, environ)


def _settings(
    platform: str,
    python: str,
    environ: Mapping[str, str],
    database_url: str | None,
    scope: Scope,
    server_url: str | None = None,
) -> dict[str, str]:
    """What the add-in reads: the interpreter, the project's path, the worksheet functions'
    module (UDF MODULES) and, for Python, the district server or else the database."""
    settings = {
        "INTERPRETER_MAC" if platform == "darwin" else "INTERPRETER_WIN": python,
        "PYTHONPATH": str(PROJECT_ROOT),
        "UDF MODULES": UDF_MODULE,
    }
    server_url = server_url or environ.get(SERVER_KEY)
    database_url = database_url or environ.get(DATABASE_KEY)
    if server_url:  # a client of the district server: no database on this computer
        from addin.remote import server_address

        settings[SERVER_KEY] = server_address(server_url)
    elif database_url:
        settings[DATABASE_KEY] = database_url
    elif scope == "machine":
        raise AddinInstallError(
            "Say which district server or database every user's add-in works on: "
            "'portal addin install --machine --server-url https://...' or "
            f"'--database-url postgresql://...' (or set {SERVER_KEY} or {DATABASE_KEY})."
        )
    return settings


def install_addin(
    xlam: Path,
    *,
    platform: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
    python: str | None = None,
    scope: Scope = "user",
    database_url: str | None = None,
    server_url: str | None = None,
) -> str:
    """Install the Parent Portal add-in for this user or every user and say what is left to do.

    Copies the .xlam to Excel's start-up folder and writes the add-in's settings: this
    environment's Python interpreter, the folder holding the ``addin`` package as PYTHONPATH and
    the district server (``server_url``, else PORTAL_SERVER_URL) or else the database
    (``database_url``, else PORTAL_DATABASE_URL); one is required for every user. Excel
    must then be restarted. On other systems nothing is installed and the message says where
    the built add-in is.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    python = sys.executable if python is None else python
    xlam = Path(xlam)
    if not xlam.is_file():
        raise AddinInstallError(f"No add-in at {xlam}: run 'portal addin build' first.")
    if platform not in ("win32", "darwin"):
        return (
            f"Excel is not available on this system ({platform}), so nothing was installed.\n"
            f"The add-in is built at {xlam.resolve()}: on a Windows or Mac computer with this "
            "project and Excel, run 'portal addin install' there."
        )
    settings = _settings(platform, python, environ, database_url, scope, server_url)
    startup, config = addin_places(platform, home, environ, scope)
    if config is None:
        raise AddinInstallError("PROGRAMDATA is not set: the machine-wide settings have no home.")
    encoding = settings_encoding(platform)
    placed = [
        _place(xlam.read_bytes(), startup / xlam.name, xlam.parent, scope).describe("Add-in"),
        _place(settings_text(config, settings, encoding), config, xlam.parent, scope).describe(
            f"Settings (Python {python}, project {PROJECT_ROOT})"
        ),
    ]
    return "\n".join(placed + _left_to_do(platform, scope, home, environ, python))


def _left_to_do(
    platform: str, scope: Scope, home: Path, environ: Mapping[str, str], python: str
) -> list[str]:
    notes: list[str] = []
    if scope == "machine" and Path(python).is_relative_to(home):
        notes.append(
            f"Note: {python} is in your own folder; every user must be able to run it. Install "
            "the project in a shared folder (such as C:\\ParentPortal) and run this there."
        )
    machine = machine_settings_path(platform, environ)
    if scope == "user" and machine is not None and machine.is_file():
        notes.append(f"IT's settings for every user, in {machine}, come before these.")
    if platform == "darwin":
        script = XLWINGS_DIR / f"xlwings-{XLWINGS_VERSION}.applescript"
        scripts = home / MAC_SCRIPTS
        scripts.mkdir(parents=True, exist_ok=True)
        shutil.copy(script, scripts / script.name)
        notes.append(f"xlwings' RunPython script is in {scripts}.")
        if scope == "machine":
            notes.append(
                f"Each other user needs {script.name} in their own ~/{MAC_SCRIPTS} "
                "(macOS lets no script folder serve every user): copy it there, for example "
                "with your management tool."
            )
        notes.append(
            "Left to do: quit Excel (Cmd-Q) and start it again; if Excel asks about the "
            "add-in's macros, choose Enable Macros. The Parent Portal tab then appears on "
            "the ribbon."
        )
    else:
        notes.append(
            "Left to do: close every Excel window and start Excel again; the Parent Portal "
            "tab then appears on the ribbon."
        )
    return notes
