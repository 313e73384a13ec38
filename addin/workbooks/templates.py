"""The import template workbooks staff start from, built from the imports' own column lists.

Each template is a macro-free ``.xlsx``: an Instructions sheet in plain language first, then
each input sheet as an Excel Table with a frozen header row, dropdowns where a column takes few
values, ID columns formatted as Text (so ``00123`` keeps its zeros), a note on every header, and
one grey example row that imports skip. The workbook-level name ``PortalTemplate`` says which
import it is for.

What each template holds (its sheets, their columns and example rows, its Options) is in the
registry of import kinds, ``kinds``; the columns are never retyped: they come from the imports,
so a template cannot drift from what the import accepts. The built files are committed in
``workbook_templates/``; rebuild them with ``uv run portal templates build`` (a test fails while
they differ from a rebuild).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from addin.workbooks.autocreate_options import OPTION_HEADERS, AutoCreateOption
from addin.workbooks.interface import column_letter
from addin.workbooks.kinds import KINDS, SheetSpec, TemplateSpec
from addin.workbooks.result_sheet import LOG_SHEET_NAME
from addin.workbooks.template_marks import EXAMPLE_PREFIX, TEMPLATE_NAME
from addin.xlam.ribbon import BUTTONS, GROUPS, TAB_LABEL
from backend.imports.contract import Column

INSTRUCTIONS_SHEET = "Instructions"
TABLE_ROWS = 2000
"""Data rows each input table spans (the example row is the first): dropdowns and the Text
format cover them all, and Excel extends both when a table grows past them."""

# Typed into a General cell, '00123' would become the number 123: these columns are Text.
ID_COLUMNS = frozenset({"LOGONID", "STUDENT_ID", "CONTACT_ID", "SCHOOL_CODE", "SCHOOL"})
# Not IDs, but a number format would also spoil them: '07700 900123', grade '01'.
TEXT_COLUMNS = ID_COLUMNS | {"PHONE", "GRADE"}

# Fixed document properties, so a rebuild gives the same file.
AUTHOR = "Parent Portal Accounts"
BUILT_AT = datetime(2024, 1, 1, tzinfo=UTC)

GREY = "#7F7F7F"
HEADER_FILL = "#D9E1F2"
MIN_WIDTH, MAX_WIDTH = 10, 44


TEMPLATES: dict[str, TemplateSpec] = {name: kind.template for name, kind in KINDS.items()}
"""Each import kind's template, by kind: the registry in ``kinds`` says what they hold."""


class _Formats:
    """The workbook's cell formats, made once per workbook."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.title = book.add_format({"bold": True, "font_size": 16})
        self.heading = book.add_format({"bold": True, "font_size": 12, "bottom": 1})
        self.text = book.add_format({"valign": "top"})
        self.bold = book.add_format({"bold": True, "valign": "top"})
        self.command = book.add_format({"font_name": "Consolas", "valign": "top"})
        self.header = book.add_format(
            {"bold": True, "bg_color": HEADER_FILL, "border": 1, "valign": "top"}
        )
        self.id_text = book.add_format({"num_format": "@"})
        self.example = book.add_format({"italic": True, "font_color": GREY})
        self.example_text = book.add_format({"italic": True, "font_color": GREY, "num_format": "@"})


def _width(*texts: str) -> float:
    """A column wide enough for its longest text, plus room for the table's filter button."""
    return float(min(MAX_WIDTH, max(MIN_WIDTH, *(len(t) + 4 for t in texts))))


def _example_values(sheet: SheetSpec) -> list[str]:
    """The example row's cells, the first marked with ``Example:`` so imports skip the row."""
    values = [sheet.example.get(c.name, "") for c in sheet.columns]
    values[0] = f"{EXAMPLE_PREFIX} {values[0]}".rstrip()
    return values


def _choice_error(column: Column) -> str:
    """The message Excel shows when a typed value is not in a column's list (255 characters)."""
    choices = ", ".join(column.choices)
    blank = "" if column.required else " or leave the cell empty"
    return f"{column.name} takes only {choices}. Pick one from the list{blank}."[:255]


def _header_note(column: Column) -> str:
    """A header's note: staff see what a column wants without leaving the sheet."""
    need = "required" if column.required else "optional"
    lines = [f"{column.name} ({need})", column.help]
    if column.choices:
        lines.append("Choose from the list: " + ", ".join(column.choices) + ".")
    return "\n".join(lines)


