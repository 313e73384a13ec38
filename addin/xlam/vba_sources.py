"""The VBA modules of the add-in, gathered from text at build time.

- ``xlwings``: ``xlwings_custom_addin.bas`` from the installed xlwings package, so its version
  always matches the Python side, with ``PROJECT_NAME`` set to ours (it names the settings files
  the add-in reads) and rewritten so that no workbook supplies settings or code
  (``xlwings_rewrites``).
- ``Dictionary``: the class the xlwings module uses on macOS instead of
  ``Scripting.Dictionary`` (VBA-Dictionary, MIT licence), taken from the ribbon add-in xlwings
  ships, because xlwings ships it nowhere else.
- ``PortalRibbon``: our ribbon callbacks, ``sources/PortalRibbon.bas``.
- ``ThisWorkbook`` and ``Sheet1``: the document modules of the workbook, empty.
- ``xlwings_udfs``: the worksheet functions' wrappers, written by xlwings' own generator
  (``udfs.py``), so no one has to click Import Functions.
"""

import re
from importlib.metadata import version
from importlib.resources.abc import Traversable
from importlib.util import find_spec
from pathlib import Path

from addin.excel.settings_file import PROJECT_NAME as PROJECT_NAME

from .ovba import VbaModule
from .ovba_reader import read_vba_project
from .package import read_part
from .ribbon import CALLBACKS_FILE
from .xlwings_rewrites import rewrite_xlwings_vba


def _xlwings_folder() -> Path:
    """The installed xlwings package's folder, found without importing it: the builder only reads
    the VBA and templates xlwings ships, and only ``addin.excel`` talks to Excel."""
    spec = find_spec("xlwings")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("xlwings is not installed: run 'uv sync'")
    return Path(next(iter(spec.submodule_search_locations)))


XLWINGS_DIR = _xlwings_folder()
XLWINGS_VERSION = version("xlwings")
XLWINGS_ADDIN_BAS = XLWINGS_DIR / "xlwings_custom_addin.bas"
XLWINGS_RIBBON_ADDIN = XLWINGS_DIR / "quickstart_addin_ribbon.xlam"

_PROJECT_NAME_LINE = re.compile(r'^(Public Const PROJECT_NAME As String = )"[^"]*"', re.MULTILINE)

_DOCUMENT_ATTRIBUTES = (
    'Attribute VB_Name = "{name}"',
    'Attribute VB_Base = "0{{{base}}}"',
    "Attribute VB_GlobalNameSpace = False",
    "Attribute VB_Creatable = False",
    "Attribute VB_PredeclaredId = True",
    "Attribute VB_Exposed = True",
    "Attribute VB_TemplateDerived = False",
    "Attribute VB_Customizable = True",
)
WORKBOOK_CLASS = "00020819-0000-0000-C000-000000000046"
WORKSHEET_CLASS = "00020820-0000-0000-C000-000000000046"


def crlf(text: str) -> str:
    """``text`` with CRLF line ends, as the VBA editor stores source."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def document_module(name: str, base_class: str) -> VbaModule:
    """An empty document module (the code behind the workbook or a sheet)."""
    lines = [line.format(name=name, base=base_class) for line in _DOCUMENT_ATTRIBUTES]
    return VbaModule(name, "document", crlf("\n".join(lines) + "\n"))


def xlwings_module(project_name: str = PROJECT_NAME) -> VbaModule:
    """The xlwings custom add-in module of the installed xlwings, for ``project_name``, rewritten
    so that it takes settings and code from no workbook (``xlwings_rewrites``); the build fails
    if the installed xlwings' VBA does not have the lines the rewrites expect."""
    text = XLWINGS_ADDIN_BAS.read_bytes().decode("cp1252")
    text, count = _PROJECT_NAME_LINE.subn(rf'\g<1>"{project_name}"', text)
    if count != 1:
        raise RuntimeError(f"{XLWINGS_ADDIN_BAS} has no PROJECT_NAME constant to set")
    text = rewrite_xlwings_vba(text.replace("\r\n", "\n"))
    return VbaModule("xlwings", "standard", crlf(text))


def dictionary_module() -> VbaModule:
    """The ``Dictionary`` class module of the ribbon add-in xlwings ships."""
    modules, _ = read_vba_project(read_part(XLWINGS_RIBBON_ADDIN, "xl/vbaProject.bin"))
    for module in modules:
        if module.name == "Dictionary" and module.kind == "class":
            return VbaModule(
                module.name, module.kind, crlf(module.code), doc_string=module.doc_string
            )
    raise RuntimeError(f"{XLWINGS_RIBBON_ADDIN} has no Dictionary class module")


def callbacks_module(path: Traversable = CALLBACKS_FILE) -> VbaModule:
    """Our ribbon callbacks, from their ``.bas`` source."""
    text = path.read_bytes().decode("cp1252")
    name = text.split("\n", 1)[0].removeprefix("Attribute VB_Name = ").strip().strip('"')
    return VbaModule(name, "standard", crlf(text))


def addin_modules() -> list[VbaModule]:
    """Every module of the add-in, in project order."""
    from .udfs import udfs_module  # imports xlwings and the functions: only when building

    return [
        document_module("ThisWorkbook", WORKBOOK_CLASS),
        document_module("Sheet1", WORKSHEET_CLASS),
        xlwings_module(),
        dictionary_module(),
        callbacks_module(),
        udfs_module(),
    ]
