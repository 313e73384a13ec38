"""Zero-padded number cells are read as the text Excel shows, at calamine's grid positions.

Workbooks are real files written by openpyxl, XlsxWriter and LibreOffice; a few are then edited
at the XML level to spell cells the other ways the file format allows (no addresses, prefixes,
other attribute orders), so every reading path is checked against calamine's own grid.
"""

import datetime
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from defusedxml import DTDForbidden
from libreoffice import convert
from python_calamine import CalamineWorkbook

from addin.files import padded_ids as number_formats
from addin.files.padded_ids import padding_format, zero_padded_cells

SHEET_XML = "xl/worksheets/sheet1.xml"
ALL_COLUMNS = range(30)

# The rich sheet below: data starts at C3 (row 2, column 2 in calamine's grid).
ID, TEXT_ID, PLAIN, BORN, SCORE, ODD, GUARDIAN = range(2, 9)
ROSTER_EXPECTED = {
    (3, ID): "00123",
    (4, ID): "1234567",
    (5, ID): "00000",
    (6, ID): "00042",
    (3, GUARDIAN): "S000077",
    (4, GUARDIAN): "S000078",
    (3, ODD): "00099",
}


def grid(path: Path, sheet: str) -> list[list[Any]]:
    """The sheet as the importer reads it."""
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        return workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    finally:
        workbook.close()


def assert_on_grid(path: Path, sheet: str, found: dict[tuple[int, int], str]) -> None:
    """Each cell found is, in calamine's grid, the float whose digits the text shows."""
    cells = grid(path, sheet)
    for (row, column), text in found.items():
        value = cells[row][column]
        assert isinstance(value, float), (row, column, value)
        assert value == int(re.sub(r"\D", "", text)), (row, column, value, text)


def roster_workbook(path: Path) -> Path:
    """Every kind of column an office sheet has, starting at C3, and a second sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Students"
    headers = ["ID", "Text ID", "Plain", "Born", "Score", "Odd", "Guardian"]
    for offset, header in enumerate(headers):
        sheet.cell(row=3, column=3 + offset, value=header)
    rows = [
        (123, "00042", 7, datetime.date(2010, 5, 1), 1.5, 99, 77),
        (1234567, "00043", 8, datetime.date(2011, 6, 2), 3.0, 12.5, 78),
        (0, "00044", 9, datetime.date(2012, 7, 3), 2.25, -5, None),
        (42, "00045", 10, datetime.date(2013, 8, 4), 4.0, 10**15, None),
    ]
    formats = ["00000", "@", "General", "yyyy-mm-dd", "0.00", "00000", '"S"000000']
    for number, values in enumerate(rows, start=4):
        for offset, (value, fmt) in enumerate(zip(values, formats, strict=True)):
            if value is not None:
                cell = sheet.cell(row=number, column=3 + offset, value=value)
                cell.number_format = fmt
    other = workbook.create_sheet("Guardians")
    other["A1"] = "Guardian"
    for number, (value, fmt) in enumerate(
        [
            (5, "\\S00000"),
            (123, "[<=99999]00000;General"),
            (123456, "[<=99999]00000;General"),
            (77, "[Red]000000"),
            (88, "#,##0"),
            (89, "0"),
        ],
        start=2,
    ):
        other.cell(row=number, column=1, value=value).number_format = fmt
    workbook.save(path)
    return path


GUARDIANS_EXPECTED = {(1, 0): "S00005", (2, 0): "00123", (4, 0): "000077"}


def rewrite(source: Path, dest: Path, part: str, edit: Callable[[bytes], bytes]) -> Path:
    """A copy of ``source`` with one part changed by ``edit``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            new.writestr(item, edit(data) if item.filename == part else data)
    return dest