def _write_input_sheet(book: xlsxwriter.Workbook, sheet: SheetSpec, fmt: _Formats) -> None:
    """One input sheet: a Table spanning TABLE_ROWS data rows, example row first."""
    ws = book.add_worksheet(sheet.name)
    last_row = TABLE_ROWS  # 0-based: header at 0, data rows 1..TABLE_ROWS
    last_col = len(sheet.columns) - 1
    example = _example_values(sheet)
    columns = []
    for index, column in enumerate(sheet.columns):
        is_text = column.name in TEXT_COLUMNS
        ws.set_column(
            index,
            index,
            _width(column.name, example[index], *column.choices),
            fmt.id_text if is_text else None,
        )
        spec: dict[str, object] = {"header": column.name, "header_format": fmt.header}
        if is_text:
            spec["format"] = fmt.id_text  # new table rows inherit Text in Excel
        columns.append(spec)
    ws.add_table(
        0,
        0,
        last_row,
        last_col,
        {"name": sheet.name, "columns": columns, "style": "Table Style Light 9"},
    )
    for index, column in enumerate(sheet.columns):
        is_text = column.name in TEXT_COLUMNS
        ws.write_string(1, index, example[index], fmt.example_text if is_text else fmt.example)
        if is_text:  # the Text format on each cell, not only the column, survives any reader
            for row in range(2, last_row + 1):
                ws.write_blank(row, index, None, fmt.id_text)
        ws.write_comment(0, index, _header_note(column), {"author": AUTHOR, "x_scale": 2.2})
        if column.choices:
            ws.data_validation(
                1,
                index,
                last_row,
                index,
                {
                    "validate": "list",
                    "source": list(column.choices),
                    "input_title": column.name[:32],
                    "input_message": column.help[:255],
                    "error_title": f"{column.name}: not in the list"[:32],
                    "error_message": _choice_error(column),
                    "show_error": True,
                },
            )
    text_ranges = [
        f"{column_letter(i)}2:{column_letter(i)}{last_row + 1}"
        for i, c in enumerate(sheet.columns)
        if c.name in TEXT_COLUMNS
    ]
    if text_ranges:  # Excel would flag every typed ID as "number stored as text"
        ws.ignore_errors({"number_stored_as_text": " ".join(text_ranges)})
    ws.freeze_panes(1, 0)
    ws.set_selection(2, 0, 2, 0)  # the first row to type in, below the example
    ws.repeat_rows(0)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _write_options_sheet(
    book: xlsxwriter.Workbook, options: Sequence[AutoCreateOption], fmt: _Formats
) -> None:
    """AutoCreate's settings as an Option | Value | Description table, defaults filled in."""
    ws = book.add_worksheet("Options")
    ws.set_column(0, 0, _width(OPTION_HEADERS[0], *(o.name for o in options)), fmt.bold)
    ws.set_column(1, 1, 16, fmt.id_text)  # '012,034' and '1' stay as typed
    ws.set_column(2, 2, max(len(o.description) for o in options) + 2)
    ws.add_table(
        0,
        0,
        len(options),
        2,
        {
            "name": "Options",
            "style": "Table Style Light 9",
            "columns": [
                {"header": OPTION_HEADERS[0], "header_format": fmt.header},
                {"header": OPTION_HEADERS[1], "header_format": fmt.header, "format": fmt.id_text},
                {"header": OPTION_HEADERS[2], "header_format": fmt.header},
            ],
        },
    )
    ws.write_comment(0, 0, "The setting's name. Do not change it.", {"author": AUTHOR})
    ws.write_comment(
        0, 1, "The setting's value: change only this column.", {"author": AUTHOR, "x_scale": 1.5}
    )
    for row, option in enumerate(options, start=1):
        ws.write_string(row, 0, option.name, fmt.bold)
        ws.write_string(row, 2, option.description)
        if option.default:
            ws.write_string(row, 1, option.default, fmt.id_text)
        else:
            ws.write_blank(row, 1, None, fmt.id_text)
        if option.choices:
            ws.data_validation(
                row,
                1,
                row,
                1,
                {
                    "validate": "list",
                    "source": list(option.choices),
                    "input_title": option.name[:32],
                    "input_message": option.description[:255],
                    "error_title": f"{option.name}: not in the list"[:32],
                    "error_message": (
                        f"{option.name} takes only {', '.join(option.choices)}. "
                        "Pick one from the list."
                    ),
                    "show_error": True,
                },
            )
    ws.ignore_errors({"number_stored_as_text": f"B2:B{len(options) + 1}"})
    ws.freeze_panes(1, 0)
    ws.set_selection(1, 1, 1, 1)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


