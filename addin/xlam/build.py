"""Build the Parent Portal add-in from the text sources, on any platform, reproducibly."""

from importlib.resources.abc import Traversable
from pathlib import Path

from .customui import custom_ui_problems
from .ovba import OFFICE, STDOLE, ProjectInfo, VbaModule, build_vba_project
from .package import PackageKind, package_parts, write_package
from .ribbon import CUSTOM_UI_FILE
from .vba_sources import PROJECT_NAME, XLWINGS_VERSION, addin_modules

ADDIN_FILE_NAME = "ParentPortal.xlam"
DEFAULT_OUT = Path("build") / ADDIN_FILE_NAME
"""Where ``build_addin`` writes when no path is given: ``build/`` in the current folder."""

PROJECT = ProjectInfo(
    name="ParentPortal",
    project_id="{61A8C27B-4A3B-5224-A16B-E2F2D826EB78}",
    references=(STDOLE, OFFICE),
)
"""The VBA project: a fixed ID (no random GUIDs), OLE Automation and Office referenced (Office
defines ``IRibbonControl``)."""


def custom_ui_xml(path: Traversable = CUSTOM_UI_FILE) -> str:
    """The ribbon XML source, refused if it strays from the customUI14 allow-list."""
    xml = path.read_text(encoding="utf-8")
    problems = custom_ui_problems(xml)
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    return xml


def _about() -> list[str]:
    return [
        "Parent Portal add-in",
        "The Parent Portal tab on the ribbon runs the Python entry points of this project "
        "on the active workbook.",
        f"Built with xlwings {XLWINGS_VERSION} (classic RunPython).",
        f"Settings: %PROGRAMDATA%\\ParentPortal\\{PROJECT_NAME}.conf for every user "
        "('portal addin install --machine'), then the user's own "
        f"%USERPROFILE%\\.{PROJECT_NAME}\\{PROJECT_NAME}.conf ('portal addin install'); on macOS "
        "the same two in Office's shared user content and in Excel's container. Never from a "
        "workbook or its folder.",
    ]


def build_package(
    out: Path,
    kind: PackageKind = "xlam",
    modules: list[VbaModule] | None = None,
    project: ProjectInfo = PROJECT,
) -> Path:
    """Write the add-in workbook as ``kind`` to ``out``; the ``.xlsm`` form is for checking."""
    vba = build_vba_project(addin_modules() if modules is None else modules, project)
    parts = package_parts(kind, vba, custom_ui_xml(), "Parent Portal", _about())
    return write_package(out, parts)


def build_addin(out: Path | None = None) -> Path:
    """Build the Parent Portal Excel add-in (.xlam) from the sources shipped in addin.xlam.

    The ribbon XML and the VBA callbacks come from the package's ``sources`` folder, the
    xlwings VBA module from the installed xlwings package. The same sources give the same bytes.
    Writes to OUT (default build/ParentPortal.xlam under the current folder) and returns the path
    written.
    """
    return build_package(Path.cwd() / DEFAULT_OUT if out is None else out, "xlam")
