"""The result workbook: the user's workbook, untouched, plus the log sheet that opens first."""

import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from helpers import tiny_png
from libreoffice import convert, ods_sheet
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.table import Table
from python_calamine import CalamineWorkbook

from addin.files.result_writer import write_result_workbook
from addin.workbooks.result_sheet import ACTION_COLOURS, LOG_SHEET_NAME, ResultSheet
from backend.errors import InputError

# openpyxl warns when it reads the deliberately sparse input workbooks below.
pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no:UserWarning")

COLUMNS = ["Row", "Key", "Action", "Changes", "Reason"]
TRICKY = [
    "=1+2@school.org",
    "+441234",
    "-5",
    "@SUM(A1)",
    "\tlead tab",
    "\rlead CR",
    "bell\x07inside",
    "_x0041_",
    "_x0041_x0042_",
    "_x005F_",
    "two\r\nlines",
    "a & b < c > d \"q\" 'a'",
    " spaces kept ",
]
STARTS_LIKE_FORMULA = {"=", "+", "-", "@", "\t", "\r"}


# --------------------------------------------------------------------------- input workbooks


def openpyxl_workbook(path: Path) -> None:
    """Two sheets, an autofilter and a defined name on the first; both tabs selected (grouped)."""
    wb = openpyxl.Workbook()
    users = wb.active
    users.title = "Users"
    users.append(["LOGONID", "EMAIL", "STUDENT_ID"])
    users.append(["jdoe", "jdoe@example.org", "00123"])
    users.append(["asmith", "asmith@example.org", 456])
    users.append(["bjones", "bjones@example.org", 7.5])
    users.auto_filter.ref = "A1:C4"
    wb.defined_names["UserIds"] = DefinedName("UserIds", attr_text="Users!$A$2:$A$4")
    notes = wb.create_sheet("Notes")
    notes["A1"] = "Remember the deadline"
    notes["B2"] = 42
    users.sheet_view.tabSelected = True
    notes.sheet_view.tabSelected = True
    wb.save(path)


def xlsxwriter_workbook(path: Path, constant_memory: bool = False) -> None:
    """Shared strings (or inline ones in constant-memory mode), an image and a defined name."""
    png = tiny_png()
    image = path.with_suffix(".png")
    image.write_bytes(png)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    roster = wb.add_worksheet("Roster")
    roster.write_row(0, 0, ["LOGONID", "NAME", "GRADE"])
    roster.write_row(1, 0, ["p1", "Pat One", 3])
    roster.write_row(2, 0, ["p2", "Pat Two", 4])
    roster.autofilter("A1:C3")
    roster.insert_image("E2", str(image))
    extra = wb.add_worksheet("Extra")
    extra.write_string(0, 0, "=not a formula")
    extra.write_number(1, 1, 3.25)
    wb.define_name("Grades", "=Roster!$C$2:$C$3")
    extra.activate()
    roster.select()
    wb.close()


def prefixed_workbook(path: Path, styles: str | None = None) -> None:
    """Written the way some .NET writers do: an ``x:`` prefix, no bookViews, and no styles part
    unless ``styles`` (the styleSheet's inner XML) is given.
    """
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org'
            '/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="R1" Type='
            f'"{rel}/officeDocument" Target="/xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="utf-8"?><x:workbook xmlns:x="{main}" '
            'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
            'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main" '
            f'mc:Ignorable="x15" xmlns:rel="{rel}"><x:sheets>'
            '<x:sheet name="Data &amp; more" sheetId="7" rel:id="R7"/></x:sheets></x:workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships"><Relationship Id="R7" Type="{rel}'
            '/worksheet" Target="/xl/worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="utf-8"?><x:worksheet xmlns:x="{main}">'
            '<x:sheetViews><x:sheetView tabSelected="1" workbookViewId="0"/></x:sheetViews>'
            '<x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>hello</x:t></x:is>'
            '</x:c><x:c r="B1"><x:v>12</x:v></x:c></x:row></x:sheetData></x:worksheet>'
        ),
    }
    if styles is not None:
        parts["xl/styles.xml"] = f'<x:styleSheet xmlns:x="{main}">{styles}</x:styleSheet>'
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            "</Relationships>",
            f'<Relationship Id="R8" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        )
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            "</Types>",
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.styles+xml"/></Types>',
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in parts.items():
            package.writestr(name, text)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "openpyxl": openpyxl_workbook,
    "xlsxwriter": xlsxwriter_workbook,
    "xlsxwriter-inline": lambda path: xlsxwriter_workbook(path, constant_memory=True),
    "prefixed-no-styles": prefixed_workbook,
    # Lists written empty or left out: the log's formats must go in the right place.
    "prefixed-sparse-styles": lambda path: prefixed_workbook(
        path,
        styles='<x:numFmts count="0"/><x:fonts count="0"/><x:cellXfs count="0"/>'
        '<x:cellStyles count="0"/><x:dxfs count="0"/>',
    ),
}