@pytest.fixture
def usual_cells_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a piece of the sheet needs the slower reading: common writers never should."""

    def refuse(*_: object) -> None:
        raise AssertionError("a cell was not spelled the usual way")

    monkeypatch.setattr(number_formats._RegexScan, "loose_piece", refuse)
    monkeypatch.setattr(number_formats, "_full_scan", refuse)


@pytest.mark.usefixtures("usual_cells_only")
def test_only_padded_integer_cells_come_back(tmp_path: Path) -> None:
    path = roster_workbook(tmp_path / "roster.xlsx")
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    assert found == ROSTER_EXPECTED
    assert_on_grid(path, "Students", found)
    cells = grid(path, "Students")
    assert cells[3][TEXT_ID] == "00042"  # text stays calamine's
    assert cells[3][BORN] == datetime.date(2010, 5, 1)


def test_each_sheet_has_its_own_cells(tmp_path: Path) -> None:
    path = roster_workbook(tmp_path / "roster.xlsx")
    found = zero_padded_cells(path, "Guardians", [0])
    assert found == GUARDIANS_EXPECTED
    assert_on_grid(path, "Guardians", found)
    assert zero_padded_cells(path, "guardians", [0]) == GUARDIANS_EXPECTED


def test_only_the_wanted_columns(tmp_path: Path) -> None:
    path = roster_workbook(tmp_path / "roster.xlsx")
    assert zero_padded_cells(path, "Students", [ID]) == {
        key: text for key, text in ROSTER_EXPECTED.items() if key[1] == ID
    }
    assert zero_padded_cells(path, "Students", [PLAIN, TEXT_ID, 0]) == {}
    assert zero_padded_cells(path, "Students", []) == {}


@pytest.mark.usefixtures("usual_cells_only")
def test_xlsxwriter_workbook_with_two_sheets(tmp_path: Path) -> None:
    path = tmp_path / "written.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        padded = workbook.add_format({"num_format": "000000"})
        dates = workbook.add_format({"num_format": "dd/mm/yyyy"})
        first = workbook.add_worksheet("Users")
        first.write_row(0, 0, ["ID", "Name", "Born", "Grade", "Text ID"])
        first.write_number(1, 0, 123, padded)
        first.write_string(1, 1, "Ana")
        first.write_datetime(1, 2, datetime.datetime(2012, 1, 2), dates)
        first.write_number(1, 3, 5)
        first.write_string(1, 4, "000124", padded)  # text in a padded column stays text
        first.write_formula(3, 0, "=A2+1", padded, 124)  # row 3 left blank on purpose
        first.write_boolean(4, 0, True, padded)
        first.write_blank(5, 0, None, padded)
        second = workbook.add_worksheet("Links")
        second.write_number(9, 2, 42, padded)
        second.write_number(10, 2, 43)
    users = zero_padded_cells(path, "Users", ALL_COLUMNS)
    assert users == {(1, 0): "000123", (3, 0): "000124"}
    assert_on_grid(path, "Users", users)
    links = zero_padded_cells(path, "Links", ALL_COLUMNS)
    assert links == {(9, 2): "000042"}
    assert_on_grid(path, "Links", links)


def test_without_padding_formats_the_sheet_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet("Users")
        sheet.write_number(0, 0, 123, workbook.add_format({"num_format": "0.00"}))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the sheet was read")

    monkeypatch.setattr(number_formats, "_RegexScan", refuse)
    monkeypatch.setattr(number_formats, "_full_scan", refuse)
    assert zero_padded_cells(path, "Users", ALL_COLUMNS) == {}


def test_a_chart_sheet_has_no_cells(tmp_path: Path) -> None:
    path = tmp_path / "chart.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        data = workbook.add_worksheet("Data")
        data.write_number(0, 0, 7, workbook.add_format({"num_format": "00000"}))
        chart = workbook.add_chart({"type": "column"})
        chart.add_series({"values": "=Data!$A$1:$A$1"})
        workbook.add_chartsheet("Chart").set_chart(chart)
    assert zero_padded_cells(path, "Chart", ALL_COLUMNS) == {}
    assert zero_padded_cells(path, "Data", ALL_COLUMNS) == {(0, 0): "00007"}


def test_a_missing_sheet_is_an_error(tmp_path: Path) -> None:
    path = roster_workbook(tmp_path / "roster.xlsx")
    with pytest.raises(KeyError, match="Nope"):
        zero_padded_cells(path, "Nope", [0])


@pytest.mark.parametrize(
    ("code", "value", "text"),
    [
        ("00000", 123, "00123"),
        ("00000", 1234567, "1234567"),
        ("00000", 0, "00000"),
        ("000000", 42, "000042"),
        ('"0"0000', 123, "00123"),
        ('"S"00000', 123, "S00123"),
        ("\\S00000", 123, "S00123"),
        ('00000" "', 123, "00123 "),
        ("[Blue]00000", 123, "00123"),
        ("[Color10]00000", 123, "00123"),
        ("[$-409]00000", 123, "00123"),
        ("##00000", 123, "00123"),
        ("00000;-00000", 123, "00123"),
        ('00000;-00000;"none"', 0, None),
        ("00000;-00000;000", 0, "000"),
        ("00000;;", 0, None),
        ("[<=99999]00000;General", 123, "00123"),
        ("[<=99999]00000;General", 123456, None),
        ("[<=99999]00000;00000-0000", 123456789, None),
        ("[>999]0000;[>99]000000;00", 5, "05"),
        ("[>999]0000;[>99]000000;00", 123, "000123"),
        ("00000", 12.5, None),
        ("00000", -5, None),
        ("00000", 10**15, None),
        ("00000", 10**15 - 1, "999999999999999"),
    ],
)
def test_format_codes(code: str, value: float, text: str | None) -> None:
    fmt = padding_format(code)
    assert fmt is not None
    assert fmt.text(float(value)) == text


@pytest.mark.parametrize(
    "code",
    [
        "General",
        "0",
        "0.00",
        "00000.00",
        "#,##0",
        "0%",
        "0.00E+00",
        "yyyy-mm-dd",
        "[h]:mm",
        "@",
        "000-00-0000",
        "# ?/?",
        "00000_)",
        '"S"0',
        "[DBNum1]00000",
    ],
)
def test_codes_that_do_not_pad(code: str) -> None:
    assert padding_format(code) is None


def strip_addresses(data: bytes) -> bytes:
    """Every row and cell without its ``r`` attribute (the file format allows it)."""
    return re.sub(rb' r="[A-Z]*\d+"', b"", data)


def test_cells_without_addresses_are_counted_like_calamine(tmp_path: Path) -> None:
    """Without addresses the cells close up to column A and row 1, as calamine reads them."""
    source = roster_workbook(tmp_path / "roster.xlsx")
    path = rewrite(source, tmp_path / "bare.xlsx", SHEET_XML, strip_addresses)
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    # Each row's cells are contiguous from C, so all move two rows up and two columns left.
    shift = {(row - 2, column - 2): text for (row, column), text in ROSTER_EXPECTED.items()}
    assert found == shift
    assert_on_grid(path, "Students", found)


def test_some_cells_without_addresses(tmp_path: Path) -> None:
    """Rows keep their numbers; a cell without an address follows its left neighbour."""
    source = roster_workbook(tmp_path / "roster.xlsx")

    def drop_some(data: bytes) -> bytes:
        data = re.sub(rb'(<c) r="[D-H]\d+"', rb"\1", data)  # only column C keeps addresses
        return re.sub(rb'(<row) r="5"', rb"\1", data)  # row 5 follows row 4 anyway

    path = rewrite(source, tmp_path / "mixed.xlsx", SHEET_XML, drop_some)
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    assert found == ROSTER_EXPECTED
    assert_on_grid(path, "Students", found)


def test_prefixed_element_names(tmp_path: Path) -> None:
    source = roster_workbook(tmp_path / "roster.xlsx")

    def prefix(data: bytes) -> bytes:
        data = re.sub(rb"<(/?)([A-Za-z])", rb"<\1x:\2", data)
        return data.replace(b'xmlns="', b'xmlns:x="')

    path = rewrite(source, tmp_path / "prefixed.xlsx", SHEET_XML, prefix)
    assert b"<x:c " in zipfile.ZipFile(path).read(SHEET_XML)
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    assert found == ROSTER_EXPECTED
    assert_on_grid(path, "Students", found)
    bare = rewrite(path, tmp_path / "prefixed-bare.xlsx", SHEET_XML, strip_addresses)
    assert zero_padded_cells(bare, "Students", ALL_COLUMNS) == {
        (row - 2, column - 2): text for (row, column), text in ROSTER_EXPECTED.items()
    }


def test_other_spellings_of_a_cell(tmp_path: Path) -> None:
    """Attribute order, quotes, spaces and line breaks are the writer's choice."""
    source = roster_workbook(tmp_path / "roster.xlsx")

    def respell(data: bytes) -> bytes:
        data = re.sub(rb'<c r="([A-Z]+\d+)" s="(\d+)"', rb"<c s='\2'\n  r = '\1'", data)
        return data.replace(b"<v>", b'<v xml:space="preserve">')

    path = rewrite(source, tmp_path / "respelled.xlsx", SHEET_XML, respell)
    assert b"<c s='1'\n  r = 'C4'" in zipfile.ZipFile(path).read(SHEET_XML)
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    assert found == ROSTER_EXPECTED
    assert_on_grid(path, "Students", found)


