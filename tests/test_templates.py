"""The template workbooks: committed files match a rebuild, have the promised shape, import.

Staff start from these files, so each is checked the ways they use it: opened (openpyxl, and
LibreOffice as an independent reader), filled below the example row, and imported.
"""

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from helpers import read_log, run_cli
from libreoffice import convert, ods_sheet

from addin.workbooks.autocreate_options import AUTOCREATE_OPTIONS, OPTION_HEADERS
from addin.workbooks.file import read_sheets, read_table
from addin.workbooks.interface import column_letter
from addin.workbooks.kinds import KIND_NAMES as KINDS
from addin.workbooks.result_sheet import LOG_SHEET_NAME
from addin.workbooks.template_marks import (
    EXAMPLE_PREFIX,
    TEMPLATE_NAME,
    is_example_row,
    template_kind,
)
from addin.workbooks.templates import (
    BUILT_AT,
    ID_COLUMNS,
    INSTRUCTIONS_SHEET,
    TABLE_ROWS,
    TEMPLATES,
    TEXT_COLUMNS,
    build_all,
    build_template,
    template_columns,
)
from addin.xlam.ribbon import TAB_LABEL
from backend.errors import InputError, PortalError
from backend.imports.contract import match_headers
from workbook_templates import SHIPPED

Capsys = pytest.CaptureFixture[str]
LAST_ROW = TABLE_ROWS + 1  # header in row 1, then TABLE_ROWS rows


def committed(kind: str) -> Path:
    return Path(str(SHIPPED / TEMPLATES[kind].file_name))


def snapshot(path: Path) -> dict[str, Any]:
    """What staff and the imports see in a workbook, as plain data to compare."""
    book = openpyxl.load_workbook(path)
    sheets: dict[str, Any] = {}
    for ws in book.worksheets:
        cells = [row for row in ws.iter_rows()]
        sheets[ws.title] = {
            "values": [[c.value for c in row] for row in cells],
            "formats": {c.coordinate: c.number_format for row in cells for c in row},
            "validations": sorted(
                (
                    str(v.sqref),
                    v.type,
                    v.formula1,
                    v.showErrorMessage,
                    v.errorTitle,
                    v.error,
                    v.prompt,
                )
                for v in ws.data_validations.dataValidation
            ),
            "tables": sorted(
                (t.name, t.ref, tuple(c.name for c in t.tableColumns)) for t in ws.tables.values()
            ),
            "freeze": ws.freeze_panes,
            "notes": {c.coordinate: c.comment.text for row in cells for c in row if c.comment},
            "widths": {k: d.width for k, d in ws.column_dimensions.items()},
        }
    return {
        "sheet order": book.sheetnames,
        "names": {name: dn.attr_text for name, dn in book.defined_names.items()},
        "creator": book.properties.creator,
        "created": book.properties.created,
        "modified": book.properties.modified,
        "sheets": sheets,
    }


def fill(template: Path, dest: Path, rows: dict[str, Sequence[Sequence[Any]]]) -> Path:
    """A copy of the template with rows typed below the example row, as staff fill it."""
    book = openpyxl.load_workbook(template)
    for sheet, values in rows.items():
        ws = book[sheet]
        for number, row in enumerate(values, start=3):
            for col, value in enumerate(row, start=1):
                ws.cell(number, col, value)
    book.save(dest)
    return dest


def example_rows(kind: str) -> dict[str, list[list[str | None]]]:
    """One row per input sheet: the example's values without its mark."""
    return {
        sheet.name: [[sheet.example.get(c.name) for c in sheet.columns]]
        for sheet in TEMPLATES[kind].sheets
    }


@pytest.mark.parametrize("kind", KINDS)
def test_committed_template_matches_a_rebuild(tmp_path: Path, kind: str) -> None:
    rebuilt = build_template(kind, tmp_path / TEMPLATES[kind].file_name)
    assert committed(kind).is_file(), "run: uv run portal templates build"
    assert snapshot(rebuilt) == snapshot(committed(kind)), (
        f"{committed(kind).name} is out of date; run: uv run portal templates build"
    )


def test_builds_are_byte_identical(tmp_path: Path) -> None:
    assert tuple(TEMPLATES) == KINDS  # one template per kind the add-in knows
    first = build_all(tmp_path / "a")
    second = build_all(tmp_path / "b")
    assert [p.name for p in first] == [TEMPLATES[k].file_name for k in KINDS]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.parametrize("kind", KINDS)