# --------------------------------------------------------------------------- logs and readers


def make_log(rows: int = 6, title: str = "Import of users") -> ResultSheet:
    actions = ["added", "updated", "skipped", "error", "something-else"]
    log = ResultSheet(
        title=title,
        summary=[("Mode", "simulate"), ("Added", 2), ("Batch id", "b-123"), ("Seconds", 0.25)],
        columns=list(COLUMNS),
    )
    for i in range(rows):
        action = actions[i % len(actions)]
        changes = None if action in ("skipped", "something-else") else f"EMAIL: old{i} -> new{i}"
        log.rows.append([i + 2, f"user{i}@example.org", action, changes, f"reason {i}"])
        log.actions.append(action)
    return log


def sheet_values(path: Path) -> dict[str, list[tuple[object, ...]]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def header_row(log: ResultSheet) -> int:
    return len(log.summary) + 3


def assert_log_sheet(path: Path, log: ResultSheet, position: int | None = None) -> None:
    """What the user sees on the log sheet: values, colours, filter, frozen header, active tab."""
    wb = openpyxl.load_workbook(path)
    names = wb.sheetnames
    assert names.count(LOG_SHEET_NAME) == 1
    assert names.index(LOG_SHEET_NAME) == (len(names) - 1 if position is None else position)
    ws = wb[LOG_SHEET_NAME]
    assert wb.active.title == LOG_SHEET_NAME
    assert ws.sheet_view.tabSelected
    assert [s.title for s in wb.worksheets if s.sheet_view.tabSelected] == [LOG_SHEET_NAME]

    assert ws["A1"].value == log.title
    assert ws["A1"].font.b
    for n, (label, value) in enumerate(log.summary, start=2):
        assert (ws.cell(n, 1).value, ws.cell(n, 2).value) == (label, value)
        assert ws.cell(n, 1).font.b
    top = header_row(log)
    assert all(ws.cell(top - 1, c).value is None for c in range(1, 6))
    assert [ws.cell(top, c + 1).value for c in range(len(COLUMNS))] == log.columns
    assert all(ws.cell(top, c + 1).font.b for c in range(len(COLUMNS)))
    assert ws.cell(top, 1).fill.fill_type == "solid"

    for i, (row, action) in enumerate(zip(log.rows, log.actions, strict=True)):
        cells = [ws.cell(top + 1 + i, c + 1) for c in range(len(COLUMNS))]
        assert [c.value for c in cells] == row
        for cell in cells:
            if action in ACTION_COLOURS:
                assert cell.fill.fill_type == "solid"
                assert cell.fill.fgColor.rgb[-6:] == ACTION_COLOURS[action]
            else:
                assert cell.fill.fill_type is None
    assert ws.max_row == top + len(log.rows)

    assert ws.auto_filter.ref == f"A{top}:E{top + len(log.rows)}"
    assert ws.freeze_panes == f"A{top + 1}"
    widths = [ws.column_dimensions[letter].width for letter in "ABCDE"]
    assert all(6 <= w <= 60 for w in widths)
    assert widths[0] < widths[1]  # row numbers narrow, keys wide


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
def test_result_holds_the_workbook_and_the_log_last(
    tmp_path: Path, builder: Callable[[Path], None]
) -> None:
    source, dest = tmp_path / "input.xlsx", tmp_path / "input result.xlsx"
    builder(source)
    before = sheet_values(source)
    log = make_log()

    write_result_workbook(source, dest, log)

    after = sheet_values(dest)
    assert list(after) == [*before, LOG_SHEET_NAME]
    assert {name: after[name] for name in before} == before
    assert_log_sheet(dest, log)


def test_user_sheets_keep_their_filter_and_names(tmp_path: Path) -> None:
    source, dest = tmp_path / "users.xlsx", tmp_path / "result.xlsx"
    openpyxl_workbook(source)

    write_result_workbook(source, dest, make_log())

    wb = openpyxl.load_workbook(dest)
    assert wb["Users"].auto_filter.ref == "A1:C4"
    assert wb.defined_names["UserIds"].attr_text == "Users!$A$2:$A$4"


def test_user_sheets_keep_their_filter_names_and_image(tmp_path: Path) -> None:
    source, dest = tmp_path / "roster.xlsx", tmp_path / "result.xlsx"
    xlsxwriter_workbook(source)

    write_result_workbook(source, dest, make_log())

    wb = openpyxl.load_workbook(dest)
    assert wb["Roster"].auto_filter.ref == "A1:C3"
    assert wb.defined_names["Grades"].attr_text == "Roster!$C$2:$C$3"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest) as new:
        media = [n for n in old.namelist() if n.startswith("xl/media/")]
        assert media
        for name in media:
            assert new.read(name) == old.read(name)


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
def test_parts_are_copied_unchanged_and_edited_parts_keep_their_namespaces(
    tmp_path: Path, builder: Callable[[Path], None]
) -> None:
    source, dest = tmp_path / "input.xlsx", tmp_path / "result.xlsx"
    builder(source)

    write_result_workbook(source, dest, make_log())

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest) as new:
        assert new.testzip() is None
        for name in old.namelist():
            before, after = old.read(name), new.read(name)
            if before == after:
                continue
            # Only the parts that must know about the log change; their root tag (namespace
            # declarations, mc:Ignorable) stays exactly as written.
            assert name in {
                "[Content_Types].xml",
                "xl/workbook.xml",
                "xl/_rels/workbook.xml.rels",
                "xl/styles.xml",
            } or re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name), name
            root = re.compile(rb"<(?![?!])[^>]*>")
            assert root.search(after).group(0) == root.search(before).group(0)  # type: ignore[union-attr]
            if name.startswith("xl/worksheets/"):
                assert b"tabSelected" in before
                assert after == re.sub(rb'\s+tabSelected="1"', b"", before)


