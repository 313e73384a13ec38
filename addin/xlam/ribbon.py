"""The Parent Portal ribbon as data: one tab, six groups, one button per action.

The ribbon XML (``sources/customUI14.xml``) and the VBA callback module
(``sources/PortalRibbon.bas``) are text files in the repository, and they are what the add-in
is built from. Both are rendered from the data below; after changing a button, write them
again with ``uv run python -m addin.xlam.render`` (a test fails while they differ).
"""

import re
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
        return "".join(part.capitalize() for part in re.split(r"[.-]", self.action))

    @property
    def on_action(self) -> str:
        """The ``onAction`` value: the callback, qualified by its module."""
        return f"{CALLBACK_MODULE}.{self.callback}"


GROUPS: tuple[RibbonGroup, ...] = (
    RibbonGroup("GroupUsers", "Users Import"),
    RibbonGroup("GroupLinks", "Student Links"),
    RibbonGroup("GroupRoster", "Roster"),
    RibbonGroup("GroupAutoCreate", "AutoCreate"),
    RibbonGroup("GroupSchoolYear", "School Year"),
    RibbonGroup("GroupLookup", "Lookup"),
)

# Icons of Excel's own ribbon (imageMso), so each shows in every Excel from 2013 on: Data >
# Data Validation, Data > What-If Analysis > Scenario Manager, Review > Track Changes > Accept
# or Reject Changes, Home > Find & Select > Find, File > New, Formulas > Error Checking,
# Insert > Column Chart, Email as Attachment, Home > Format > Rename Sheet, Home > Merge Cells,
# Quick Print, Undo, Formulas > Date & Time.
_CHECK = "DataValidation"
_SIMULATE = "ScenarioManager"
_APPLY = "ReviewAcceptOrRejectChangeDialog"
_LOOKUP = "FindDialogExcel"
_NEW = "FileNew"
_SELF_TEST = "ErrorChecking"
_CHART = "ChartTypeColumnInsertGallery"
_EMAIL = "FileSendAsAttachment"
_RENAME = "SheetRename"
_MERGE = "MergeCells"
_PRINT = "FilePrintQuick"
_UNDO = "Undo"
_YEAR_END = "FunctionsDateTimeInsertGallery"

SELF_TEST_ACTION = "self-test"
"""The Self-Test button's action: ``entry.run`` runs it; it is no workbook action."""

# Which sheets each kind of import reads (see ``read_tables`` and ``find_sheet``).
_SHEETS = {
    "users": "the sheet named Users (without one: the first visible sheet that is not a log "
    "or the instructions)",
    "links": "the sheet named Links or Student Links (without one: the first visible sheet "
    "that is not a log or the instructions)",
    "roster": "the sheets named Schools, Students and Contacts (those the workbook has)",
}


def _import_buttons(prefix: str, group: str, things: str) -> tuple[RibbonButton, ...]:
    """Check, simulate and apply buttons for one kind of import sheet."""
    name = prefix.capitalize()
    sheets = _SHEETS[prefix]
    return (
        RibbonButton(
            f"{name}Check",
            "Check Headers",
            _CHECK,
            f"Check headers of the {things} sheet",
            f"Checks the column headers of {sheets} and reports missing, duplicate or unknown "
            "ones. Changes nothing.",
            group,
            f"{prefix}.check",
        ),
        RibbonButton(
            f"{name}Simulate",
            "Simulate",
            _SIMULATE,
            f"Simulate the {things} import",
            f"Reads {sheets} and shows what the import would add, update and skip, in the "
            "Import Log sheet. Changes nothing.",
            group,
            f"{prefix}.simulate",
        ),
        RibbonButton(
            f"{name}Apply",
            "Import",
            _APPLY,
            f"Import the {things}",
            f"Imports every valid row of {sheets} in one transaction and writes the added, "
            "updated and skipped rows to the Import Log sheet.",
            group,
            f"{prefix}.apply",
        ),
    )