def test_template_is_a_macro_free_marked_workbook(kind: str) -> None:
    path = committed(kind)
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
        content_types = package.read("[Content_Types].xml").decode()
        sheets_xml = [package.read(n).decode() for n in names if n.startswith("xl/worksheets/")]
    assert path.suffix == ".xlsx"
    assert not any("vba" in n.lower() for n in names)
    assert "macroEnabled" not in content_types
    assert sum("<tableParts" in xml for xml in sheets_xml) == len(TEMPLATES[kind].sheets) + (
        1 if TEMPLATES[kind].options else 0
    )

    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == INSTRUCTIONS_SHEET
    assert book.sheetnames[1 : 1 + len(template_columns(kind))] == list(template_columns(kind))
    assert template_kind(book.defined_names[TEMPLATE_NAME].attr_text) == kind
    assert book.properties.creator == "Parent Portal Accounts"
    assert book.properties.created == BUILT_AT.replace(tzinfo=None)
    assert book.properties.modified == BUILT_AT.replace(tzinfo=None)


@pytest.mark.parametrize("kind", KINDS)
def test_input_sheets_have_table_dropdowns_text_ids_and_one_example(kind: str) -> None:
    book = openpyxl.load_workbook(committed(kind))
    for name, columns in template_columns(kind).items():
        ws = book[name]
        last = column_letter(len(columns) - 1)
        assert [(t.name, t.ref) for t in ws.tables.values()] == [(name, f"A1:{last}{LAST_ROW}")]
        assert [c.name for c in next(iter(ws.tables.values())).tableColumns] == [
            c.name for c in columns
        ]
        assert ws.freeze_panes == "A2"
        assert [c.value for c in ws[1]] == [c.name for c in columns]

        validations = {str(v.sqref): v for v in ws.data_validations.dataValidation}
        for index, column in enumerate(columns):
            letter = column_letter(index)
            note = ws[f"{letter}1"].comment
            assert note is not None and column.help in note.text
            rng = f"{letter}2:{letter}{LAST_ROW}"
            if column.choices:
                rule = validations.pop(rng)
                assert rule.type == "list"
                assert rule.formula1 == '"' + ",".join(column.choices) + '"'
                assert rule.showErrorMessage
                assert rule.error and all(choice in rule.error for choice in column.choices)
                assert column.name in rule.error
            if column.name in TEXT_COLUMNS:
                formats = {ws[f"{letter}{row}"].number_format for row in range(2, LAST_ROW + 1)}
                assert formats == {"@"}, f"{name}!{letter}"
        assert not validations, "a dropdown on a column without choices"
        assert {c.name for c in columns} & ID_COLUMNS, f"{name} has no ID column"

        rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
        assert is_example_row(rows[0]) and str(rows[0][0]).startswith(EXAMPLE_PREFIX)
        assert not any(is_example_row(r) or any(v is not None for v in r) for r in rows[1:])
        for cell in ws[2]:
            assert cell.font.i and cell.font.color.rgb == "FF7F7F7F"


def test_autocreate_options_sheet_lists_every_option_with_its_default() -> None:
    ws = openpyxl.load_workbook(committed("autocreate"))["Options"]
    [table] = ws.tables.values()
    assert (table.name, table.ref) == ("Options", f"A1:C{len(AUTOCREATE_OPTIONS) + 1}")
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert tuple(rows[0]) == OPTION_HEADERS
    assert rows[1:] == [[o.name, o.default or None, o.description] for o in AUTOCREATE_OPTIONS]
    assert ws.freeze_panes == "A2"
    defaults = {o.name: o.default for o in AUTOCREATE_OPTIONS}
    assert defaults["SIMULATION"] == "Y" and defaults["SCHOOLS"] == ""
    validations = {str(v.sqref): v for v in ws.data_validations.dataValidation}
    for row, option in enumerate(AUTOCREATE_OPTIONS, start=2):
        assert ws[f"B{row}"].number_format == "@"
        rule = validations.pop(f"B{row}", None)
        if option.choices:
            assert rule is not None and rule.showErrorMessage and rule.error
            assert rule.formula1 == '"' + ",".join(option.choices) + '"'
        else:
            assert rule is None
    assert not validations