def test_prefixed_workbook_gets_prefixed_edits_and_a_styles_part(tmp_path: Path) -> None:
    source, dest = tmp_path / "net.xlsx", tmp_path / "result.xlsx"
    prefixed_workbook(source)

    write_result_workbook(source, dest, make_log())

    with zipfile.ZipFile(dest) as package:
        workbook = package.read("xl/workbook.xml").decode()
        assert 'mc:Ignorable="x15"' in workbook
        assert '<x:sheet name="Import Log" sheetId="8" rel:id="' in workbook
        assert '<x:workbookView activeTab="1"/>' in workbook
        assert '<x:definedName name="_xlnm._FilterDatabase" localSheetId="1"' in workbook
        assert "styles.xml" in package.read("xl/_rels/workbook.xml.rels").decode()
        assert "/xl/styles.xml" in package.read("[Content_Types].xml").decode()
    assert openpyxl.load_workbook(dest).sheetnames == ["Data & more", LOG_SHEET_NAME]


def test_strings_stay_text_and_round_trip(tmp_path: Path) -> None:
    source, dest = tmp_path / "input.xlsx", tmp_path / "result.xlsx"
    openpyxl_workbook(source)
    log = ResultSheet(
        title='=HYPERLINK("http://evil")',
        summary=[("-label", "@value")],
        columns=["Value"],
        rows=[[value] for value in TRICKY],
        actions=["error"] * len(TRICKY),
    )

    write_result_workbook(source, dest, log)

    with zipfile.ZipFile(dest) as package:
        sheet = package.read(f"xl/worksheets/sheet{3}.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet

    ws = openpyxl.load_workbook(dest)[LOG_SHEET_NAME]
    first = header_row(log) + 1
    written = [ws["A1"], ws["A2"], ws["B2"]] + [ws.cell(first + i, 1) for i in range(len(TRICKY))]
    for cell in written:
        assert cell.data_type == "s"
        text = str(cell.value)
        assert cell.quotePrefix == (text[:1] in STARTS_LIKE_FORMULA or text.startswith("_x000D_"))
        assert cell.number_format == "@"
    assert ws.cell(first, 1).value == "=1+2@school.org"

    # python-calamine (the project's reader) decodes Excel's _xHHHH_ escapes, as Excel does.
    rows = CalamineWorkbook.from_path(str(dest)).get_sheet_by_name(LOG_SHEET_NAME).to_python()
    assert rows[0][0] == log.title
    assert rows[1][:2] == ["-label", "@value"]
    assert [row[0] for row in rows[first - 1 :]] == TRICKY


def test_running_again_replaces_the_log_in_place(tmp_path: Path) -> None:
    source, first, second = tmp_path / "in.xlsx", tmp_path / "first.xlsx", tmp_path / "second.xlsx"
    openpyxl_workbook(source)
    write_result_workbook(source, first, make_log(rows=9, title="First run"))
    new_log = make_log(rows=3, title="Second run")
    new_log.rows[0][1] = "someone.else@example.org"

    write_result_workbook(first, second, new_log)

    assert sheet_values(second)["Users"] == sheet_values(source)["Users"]
    assert_log_sheet(second, new_log)
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        # The log's styles are reused, not appended again.
        count = re.compile(rb'<cellXfs count="(\d+)"')
        assert count.search(a.read("xl/styles.xml")).group(1) == count.search(  # type: ignore[union-attr]
            b.read("xl/styles.xml")
        ).group(1)
        workbook = b.read("xl/workbook.xml").decode()
        assert workbook.count("_xlnm._FilterDatabase") == 2  # the user's sheet and the log


def test_log_sheet_elsewhere_is_replaced_where_it_is(tmp_path: Path) -> None:
    """A log sheet the user moved, hid and put a table on is replaced at its position."""
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Users"
    wb.active.append(["LOGONID"])
    old = wb.create_sheet("import log", index=0)
    old.append(["Key", "Old"])
    old.append(["k", "stale value"])
    old.add_table(Table(displayName="OldLog", ref="A1:B2"))
    old.sheet_state = "hidden"
    wb.create_sheet("Notes")
    wb.active = 1
    wb.save(source)
    with zipfile.ZipFile(source) as package:
        assert "xl/tables/table1.xml" in package.namelist()

    log = make_log(rows=4)
    write_result_workbook(source, dest, log)

    assert_log_sheet(dest, log, position=0)
    wb = openpyxl.load_workbook(dest)
    assert wb.sheetnames == [LOG_SHEET_NAME, "Users", "Notes"]
    assert wb[LOG_SHEET_NAME].sheet_state == "visible"
    assert not wb[LOG_SHEET_NAME].tables
    with zipfile.ZipFile(dest) as package:
        names = package.namelist()
        assert not any("table" in name for name in names)
        assert "table" not in package.read("[Content_Types].xml").decode()
        assert b"stale value" not in b"".join(package.read(name) for name in names)

    ods = convert(dest, "ods", tmp_path / "ods")
    with zipfile.ZipFile(ods) as package:
        content = package.read("content.xml").decode()
    assert re.findall(r'<table:table table:name="([^"]*)"', content) == wb.sheetnames
    assert ods_sheet(ods, LOG_SHEET_NAME)[0][0].text == log.title


def test_result_over_the_source_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.xlsx"
    openpyxl_workbook(source)
    original = source.read_bytes()
    (tmp_path / "sub").mkdir()

    for dest in (source, tmp_path / "sub" / ".." / "in.xlsx"):
        with pytest.raises(InputError, match="cannot be written over the input"):
            write_result_workbook(source, dest, make_log())

    assert source.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "sub"]