class _Lines:
    """Writes the Instructions sheet top to bottom, one row at a time."""

    def __init__(self, ws: Worksheet, fmt: _Formats) -> None:
        self.ws = ws
        self.fmt = fmt
        self.row = 0

    def write(self, cells: Sequence[str], cell_format: Format | None = None) -> None:
        for col, text in enumerate(cells):
            if text:
                self.ws.write_string(self.row, col, text, cell_format or self.fmt.text)
        self.row += 1

    def heading(self, text: str) -> None:
        self.row += 1
        self.write([text], self.fmt.heading)

    def blank(self) -> None:
        self.row += 1


def _run_lines(kind: str, spec: TemplateSpec) -> tuple[str, list[tuple[str, str]], list[str]]:
    """The ribbon group of this kind, its buttons (label, what it does) and terminal commands."""
    actions = [b for b in BUTTONS if b.action.startswith(f"{kind}.")]
    group = next(g.label for g in GROUPS if g.id == actions[0].group)
    buttons = [(b.label, b.supertip) for b in actions]
    commands = [f"portal run {b.action} {spec.file_name}" for b in actions]
    return group, buttons, commands


def _write_instructions(
    book: xlsxwriter.Workbook, kind: str, spec: TemplateSpec, fmt: _Formats
) -> None:
    """The plain-language page office staff read first."""
    ws = book.add_worksheet(INSTRUCTIONS_SHEET)
    _set_instruction_columns(ws, spec)
    ws.hide_gridlines(2)
    out = _Lines(ws, fmt)
    out.write([spec.title], fmt.title)
    out.blank()
    for line in spec.purpose:
        out.write([line])
    _write_steps(out, spec)
    _write_example_row(out)
    for sheet in spec.sheets:
        _write_sheet_columns(out, sheet)
    if spec.options:
        _write_option_list(out, spec.options)
    _write_how_to_run(out, kind, spec)
    _write_after_a_run(out, spec)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _set_instruction_columns(ws: Worksheet, spec: TemplateSpec) -> None:
    """Widths that fit the longest column name and help text, within reason."""
    all_columns = [c for s in spec.sheets for c in s.columns]
    name_width = max(len(c.name) for c in all_columns) + 4
    help_width = max(len(c.help) for c in all_columns) + 2
    ws.set_column(0, 0, max(name_width, 22))
    ws.set_column(1, 1, 11)
    ws.set_column(2, 2, min(help_width, 100))
    ws.set_column(3, 3, 24)


def _plural(names: Sequence[str]) -> str:
    return "s" if len(names) > 1 else ""


def _write_steps(out: _Lines, spec: TemplateSpec) -> None:
    out.heading("How to fill it in")
    names = [s.name for s in spec.sheets]
    steps = [
        f"1. Type or paste your rows on the {' and '.join(names)} "
        f"sheet{_plural(names)}, below the grey example row.",
        "2. Keep the header row (row 1) as it is. Optional columns may stay empty.",
        "3. Where a cell shows a dropdown arrow, pick a value from the list.",
        "4. ID columns are formatted as Text, so leading zeros are kept (00123 stays 00123). "
        "When you paste from another file, use Paste Values.",
        "5. Point at a column header to see a note about that column.",
        *(f"{n}. {note}" for n, note in enumerate(spec.notes, start=6)),
    ]
    for step in steps:
        out.write([step])


def _write_example_row(out: _Lines) -> None:
    out.heading("The example row")
    out.write(
        [
            f'Row 2 of each sheet is an example: it is grey and starts with "{EXAMPLE_PREFIX}". '
            "It is never imported."
        ]
    )
    out.write(["You may leave it where it is, or delete it."])