_AUTOCREATE_SHEETS = (
    "the students on the sheet named Students (when it is empty, the schools and grades on "
    "the Options sheet)"
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
        f"For {_AUTOCREATE_SHEETS}, lists the guardian accounts AutoCreate would create, in "
        "the Import Log sheet. Changes nothing.",
        "GroupAutoCreate",
        "autocreate.simulate",
    ),
    RibbonButton(
        "AutocreateApply",
        "Create Accounts",
        _APPLY,
        "Run AutoCreate",
        f"Creates the guardian accounts and parent-student links for {_AUTOCREATE_SHEETS}, "
        "and logs each one. Runs only once SIMULATION is N on the Options sheet.",
        "GroupAutoCreate",
        "autocreate.apply",
    ),
    # School Year: what a district does once or a few times a year. A button is one entry here
    # and its action one entry in addin.workbooks.school_year.SCHOOL_YEAR.
    RibbonButton(
        "Coverage",
        "Coverage",
        _CHART,
        "Which students have a working guardian account",
        "Opens a new coverage workbook: per school and grade, the active students with a "
        "working guardian account, with accounts never activated, with a contact who could get "
        "one, or with nobody; a chart per school, and what to do for each student without a "
        "working account. Changes nothing.",
        "GroupSchoolYear",
        "coverage",
    ),
    RibbonButton(
        "ActivationSend",
        "Send Activation",
        _EMAIL,
        "Send activation emails",
        "Emails an activation link to the accounts whose logons are in the selected cells; "
        "with the Batch line of an applied import's Import Log selected, to the accounts that "
        "import added or attached a student to; with a school's row on the coverage Summary "
        "selected, to its accounts never activated. Shows who would get one in the Activation "
        "sheet and asks before queueing them.",
        "GroupSchoolYear",
        "activation.send",
    ),
    RibbonButton(
        "Letters",
        "Letters",
        _PRINT,
        "Print activation letters with one-time codes",
        "For parents without email: a letter with the logon and a one-time activation code "
        "for each account whose logon is in the selected cells (or, as Send Activation, the "
        "accounts of an Import Log's Batch line or of a school's row on the coverage Summary). "
        "Shows who would get one in the Letters Log sheet and asks; then writes the letters "
        "(PDF) and a mail-merge workbook in Documents, Parent Portal.",
        "GroupSchoolYear",
        "letters",
    ),
    RibbonButton(
        "UserRename",
        "Rename Logon",
        _RENAME,
        "Rename a logon (a typo, a changed email)",
        "Renames the logon in the first selected cell to the one in the second, or, on a "
        "contact card from Look Up, does the selected contact's suggested rename. The "
        "account keeps its students, history and password. Says what it would do and asks "
        "first.",
        "GroupSchoolYear",
        "user.rename",
    ),
    RibbonButton(
        "UserMerge",
        "Merge Logons",
        _MERGE,
        "Merge a duplicate account into the one kept",
        "Moves the students of the account in the first selected cell to the account in the "
        "second, where the rules allow, and disables the first; or, on a contact card from "
        "Look Up, does the selected contact's suggested merge. Says what it would do and asks "
        "first.",
        "GroupSchoolYear",
        "user.merge",
    ),
    RibbonButton(
        "LifecycleYearEnd",
        "Year End",
        _YEAR_END,
        "End the school year for every account",
        "Once the roster says who has left: detaches every student no longer ACTIVE, disables "
        "the accounts left with no ACTIVE student, and lists the accounts never activated long "
        "after they were made. Shows it all in the Year End sheet and asks first. Acts on the "
        "whole district, not on the selected cells.",
        "GroupSchoolYear",
        "lifecycle.year-end",
    ),
    RibbonButton(
        "BatchesUndo",
        "Undo Batch",
        _UNDO,
        "Take back what a batch saved",
        "Undoes the batch whose Batch line is selected on its log (an Import Log, or the Undo "
        "sheet of an undo), or whose number is in the selected cell: "
        "removes what it added, puts back what it changed or removed, and leaves rows changed "
        "again since. Shows the undo in the Undo sheet and asks first; an undo can be undone.",
        "GroupSchoolYear",
        "batches.undo",
    ),
    RibbonButton(
        "Lookup",
        "Look Up",
        _LOOKUP,
        "Look up an account",
        "For the student ID or logon ID in the selected cell, shows the student's contact "
        "card or the account and its students, in the Lookup sheet.",
        "GroupLookup",
        "lookup",
    ),
    RibbonButton(
        "TemplateNew",
        "New Template",
        _NEW,
        "New import template",
        "Opens a new, empty import template of this workbook's kind (a users template when "
        "it is none), with instructions and an example row, saved in Documents, Parent "
        "Portal.",
        "GroupLookup",
        "template.new",
    ),
    RibbonButton(
        "SelfTest",
        "Self-Test",
        _SELF_TEST,
        "Test the add-in on this computer",
        "For IT: runs every import on filled copies of the templates against a throwaway "
        "database in a temporary folder (never the district's), and writes what passed and "
        "failed to the Self-Test sheet.",
        "GroupLookup",
        SELF_TEST_ACTION,
    ),
)

RIBBON_ACTIONS: tuple[str, ...] = tuple(
    button.action for button in BUTTONS if button.action != SELF_TEST_ACTION
)
"""Every workbook action a ribbon button runs through ``dispatch``, in ribbon order."""


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
