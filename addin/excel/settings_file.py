"""The add-in's settings files, where the add-in's VBA and its Python both read them.

Two files, read in this order, the first that names a setting winning (the add-in's VBA reads
them in the same order, see ``addin.xlam.vba_sources``):

1. machine-wide, written by IT (``portal addin install --machine``):
   ``%PROGRAMDATA%\\ParentPortal\\parentportal.conf`` on Windows; on macOS
   ``/Library/Application Support/Microsoft/Office365/User Content.localized/ParentPortal/``,
   inside the machine-wide folder Microsoft gives administrators for Office content, which the
   sandboxed Excel may read (a folder of our own under ``/Library/Application Support`` is
   outside Excel's sandbox);
2. the user's own (``portal addin install``): ``%USERPROFILE%\\.parentportal\\parentportal.conf``
   on Windows, ``parentportal.conf`` in Excel's sandbox on macOS.

Never a file beside a workbook, never a sheet of one: workbooks staff pass around carry no
settings. Lines are ``"KEY","VALUE"``, as VBA's ``Input #`` reads them: in the ANSI code page on
Windows, UTF-8 on macOS. The add-in's Python runs with Excel's environment only, so its
``PORTAL_*`` settings (the database, above all) come from these files too.

No xlwings here: the installer imports this module as well.
"""

import locale
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from backend.settings import get_settings

PROJECT_NAME = "parentportal"
"""The xlwings project name; it names the settings files."""
SETTINGS_FILE_NAME = f"{PROJECT_NAME}.conf"
MACHINE_FOLDER_NAME = "ParentPortal"
MAC_MACHINE_FOLDER = (
    Path("/Library/Application Support/Microsoft/Office365/User Content.localized")
    / MACHINE_FOLDER_NAME
)
MAC_SANDBOX = Path("Library/Containers/com.microsoft.Excel/Data")
"""Excel's sandbox on macOS, under the user's home folder."""
PYTHON_PREFIX = "PORTAL_"
"""Settings with this prefix are the Python side's (``backend.settings``)."""

_LINE = re.compile(r'^\s*"([^"]*)"\s*,\s*"([^"]*)"\s*$')


def machine_settings_path(
    platform: str | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The machine-wide settings file, or None where Excel does not run."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if platform == "win32":
        program_data = environ.get("PROGRAMDATA")
        if not program_data:
            return None
        return Path(program_data) / MACHINE_FOLDER_NAME / SETTINGS_FILE_NAME
    if platform == "darwin":
        return MAC_MACHINE_FOLDER / SETTINGS_FILE_NAME
    return None


def user_settings_path(
    platform: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """The user's own settings file, or None where Excel does not run."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if platform == "win32":
        profile = Path(environ.get("USERPROFILE", home))
        return profile / f".{PROJECT_NAME}" / SETTINGS_FILE_NAME
    if platform == "darwin":
        return home / MAC_SANDBOX / SETTINGS_FILE_NAME
    return None


def settings_encoding(platform: str | None = None) -> str:
    """The encoding VBA's ``Input #`` reads: the ANSI code page on Windows (cp1252 in Western
    locales; this computer's own when run on Windows), UTF-8 on macOS."""
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return locale.getencoding() if sys.platform == "win32" else "cp1252"
    return "utf-8"


def parse_settings(text: str) -> dict[str, str]:
    """``"KEY","VALUE"`` lines as a dict, keys in capitals; other lines are skipped."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            settings.setdefault(match[1].strip().upper(), match[2])
    return settings


def read_settings(path: Path | None, encoding: str) -> dict[str, str]:
    """The settings of one file; none when it is missing or cannot be read."""
    if path is None:
        return {}
    try:
        return parse_settings(path.read_bytes().decode(encoding, errors="replace"))
    except OSError:
        return {}


def addin_settings(
    platform: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every setting of the machine-wide and the user's file, the machine-wide one first."""
    encoding = settings_encoding(platform)
    merged = read_settings(user_settings_path(platform, home, environ), encoding)
    merged.update(read_settings(machine_settings_path(platform, environ), encoding))
    return merged


def load_addin_settings(
    environ: MutableMapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> dict[str, str]:
    """Put the files' ``PORTAL_*`` settings into the environment, where not already set.

    The add-in's Python process has only Excel's environment: this is how the database IT set
    for the add-in reaches it. A variable set in the environment itself still wins. Returns the
    settings it set.
    """
    environ = os.environ if environ is None else environ
    found = addin_settings(platform, home, environ)
    applied = {
        key: value
        for key, value in found.items()
        if key.startswith(PYTHON_PREFIX) and value and key not in environ
    }
    environ.update(applied)
    if applied and environ is os.environ:
        get_settings.cache_clear()  # read again, with these
    return applied