def _write_sheet_columns(out: _Lines, sheet: SheetSpec) -> None:
    """One input sheet's columns, then the other header names and the Text columns it has."""
    out.heading(f"The {sheet.name} sheet: {sheet.about}")
    out.write(["Column", "Required", "What to put in it", "Dropdown choices"], out.fmt.header)
    for column in sheet.columns:
        out.write(
            [
                column.name,
                "Required" if column.required else "Optional",
                column.help,
                ", ".join(column.choices),
            ]
        )
    aliases = [c for c in sheet.columns if c.aliases]
    if aliases:
        out.write(
            [
                "Other header names are accepted too, e.g. "
                + "; ".join(f"{c.aliases[0]} for {c.name}" for c in aliases[:3])
                + "."
            ]
        )
    text_columns = [c.name for c in sheet.columns if c.name in TEXT_COLUMNS]
    if text_columns:
        out.write(["Text columns (leading zeros kept): " + ", ".join(text_columns) + "."])


def _write_option_list(out: _Lines, options: Sequence[AutoCreateOption]) -> None:
    out.heading("The Options sheet: the settings AutoCreate uses")
    out.write(["Option", "Default", "What it does", "Dropdown choices"], out.fmt.header)
    for option in options:
        out.write(
            [
                option.name,
                option.default or "(blank)",
                option.description,
                ", ".join(option.choices),
            ]
        )


def _write_how_to_run(out: _Lines, kind: str, spec: TemplateSpec) -> None:
    """The ribbon buttons of this kind, then the same steps as terminal commands."""
    group, buttons, commands = _run_lines(kind, spec)
    out.heading("How to run it")
    out.write(
        [
            f"In Excel: open the {TAB_LABEL} tab on the ribbon and use the buttons of the "
            f"{group} group:"
        ]
    )
    for label, what in buttons:
        out.write([label, "", what], out.fmt.bold)
    out.write(["Always simulate first, read the log, then run it for real."])
    out.write(["From a terminal, the same steps are:"])
    for command in commands:
        out.write([command], out.fmt.command)


def _write_after_a_run(out: _Lines, spec: TemplateSpec) -> None:
    """Where the log is and what its colours mean."""
    sheet_names = [s.name for s in spec.sheets] + (["Options"] if spec.options else [])
    out.heading("After a run")
    out.write(
        [
            f'A sheet named "{LOG_SHEET_NAME}" shows what happened (it is replaced on each run). '
            "From a terminal, it is in a copy of the workbook written next to it."
        ]
    )
    out.write(
        [
            "It has a summary at the top, then one row per input row: its row number, what "
            "happened (added in green,"
        ]
    )
    out.write(["updated in yellow, skipped in grey, error in red) and why."])
    out.write(
        [
            "Rows with errors are not imported: fix them on the "
            + " or ".join(sheet_names)
            + f" sheet{_plural(sheet_names)} and run it again."
        ]
    )


def build_template(kind: str, path: Path) -> Path:
    """Write the template of ``kind`` (users, links, roster, autocreate) to ``path``."""
    spec = TEMPLATES.get(kind)
    if spec is None:
        raise ValueError(f"no template of kind '{kind}'; kinds: {', '.join(TEMPLATES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with xlsxwriter.Workbook(path) as book:
        book.set_properties(
            {
                "title": spec.title,
                "author": AUTHOR,
                "company": AUTHOR,
                "comments": "Parent Portal import template",
                "created": BUILT_AT,
            }
        )
        fmt = _Formats(book)
        _write_instructions(book, kind, spec, fmt)
        for sheet in spec.sheets:
            _write_input_sheet(book, sheet, fmt)
        if spec.options:
            _write_options_sheet(book, spec.options, fmt)
        book.define_name(TEMPLATE_NAME, f'="{kind}"')
    return path


def build_all(folder: Path) -> list[Path]:
    """Build every import template (users, links, roster, AutoCreate) into FOLDER.

    Each is an .xlsx with an Instructions sheet, the input sheets as Excel tables with
    dropdowns and one example row, ready to fill in and import. Existing files are replaced.
    """
    return [build_template(kind, folder / spec.file_name) for kind, spec in TEMPLATES.items()]


def template_columns(kind: str) -> dict[str, tuple[Column, ...]]:
    """Input sheet name -> its columns, for a template kind."""
    return {sheet.name: sheet.columns for sheet in TEMPLATES[kind].sheets}