@pytest.mark.parametrize("kind", KINDS)
def test_instructions_explain_columns_dropdowns_example_and_running(kind: str) -> None:
    ws = openpyxl.load_workbook(committed(kind))[INSTRUCTIONS_SHEET]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    text = "\n".join(" ".join(str(v) for v in row if v is not None) for row in rows)
    listed = {tuple(row[:4]) for row in rows}
    for columns in template_columns(kind).values():
        for column in columns:
            required = "Required" if column.required else "Optional"
            choices = ", ".join(column.choices) or None
            assert (column.name, required, column.help, choices) in listed, column.name
    for option in TEMPLATES[kind].options:
        choices = ", ".join(option.choices) or None
        assert (option.name, option.default or "(blank)", option.description, choices) in listed
    for phrase in (
        EXAMPLE_PREFIX,
        "never imported",
        "dropdown",
        "Text",
        f"{TAB_LABEL} tab",
        "Simulate",
        "portal run",
        LOG_SHEET_NAME,
    ):
        assert phrase in text, phrase


@pytest.mark.parametrize("kind", KINDS)
def test_template_alone_has_headers_but_no_rows(kind: str) -> None:
    path = committed(kind)
    for name in template_columns(kind):
        with pytest.raises(InputError, match="has headers but no rows"):
            read_table(path, sheet=name)
        with pytest.raises(InputError, match="has headers but no rows"):
            read_sheets(path, [name])


@pytest.mark.parametrize("kind", KINDS)
def test_filled_template_reads_without_the_example_row(tmp_path: Path, kind: str) -> None:
    filled = fill(committed(kind), tmp_path / "filled.xlsx", example_rows(kind))
    tables = read_sheets(filled, list(template_columns(kind)))
    for name, columns in template_columns(kind).items():
        table, sheet = read_table(filled, sheet=name)
        assert sheet == name
        assert table.headers == [c.name for c in columns]
        assert [c for _, c in match_headers(table, columns)] == list(columns)
        data = [(n, cells) for n, cells in table.rows if any(v not in (None, "") for v in cells)]
        assert [n for n, _ in data] == [3]
        assert tables[name].headers == table.headers


