"""The Parent Portal ribbon as data: one tab, five groups, one button per action.

The ribbon XML (``sources/customUI14.xml``) and the VBA callback module
(``sources/PortalRibbon.bas``) are text files in the repository, and they are what the add-in
is built from. Both are rendered from the data below; after changing a button, write them
again with ``uv run python -m addin.xlam.render`` (a test fails while they differ).
"""

from dataclasses import dataclass
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .customui import NAMESPACE as CUSTOM_UI_NAMESPACE

SOURCES: Traversable = files("addin.xlam") / "sources"
"""The add-in's text sources, package data read wherever the package is installed."""
CUSTOM_UI_FILE = SOURCES / "customUI14.xml"
CALLBACKS_FILE = SOURCES / "PortalRibbon.bas"

CALLBACK_MODULE = "PortalRibbon"
TAB_ID = "ParentPortalTab"
TAB_LABEL = "Parent Portal"
ENTRY_MODULE = "addin.excel.entry"
"""Python module whose ``run(action)`` every button calls through ``RunPython``."""


@dataclass(frozen=True)
class RibbonGroup:
    """A group of buttons on the tab."""

    id: str
    label: str


@dataclass(frozen=True)
class RibbonButton:
    """A button: what it shows (label, built-in icon, tips) and the action it runs."""

    id: str
    label: str
    image_mso: str
    screentip: str
    supertip: str
    group: str
    action: str

    @property
    def callback(self) -> str:
        """Name of the VBA sub the button calls, e.g. ``UsersCheck`` for ``users.check``."""
        return "".join(part.capitalize() for part in self.action.split("."))

    @property
    def on_action(self) -> str:
        """The ``onAction`` value: the callback, qualified by its module."""
        return f"{CALLBACK_MODULE}.{self.callback}"


GROUPS: tuple[RibbonGroup, ...] = (
    RibbonGroup("GroupUsers", "Users Import"),
    RibbonGroup("GroupLinks", "Student Links"),
    RibbonGroup("GroupRoster", "Roster"),
    RibbonGroup("GroupAutoCreate", "AutoCreate"),
    RibbonGroup("GroupLookup", "Lookup"),
)

_CHECK = "DataValidation"
_SIMULATE = "FilePrintPreview"
_APPLY = "ReviewAcceptChange"


def _import_buttons(prefix: str, group: str, things: str) -> tuple[RibbonButton, ...]:
    """Check, simulate and apply buttons for one kind of import sheet."""
    name = prefix.capitalize()
    return (
        RibbonButton(
            f"{name}Check",
            "Check Headers",
            _CHECK,
            f"Check headers of the {things} sheet",
            "Checks the column headers of the active sheet and reports missing, duplicate "
            "or unknown ones. Changes nothing.",
            group,
            f"{prefix}.check",
        ),
        RibbonButton(
            f"{name}Simulate",
            "Simulate",
            _SIMULATE,
            f"Simulate the {things} import",
            "Shows what the import would add, update and skip, in a log sheet. Changes nothing.",
            group,
            f"{prefix}.simulate",
        ),
        RibbonButton(
            f"{name}Apply",
            "Import",
            _APPLY,
            f"Import the {things}",
            "Imports every valid row in one transaction and writes the added, updated and "
            "skipped rows to a log sheet.",
            group,
            f"{prefix}.apply",
        ),
    )


BUTTONS: tuple[RibbonButton, ...] = (
    *_import_buttons("users", "GroupUsers", "users"),
    *_import_buttons("links", "GroupLinks", "student links"),
    *_import_buttons("roster", "GroupRoster", "roster"),
    RibbonButton(
        "AutocreateSimulate",
        "Simulate",
        _SIMULATE,
        "Simulate AutoCreate",
        "For the students on the active sheet, lists the guardian accounts AutoCreate would "
        "create. Changes nothing.",
        "GroupAutoCreate",
        "autocreate.simulate",
    ),
    RibbonButton(
        "AutocreateApply",
        "Create Accounts",
        _APPLY,
        "Run AutoCreate",
        "Creates the guardian accounts and parent-student links for the students on the "
        "active sheet, and logs each one.",
        "GroupAutoCreate",
        "autocreate.apply",
    ),
    RibbonButton(
        "Lookup",
        "Look Up",
        "FindDialog",
        "Look up an account",
        "Shows the account, its students and its history for the logon ID or student ID in "
        "the selected cell.",
        "GroupLookup",
        "lookup",
    ),
    RibbonButton(
        "TemplateNew",
        "New Template",
        "FileNew",
        "New import template",
        "Opens a new, empty import template workbook with instructions and example rows.",
        "GroupLookup",
        "template.new",
    ),
)