def test_the_parser_and_the_scan_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = roster_workbook(tmp_path / "roster.xlsx")

    def need_full_scan(*_: object) -> None:
        raise number_formats._NeedFullScan

    monkeypatch.setattr(number_formats._RegexScan, "run", need_full_scan)
    assert zero_padded_cells(path, "Students", ALL_COLUMNS) == ROSTER_EXPECTED
    assert zero_padded_cells(path, "Guardians", [0]) == GUARDIANS_EXPECTED


def test_small_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sheet is scanned in pieces cut after a row: no cell is lost at a cut."""
    path = roster_workbook(tmp_path / "roster.xlsx")
    monkeypatch.setattr(number_formats, "CHUNK_BYTES", 37)
    assert zero_padded_cells(path, "Students", ALL_COLUMNS) == ROSTER_EXPECTED


def test_default_style_that_pads(tmp_path: Path) -> None:
    """When the workbook's default style pads, cells without an ``s`` attribute pad too."""
    source = tmp_path / "source.xlsx"
    with xlsxwriter.Workbook(source) as workbook:
        sheet = workbook.add_worksheet("Users")
        sheet.write_number(1, 1, 5)
        sheet.write_number(2, 1, 6.5)
        sheet.write_number(3, 1, 7, workbook.add_format({"num_format": "00000"}))

    def default_pads(data: bytes) -> bytes:
        return re.sub(rb'(<cellXfs count="\d+"><xf numFmtId=")0"', rb'\g<1>164"', data, count=1)

    path = rewrite(source, tmp_path / "default.xlsx", "xl/styles.xml", default_pads)
    assert b'<cellXfs count="2"><xf numFmtId="164"' in zipfile.ZipFile(path).read("xl/styles.xml")
    found = zero_padded_cells(path, "Users", ALL_COLUMNS)
    assert found == {(1, 1): "00005", (3, 1): "00007"}
    assert_on_grid(path, "Users", found)