def test_filled_users_template_imports_and_the_example_is_not_logged(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    filled = fill(
        committed("users"),
        tmp_path / "users.xlsx",
        {
            "Users": [
                ["ann.lee@example.org", "Ann", "Lee", "GUARDIAN", None, "ACTIVE"],
                ["sam.lee", "Sam", "Lee", "STUDENT", "sam.lee@students.example.org"],
            ]
        },
    )
    result = run_cli(capsys, "--db", database_url, "import", "users", str(filled), "--apply")
    assert result.code == 0, result.stdout + result.stderr
    summary, rows = read_log(tmp_path / "users.applied.xlsx")
    assert summary["Added"] == 2 and summary["Errors"] == 0
    assert [(r.row, r.key, r.action) for r in rows] == [
        (3, "ann.lee@example.org", "added"),
        (4, "sam.lee", "added"),
    ]


def test_filled_roster_and_links_templates_import(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    roster = fill(
        committed("roster"),
        tmp_path / "roster.xlsx",
        {
            "Schools": [["012", "Lincoln Elementary"]],
            "Students": [["000123", "Sam", "Doe", "3", "012", "ACTIVE"]],
            "Contacts": [["000123", "C0456", "Jane", "Doe", "Mother", "jane@example.org", "Y"]],
        },
    )
    assert run_cli(capsys, *db, "import", "roster", str(roster), "--apply").code == 0
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert [(r.sheet, r.row, r.key, r.action) for r in rows] == [
        ("Schools", 3, "012", "added"),
        ("Students", 3, "000123", "added"),
        ("Contacts", 3, "000123 / C0456", "added"),
    ]
    users = fill(
        committed("users"),
        tmp_path / "users.xlsx",
        {"Users": [["jane@example.org", "Jane", "Doe", "GUARDIAN"]]},
    )
    assert run_cli(capsys, *db, "import", "users", str(users), "--apply").code == 0
    links = fill(
        committed("links"),
        tmp_path / "links.xlsx",
        {"Links": [["jane@example.org", "000123", "Mother", "Y", "Y", "ADD"]]},
    )
    result = run_cli(capsys, *db, "import", "links", str(links), "--apply")
    assert result.code == 0, result.stdout + result.stderr
    _, link_rows = read_log(tmp_path / "links.applied.xlsx")
    assert [(r.row, r.action) for r in link_rows] == [(3, "added")]


@pytest.mark.parametrize("kind", KINDS)
def test_libreoffice_opens_and_resaves_the_template(tmp_path: Path, kind: str) -> None:
    ods = convert(committed(kind), "ods", tmp_path / "ods")
    for name, columns in template_columns(kind).items():
        cells = ods_sheet(ods, name)
        # A header cell's text follows its note's text (ods_sheet reads both).
        assert [c.text.splitlines()[-1] for c in cells[0]] == [c.name for c in columns]
        assert all(c.help in cell.text for c, cell in zip(columns, cells[0], strict=True))
        assert cells[1][0].text.startswith(EXAMPLE_PREFIX)
        assert len(cells) == 2  # header and example: the formatted rows below are empty
    assert ods_sheet(ods, INSTRUCTIONS_SHEET)[0][0].text == TEMPLATES[kind].title

    resaved = convert(committed(kind), "xlsx", tmp_path / "resaved")
    book = openpyxl.load_workbook(resaved)
    assert template_kind(book.defined_names[TEMPLATE_NAME].attr_text) == kind
    for name, columns in template_columns(kind).items():
        assert [c.value for c in book[name][1]] == [c.name for c in columns]
        with pytest.raises(InputError, match="has headers but no rows"):
            read_table(resaved, sheet=name)
    filled = fill(resaved, tmp_path / "filled.xlsx", example_rows(kind))
    tables = read_sheets(filled, list(template_columns(kind)))
    for name, columns in template_columns(kind).items():
        assert [c for _, c in match_headers(tables[name], columns)] == list(columns)
        assert [n for n, cells in tables[name].rows if any(cells)] == [3]


def test_roster_template_imports_with_the_schools_sheet_left_as_is(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    schools = fill(
        committed("roster"), tmp_path / "schools.xlsx", {"Schools": [["101", "Lincoln Elementary"]]}
    )
    first = run_cli(capsys, "--db", database_url, "import", "roster", str(schools), "--apply")
    assert first.code == 0, first.stderr
    later = fill(
        committed("roster"),
        tmp_path / "later.xlsx",
        {"Students": [["000124", "Ann", "Doe", "4", "101", "ACTIVE"]]},
    )
    result = run_cli(capsys, "--db", database_url, "import", "roster", str(later))
    assert result.code == 0, result.stdout + result.stderr
    _, rows = read_log(tmp_path / "later.simulation.xlsx")
    assert [(r.sheet, r.row, r.key, r.action) for r in rows] == [("Students", 3, "000124", "added")]


def test_every_ribbon_action_runs_on_a_filled_template_file(
    tmp_path: Path, database_url: str
) -> None:
    """Every RunPython action of the add-in, through the file implementation of Workbook."""
    from addin.workbooks.actions import dispatch
    from addin.workbooks.file import FileWorkbook
    from addin.xlam import RIBBON_ACTIONS
    from backend.database.engine import make_engine

    engine = make_engine(database_url)
    filled = {
        kind: fill(committed(kind), tmp_path / f"{kind}.xlsx", example_rows(kind))
        for kind in TEMPLATES
    }
    with FileWorkbook(filled["autocreate"]) as workbook:
        options = workbook.grid("Options")
    assert [row[0] for row in options[1:]] == [o.name for o in AUTOCREATE_OPTIONS]
    for action in RIBBON_ACTIONS:
        kind = action.split(".")[0]
        path = filled.get(kind, filled["users"])
        out = tmp_path / f"{action}.xlsx"
        with FileWorkbook(path, out=out, assume_yes=True, value="ann@example.org") as workbook:
            try:
                result = dispatch(action, workbook, engine)
            except PortalError as exc:  # a refusal in plain words is a run, too
                result = str(exc)
        assert result is not None, action
        if action == "autocreate.apply":  # the template's SIMULATION Y holds it back
            assert "SIMULATION is Y on the Options sheet" in result
        elif action.endswith((".simulate", ".apply")):
            assert out.exists(), action
    engine.dispose()
