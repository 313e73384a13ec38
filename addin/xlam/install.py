"""Put the add-in where Excel loads it at start-up, and tell xlwings which Python to run.

Windows: the user's XLSTART folder (``%APPDATA%\\Microsoft\\Excel\\XLSTART``), a trusted location
Excel opens every start; settings in ``%USERPROFILE%\\.parentportal\\parentportal.conf``.
macOS: Excel's start-up folder in the Office group container; settings in Excel's sandbox
(``~/Library/Containers/com.microsoft.Excel/Data/parentportal.conf``), and xlwings' AppleScript
in ``~/Library/Application Scripts/com.microsoft.Excel`` (what ``xlwings runpython install``
does), which RunPython needs there. Excel itself is not started or scripted.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from backend.errors import PortalError

from .vba_sources import PROJECT_NAME, XLWINGS_DIR, XLWINGS_VERSION

PROJECT_ROOT = Path(str(files("addin"))).resolve().parent
"""The folder holding the installed ``addin`` package (a checkout or site-packages): the add-in's
PYTHONPATH, so Excel's Python imports this very copy."""
MAC_STARTUP = Path("Library/Group Containers/UBF8T346G9.Office/User Content/Startup/Excel")
MAC_SANDBOX = Path("Library/Containers/com.microsoft.Excel/Data")
MAC_SCRIPTS = Path("Library/Application Scripts/com.microsoft.Excel")


class AddinInstallError(PortalError, OSError):
    """The add-in could not be copied or its settings written; the message says why."""


def _write_config(path: Path, settings: dict[str, str]) -> None:
    """Set ``settings`` in an xlwings config file, keeping any other lines it has."""
    kept: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key = line.split(",", 1)[0].strip().strip('"').upper()
            if line.strip() and key not in settings:
                kept.append(line)
    lines = kept + [f'"{key}","{value}"' for key, value in settings.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _copy(xlam: Path, folder: Path) -> Path:
    target = folder / xlam.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(xlam, target)
    except PermissionError as error:
        raise AddinInstallError(
            f"Could not write {target}: close Excel (it keeps the add-in open) and run "
            "'portal addin install' again."
        ) from error
    return target


def install_addin(
    xlam: Path,
    *,
    platform: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
    python: str | None = None,
) -> str:
    """Install the Parent Portal add-in for this user and say what is left to do.

    Copies the .xlam to Excel's start-up folder (XLSTART on Windows, the Startup/Excel folder
    on macOS) and writes the add-in's xlwings settings: this environment's Python interpreter
    and the folder holding the ``addin`` package as PYTHONPATH. Excel must then be restarted.
    On other systems nothing is installed and the message says where the built add-in is.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    python = sys.executable if python is None else python
    xlam = Path(xlam)
    if not xlam.is_file():
        raise AddinInstallError(f"No add-in at {xlam}: run 'portal addin build' first.")
    settings_key = "INTERPRETER_MAC" if platform == "darwin" else "INTERPRETER_WIN"
    # UDF MODULES: the worksheet functions (=PORTAL_ACCOUNT_STATUS ...) xlwings imports.
    settings = {
        settings_key: python,
        "PYTHONPATH": str(PROJECT_ROOT),
        "UDF MODULES": "addin.excel.functions",
    }

    if platform == "win32":
        appdata = Path(environ.get("APPDATA", home / "AppData" / "Roaming"))
        profile = Path(environ.get("USERPROFILE", home))
        target = _copy(xlam, appdata / "Microsoft" / "Excel" / "XLSTART")
        config = profile / f".{PROJECT_NAME}" / f"{PROJECT_NAME}.conf"
        _write_config(config, settings)
        return (
            f"Installed the add-in as {target}.\n"
            f"Settings (Python {python}, project {PROJECT_ROOT}) are in {config}.\n"
            "Left to do: close every Excel window and start Excel again; the Parent Portal "
            "tab then appears on the ribbon."
        )
    if platform == "darwin":
        target = _copy(xlam, home / MAC_STARTUP)
        config = home / MAC_SANDBOX / f"{PROJECT_NAME}.conf"
        _write_config(config, settings)
        script = XLWINGS_DIR / f"xlwings-{XLWINGS_VERSION}.applescript"
        scripts = home / MAC_SCRIPTS
        scripts.mkdir(parents=True, exist_ok=True)
        shutil.copy(script, scripts / script.name)
        return (
            f"Installed the add-in as {target}.\n"
            f"Settings (Python {python}, project {PROJECT_ROOT}) are in {config}, and "
            f"xlwings' RunPython script is in {scripts}.\n"
            "Left to do: quit Excel (Cmd-Q) and start it again; if Excel asks about the "
            "add-in's macros, choose Enable Macros. The Parent Portal tab then appears on "
            "the ribbon."
        )
    return (
        f"Excel is not available on this system ({platform}), so nothing was installed.\n"
        f"The add-in is built at {xlam.resolve()}: on a Windows or Mac computer with this "
        "project and Excel, run 'portal addin install' there."
    )