@pytest.mark.parametrize(
    "target",
    ["/xl/worksheets/sheet1.xml", "worksheets/sheet1.xml", "./worksheets/../worksheets/sheet1.xml"],
)
def test_sheet_targets_absolute_or_relative(tmp_path: Path, target: str) -> None:
    source = roster_workbook(tmp_path / "roster.xlsx")
    rels = "xl/_rels/workbook.xml.rels"

    def retarget(data: bytes) -> bytes:
        return data.replace(b'Target="/xl/worksheets/sheet1.xml"', f'Target="{target}"'.encode())

    path = rewrite(source, tmp_path / "retargeted.xlsx", rels, retarget)
    assert f'Target="{target}"'.encode() in zipfile.ZipFile(path).read(rels)
    assert zero_padded_cells(path, "Students", ALL_COLUMNS) == ROSTER_EXPECTED


def test_other_encodings_go_to_the_safe_parser(tmp_path: Path) -> None:
    source = roster_workbook(tmp_path / "roster.xlsx")

    def declare_latin1(data: bytes) -> bytes:
        return b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + data

    path = rewrite(source, tmp_path / "latin1.xlsx", SHEET_XML, declare_latin1)
    assert zero_padded_cells(path, "Students", ALL_COLUMNS) == ROSTER_EXPECTED


def test_a_document_type_declaration_is_refused(tmp_path: Path) -> None:
    source = roster_workbook(tmp_path / "roster.xlsx")

    def add_doctype(data: bytes) -> bytes:
        return b'<!DOCTYPE worksheet [<!ENTITY id "123">]>' + data

    path = rewrite(source, tmp_path / "doctype.xlsx", SHEET_XML, add_doctype)
    with pytest.raises(DTDForbidden):
        zero_padded_cells(path, "Students", ALL_COLUMNS)


@pytest.mark.usefixtures("usual_cells_only")
def test_workbook_saved_by_libreoffice(tmp_path: Path) -> None:
    source = roster_workbook(tmp_path / "roster.xlsx")
    path = convert(source, "xlsx", tmp_path / "libreoffice")
    found = zero_padded_cells(path, "Students", ALL_COLUMNS)
    assert found == ROSTER_EXPECTED
    assert_on_grid(path, "Students", found)
    guardians = zero_padded_cells(path, "Guardians", [0])
    assert guardians == GUARDIANS_EXPECTED
    assert_on_grid(path, "Guardians", guardians)


def test_a_100k_row_sheet(tmp_path: Path) -> None:
    """Every padded cell of a district-size sheet comes back (its speed: bench_padded_ids.py)."""
    path = tmp_path / "big.xlsx"
    rows = 100_000
    with xlsxwriter.Workbook(path, {"constant_memory": True}) as workbook:
        padded = workbook.add_format({"num_format": "000000"})
        dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
        sheet = workbook.add_worksheet("Users")
        sheet.write_row(0, 0, ["ID", "Name", "Born", "Grade", "Guardian ID"])
        born = datetime.datetime(2012, 1, 1)
        for row in range(1, rows + 1):
            sheet.write_number(row, 0, row, padded)
            sheet.write_string(row, 1, f"Student {row}")
            sheet.write_datetime(row, 2, born, dates)
            sheet.write_number(row, 3, row % 12)
            sheet.write_number(row, 4, 900_000 + row, padded)
    found = zero_padded_cells(path, "Users", [0, 4])
    assert len(found) == 2 * rows
    assert found[1, 0] == "000001"
    assert found[rows, 4] == str(900_000 + rows)