def test_not_a_workbook_is_refused(tmp_path: Path) -> None:
    source, dest = tmp_path / "notes.xlsx", tmp_path / "out.xlsx"
    source.write_text("just text")

    with pytest.raises(InputError, match=r"not an \.xlsx workbook"):
        write_result_workbook(source, dest, make_log())
    with pytest.raises(InputError, match="does not exist"):
        write_result_workbook(tmp_path / "missing.xlsx", dest, make_log())

    assert not dest.exists()


def test_failure_leaves_the_old_result_in_place(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    openpyxl_workbook(source)
    damage_part(source, "xl/theme/theme1.xml")
    dest.write_bytes(b"previous result")

    with pytest.raises(InputError, match="damaged"):
        write_result_workbook(source, dest, make_log())

    assert dest.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "out.xlsx"]


def damage_part(path: Path, name: str) -> None:
    """Flip bytes in the middle of one compressed part, as a bad download would."""
    with zipfile.ZipFile(path) as package:
        info = package.getinfo(name)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
def test_libreoffice_reads_the_result(tmp_path: Path, builder: Callable[[Path], None]) -> None:
    source, dest = tmp_path / "input.xlsx", tmp_path / "result.xlsx"
    builder(source)
    log = make_log(rows=5)
    log.rows[0][4] = "=1+2@school.org"
    log.rows[1][4] = "_x0041_"

    write_result_workbook(source, dest, log)
    ods = convert(dest, "ods", tmp_path / "ods")

    cells = ods_sheet(ods, LOG_SHEET_NAME)
    assert cells[0][0].text == log.title
    assert [[c.text for c in row[:2]] for row in cells[1:5]] == [
        [label, str(value)] for label, value in log.summary
    ]
    top = header_row(log)
    assert [c.text for c in cells[top - 1]] == COLUMNS
    for row, written in zip(log.rows, cells[top:], strict=True):
        assert [c.text for c in written] == ["" if v is None else str(v) for v in row][
            : len(written)
        ]
        assert float(written[0].text) == row[0] and written[0].value_type == "float"
    formula_like = cells[top][4]
    assert formula_like == ("=1+2@school.org", "string", None)
    assert cells[top + 1][4].text == "_x0041_"
    with zipfile.ZipFile(ods) as package:
        content = package.read("content.xml").decode()
    # The autofilter survives as a filtered database range over the table.
    assert re.search(
        r"<table:database-range [^>]*target-range-address=\"&apos;Import Log&apos;\.A"
        rf"{top}:&apos;Import Log&apos;\.E{top + len(log.rows)}\"[^>]*"
        r'display-filter-buttons="true"',
        content,
    )
    first_sheet = next(iter(sheet_values(source)))
    original = ods_sheet(ods, first_sheet)
    assert original[0][0].text == str(sheet_values(source)[first_sheet][0][0])