RIBBON_ACTIONS: tuple[str, ...] = tuple(button.action for button in BUTTONS)
"""Every action a ribbon button can run, in ribbon order."""


def run_python_command(action: str) -> str:
    """The Python statement a button's callback passes to ``RunPython``."""
    return f"import {ENTRY_MODULE}; {ENTRY_MODULE}.run('{action}')"


def render_custom_ui() -> str:
    """The ribbon XML (customUI14) for ``BUTTONS``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<customUI xmlns="{CUSTOM_UI_NAMESPACE}">',
        "  <ribbon>",
        "    <tabs>",
        f"      <tab id={quoteattr(TAB_ID)} label={quoteattr(TAB_LABEL)}>",
    ]
    for group in GROUPS:
        lines.append(f"        <group id={quoteattr(group.id)} label={quoteattr(group.label)}>")
        for button in BUTTONS:
            if button.group != group.id:
                continue
            lines += [
                f"          <button id={quoteattr(button.id)}",
                f"                  label={quoteattr(button.label)}",
                '                  size="large"',
                f"                  imageMso={quoteattr(button.image_mso)}",
                f"                  screentip={quoteattr(button.screentip)}",
                f"                  supertip={quoteattr(button.supertip)}",
                f"                  onAction={quoteattr(button.on_action)}/>",
            ]
        lines.append("        </group>")
    lines += ["      </tab>", "    </tabs>", "  </ribbon>", "</customUI>"]
    return "\n".join(lines) + "\n"


# Every button acts on the active workbook. With none open, or only a file in Protected View
# (Excel's ActiveWorkbook is then Nothing), staff get this message, not run-time error 91.
_WORKBOOK_CHECK = (
    "",
    "Private Function WorkbookIsReady() As Boolean",
    "    If ActiveWorkbook Is Nothing Then",
    '        MsgBox "Open a Parent Portal workbook first, such as a template your district " & _',
    '            "gave you. A file opened in Protected View needs Enable Editing first.", _',
    '            vbInformation, "Parent Portal"',
    "        Exit Function",
    "    End If",
    "    WorkbookIsReady = True",
    "End Function",
)


def render_callbacks() -> str:
    """The VBA module of ribbon callbacks, one ``Sub`` per button (LF line ends)."""
    lines = [
        f'Attribute VB_Name = "{CALLBACK_MODULE}"',
        f"' Parent Portal ribbon callbacks: each button runs one action of {ENTRY_MODULE}.run.",
        "Option Explicit",
        *_WORKBOOK_CHECK,
    ]
    for button in BUTTONS:
        lines += [
            "",
            f"' {button.label} ({button.action})",
            f"Public Sub {button.callback}(control As IRibbonControl)",
            "    If Not WorkbookIsReady() Then Exit Sub",
            f'    RunPython "{run_python_command(button.action)}"',
            "End Sub",
        ]
    return "\n".join(lines) + "\n"


def write_sources() -> list[Path]:
    """Write the ribbon XML and the callback module into a checkout; returns the files written."""
    with as_file(SOURCES) as folder:
        folder.mkdir(exist_ok=True)
        custom_ui = folder / CUSTOM_UI_FILE.name
        callbacks = folder / CALLBACKS_FILE.name
        custom_ui.write_text(render_custom_ui(), encoding="utf-8", newline="\n")
        callbacks.write_text(render_callbacks(), encoding="cp1252", newline="\n")
    return [custom_ui, callbacks]