def test_empty_cells_and_unusual_values(tmp_path: Path) -> None:
    """None is no cell (but keeps a coloured row's band); numbers stay exact; odd ones are text."""
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    openpyxl_workbook(source)
    log = ResultSheet(
        title="Values",
        summary=[],
        columns=["A", "B", "C", "D"],
        rows=[
            [1, None, 2.5, True],
            [12345678901234567890, float("nan"), -0.0, None],
            [None, "x"],
        ],
        actions=["something-else", "something-else", "updated"],
    )

    write_result_workbook(source, dest, log)

    with zipfile.ZipFile(dest) as package:
        sheet = package.read("xl/worksheets/sheet3.xml").decode()
    assert '<c r="B4"' not in sheet and '<c r="D5"' not in sheet
    ws = openpyxl.load_workbook(dest)[LOG_SHEET_NAME]
    assert [c.value for c in ws[4]] == [1, None, 2.5, True]
    assert [c.value for c in ws[5]] == ["12345678901234567890", "nan", 0.0, None]
    band = ws[6]
    assert [c.value for c in band] == [None, "x", None, None]
    assert all(c.fill.fgColor.rgb[-6:] == ACTION_COLOURS["updated"] for c in band)
    assert ws.auto_filter.ref == "A3:D6"
    assert ws.freeze_panes == "A4"


def test_sheet_name_with_quote_and_ampersand(tmp_path: Path) -> None:
    source, dest = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    openpyxl_workbook(source)
    name = "Pat's log & more"

    write_result_workbook(source, dest, make_log(), sheet_name=name)

    wb = openpyxl.load_workbook(dest)
    assert wb.sheetnames[-1] == name
    assert wb.active.title == name
    with zipfile.ZipFile(dest) as package:
        workbook = package.read("xl/workbook.xml").decode()
    assert "'Pat''s log &amp; more'!$A$7:$E$13</definedName>" in workbook
    with pytest.raises(ValueError, match="cannot be the name"):
        write_result_workbook(source, tmp_path / "x.xlsx", make_log(), sheet_name="a/b")
