"""The upload gate: every kind of unusable or unsafe file is refused with advice, good ones pass.

Files are real: written by openpyxl, XlsxWriter, LibreOffice and msoffcrypto, or real archives
patched the way an attacker would.
"""

import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bad_workbooks as bad
import olefile
import pytest
import xlsxwriter
from helpers import tiny_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libreoffice import convert
from msoffcrypto import OfficeFile

from addin.files.checks import (
    MAX_PARTS,
    MB,
    PROLOGUE_BYTES,
    _check_content_types,
    check_workbook_file,
)
from backend.errors import InputError

LIMITS = {"max_file_bytes": 50 * MB, "max_unpacked_bytes": 500 * MB}


def refusal(path: Path, **limits: int) -> str:
    """The message the check gives for ``path``; fails the test if the file passes."""
    with pytest.raises(InputError) as caught:
        check_workbook_file(path, **{**LIMITS, **limits})
    message = str(caught.value)
    assert "\n" not in message
    return message


def passes(path: Path, **limits: int) -> None:
    check_workbook_file(path, **{**LIMITS, **limits})


def zip_of(path: Path, parts: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


# --- good workbooks ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [bad.headers_only, bad.empty_sheet, bad.users_workbook])
def test_openpyxl_workbooks_pass(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    passes(make(tmp_path))


def test_xlsxwriter_workbook_with_many_features_passes(tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(tiny_png())
    path = tmp_path / "roster.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        users = workbook.add_worksheet("Users")
        users.write_row(0, 0, bad.HEADERS)
        for row, values in enumerate(bad.ROWS, start=1):
            for column, value in enumerate(values):
                users.write_string(row, column, value)
        users.add_table(0, 0, len(bad.ROWS), len(bad.HEADERS) - 1, {"name": "Users"})
        users.data_validation(
            1, 3, 1000, 3, {"validate": "list", "source": ["GUARDIAN", "STUDENT"]}
        )
        users.write_comment(0, 0, "Email address the guardian signs in with")
        users.insert_image(0, 6, str(image))
        users.freeze_panes(1, 0)
        links = workbook.add_worksheet("Links")
        links.write_row(0, 0, ["LOGONID", "STUDENT_ID"])
        links.write_number(1, 1, 1180585)
        links.write_formula(2, 1, "=B2+1")
        workbook.define_name("Guardians", "=Users!$A$2:$A$1000")
    passes(path)


def test_limits_are_inclusive(tmp_path: Path) -> None:
    path = bad.users_workbook(tmp_path)
    with zipfile.ZipFile(path) as zf:
        unpacked = sum(info.file_size for info in zf.infolist())
    size = path.stat().st_size
    passes(path, max_file_bytes=size, max_unpacked_bytes=unpacked)
    assert "PORTAL_MAX_UNPACKED_MB" in refusal(path, max_unpacked_bytes=unpacked - 1)
    assert "PORTAL_MAX_FILE_MB" in refusal(path, max_file_bytes=size - 1)


def test_decrypted_copy_of_protected_workbook_passes(tmp_path: Path) -> None:
    """The encrypted file is a real one: with the password it opens to a good workbook."""
    protected = bad.password_protected(tmp_path, password="Spring2024")
    plain = tmp_path / "decrypted.xlsx"
    with protected.open("rb") as src, plain.open("wb") as out:
        office = OfficeFile(src)
        assert office.is_encrypted()
        office.load_key(password="Spring2024")
        office.decrypt(out)
    passes(plain)


# --- LibreOffice as an independent writer -----------------------------------------------------


@pytest.fixture(scope="module")
def libreoffice_copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same workbook saved by LibreOffice as .xlsx, .xls and .ods (skipped without it)."""
    folder = tmp_path_factory.mktemp("libreoffice")
    source = bad.users_workbook(folder, "roster.xlsx")
    formats = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "xls": "xls", "ods": "ods"}
    return {kind: convert(source, fmt, folder / "out") for kind, fmt in formats.items()}


def test_libreoffice_xlsx_passes(libreoffice_copies: dict[str, Path]) -> None:
    passes(libreoffice_copies["xlsx"])


def test_libreoffice_xls_is_named_old_format(libreoffice_copies: dict[str, Path]) -> None:
    assert "Excel 97-2003 (.xls)" in refusal(libreoffice_copies["xls"])


def test_libreoffice_ods_is_named(libreoffice_copies: dict[str, Path]) -> None:
    assert "OpenDocument spreadsheet (.ods)" in refusal(libreoffice_copies["ods"])


# --- the path itself --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    message = refusal(tmp_path / "nowhere.xlsx")
    assert "not found" in message
    assert "nowhere.xlsx" in message


def test_folder(tmp_path: Path) -> None:
    assert "is a folder" in refusal(tmp_path)


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.xlsx"
    path.write_bytes(b"\0" * (MB + 1))
    message = refusal(path, max_file_bytes=MB)
    assert "larger than the 1 MB limit" in message
    assert "PORTAL_MAX_FILE_MB" in message


def test_empty_file(tmp_path: Path) -> None:
    assert "empty (0 bytes)" in refusal(bad.empty_file(tmp_path))


# --- not a zip --------------------------------------------------------------------------------


def test_csv_renamed(tmp_path: Path) -> None:
    message = refusal(bad.csv_renamed(tmp_path))
    assert message.startswith("users.xlsx looks like a CSV or text file renamed to .xlsx")
    assert "Save As > Excel Workbook (.xlsx)" in message


def test_csv_under_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("LOGONID,FIRST_NAME\nana@example.org,Ana\n", "utf-8")
    message = refusal(path)
    assert "CSV" in message
    assert "renamed" not in message


def test_unicode_text_export(tmp_path: Path) -> None:
    """Excel's "Unicode Text" is UTF-16 with a byte order mark, full of zero bytes."""
    path = tmp_path / "users.xlsx"
    path.write_bytes("LOGONID\tFIRST_NAME\r\nana@example.org\tAna\r\n".encode("utf-16"))
    assert "CSV or text file" in refusal(path)


def test_web_page_renamed(tmp_path: Path) -> None:
    assert "web page" in refusal(bad.html_renamed(tmp_path))


def test_random_bytes(tmp_path: Path) -> None:
    assert "is not an Excel workbook" in refusal(bad.not_a_workbook(tmp_path))


# --- OLE compound files -----------------------------------------------------------------------


def test_password_protected(tmp_path: Path) -> None:
    message = refusal(bad.password_protected(tmp_path))
    assert "password" in message
    assert "File > Info > Protect Workbook" in message


def test_legacy_xls(tmp_path: Path) -> None:
    path = bad.legacy_xls_like(tmp_path)
    with olefile.OleFileIO(str(path)) as ole:
        assert ole.listdir() == [["Workbook"]]
        assert ole.openstream("Workbook").read(4) == b"\x09\x08\x10\x00"
    message = refusal(path)
    assert "old Excel 97-2003 (.xls) workbook" in message
    assert "Save As > Excel Workbook (.xlsx)" in message


def test_encryption_stream_names_inside_cell_text_do_not_count(tmp_path: Path) -> None:
    """Only directory entries mark encryption, not the same words inside a sheet's data."""
    text = "EncryptedPackage EncryptionInfo ".encode("utf-16-le") * 200
    path = tmp_path / "old.xls"
    path.write_bytes(bad.compound_file({"Workbook": text}))
    assert ".xls" in refusal(path)


# --- zips that are not workbooks --------------------------------------------------------------


def test_word_document(tmp_path: Path) -> None:
    message = refusal(bad.docx_like_zip(tmp_path))
    assert "is a Word document, not an Excel workbook" in message


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p/>"}, "PowerPoint"),
        ({"notes.txt": "hello"}, "is a zip archive, not an Excel workbook"),
        ({"[Content_Types].xml": "<Types/>", "xl/workbook.bin": b"\0"}, ".xlsb"),
        ({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<a/>"}, "OpenDoc"),
        ({"xl/workbook.xml": "<workbook/>"}, "not an Excel workbook"),
        ({}, "zip archive"),
    ],
)
def test_other_zips(tmp_path: Path, parts: dict[str, str | bytes], expected: str) -> None:
    assert expected in refusal(zip_of(tmp_path / "file.xlsx", parts))


# --- macros -----------------------------------------------------------------------------------


def test_macros(tmp_path: Path) -> None:
    message = refusal(bad.with_macros(tmp_path))
    assert "contains macros" in message
    assert "Excel Workbook (.xlsx)" in message


def _variant(
    tmp_path: Path,
    change: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """A good openpyxl workbook with some parts changed or added."""
    base = bad.users_workbook(tmp_path, "base.xlsx")
    return bad.rewrite_zip(base, tmp_path / "variant.xlsx", change=change, add=add)


def _macro_content_type(xml: bytes) -> bytes:
    return xml.replace(b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"add": {"xl/vbaProject.bin": bad.compound_file({"PROJECT": b"x"})}},
        {"add": {"xl/vbaProjectSignature.bin": b"\0"}},
        {"add": {"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"}},
        {"change": {"[Content_Types].xml": _macro_content_type}},
    ],
    ids=["vba part only", "signature part", "excel 4 macro sheet", "content type only"],
)
def test_each_sign_of_macros_is_enough(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    assert "contains macros" in refusal(_variant(tmp_path, **kwargs))


# --- zip bombs and lying archives -------------------------------------------------------------


def test_zip_bomb_over_unpacked_limit(tmp_path: Path) -> None:
    path = bad.zip_bomb(tmp_path, unpacked_mb=6)
    assert path.stat().st_size < 100_000
    message = refusal(path, max_unpacked_bytes=5 * MB)
    assert "more than 5 MB" in message
    assert "PORTAL_MAX_UNPACKED_MB" in message


def test_zip_bomb_by_compression_ratio(tmp_path: Path) -> None:
    message = refusal(bad.zip_bomb(tmp_path, unpacked_mb=12))
    assert "zip bomb" in message


@pytest.mark.parametrize("declared", [1000, 10_000_000], ids=["claims smaller", "claims larger"])
def test_index_that_lies_about_sizes(tmp_path: Path, declared: int) -> None:
    path = bad.lying_zip(tmp_path, declared_bytes=declared)
    assert "damaged or unsafe" in refusal(path)


def test_encrypted_zip_entry(tmp_path: Path) -> None:
    assert "encrypted parts" in refusal(bad.encrypted_zip_entry(tmp_path))


def test_too_many_parts(tmp_path: Path) -> None:
    message = refusal(bad.too_many_parts(tmp_path))
    assert f"{MAX_PARTS + 1} internal parts" in message


def _patch_end_record(path: Path, offset: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + offset : end + offset + len(value)] = value
    path.write_bytes(bytes(data))


def test_too_many_parts_behind_a_lying_part_count(tmp_path: Path) -> None:
    path = bad.too_many_parts(tmp_path)
    _patch_end_record(path, 8, struct.pack("<HH", 5, 5))
    assert f"{MAX_PARTS + 1} internal parts" in refusal(path)


def test_oversized_table_of_contents(tmp_path: Path) -> None:
    path = bad.users_workbook(tmp_path)
    _patch_end_record(path, 12, struct.pack("<I", 0x7FFFFFFF))
    assert "table of contents" in refusal(path)


def test_truncated_zip(tmp_path: Path) -> None:
    path = bad.users_workbook(tmp_path, rows=500)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "damaged" in refusal(path)


def test_corrupted_compressed_data(tmp_path: Path) -> None:
    path = bad.users_workbook(tmp_path, rows=500)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(bad.SHEET_PART)
    data = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(data))
    assert "damaged" in refusal(path)


def test_duplicate_part_names(tmp_path: Path) -> None:
    path = bad.users_workbook(tmp_path)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zf:
        warnings.simplefilter("ignore")
        zf.writestr(bad.SHEET_PART, b"<worksheet/>")
    assert "same part twice" in refusal(path)


def test_compression_method_excel_never_uses(tmp_path: Path) -> None:
    base = bad.users_workbook(tmp_path)
    path = tmp_path / "bzip2.xlsx"
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    assert "packed in a way Excel never uses" in refusal(path)


# --- XML document type declarations -----------------------------------------------------------

DTD_WORDS = "XML document type declaration"


@pytest.mark.parametrize(
    "part",
    [bad.WORKBOOK_PART, bad.SHEET_PART, "[Content_Types].xml", "_rels/.rels", "docProps/app.xml"],
)
def test_billion_laughs_in_any_part(tmp_path: Path, part: str) -> None:
    assert DTD_WORDS in refusal(bad.xml_bomb(tmp_path, part=part))


@pytest.mark.parametrize(
    "prologue",
    [
        b'<?xml version="1.0"?>\r\n<!-- written by hand --><!DOCTYPE x SYSTEM "http://x/">',
        b'  <?xml version="1.0"?><?other instruction?>\n<!ENTITY e "e">',
        b"\xef\xbb\xbf<!doctype x>",
        '\ufeff<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x>'.encode("utf-16-le"),
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x>'.encode("utf-16-be"),
    ],
    ids=["after comment", "entity", "lower case with BOM", "utf-16-le", "utf-16-be"],
)
def test_declaration_hidden_in_prologue(tmp_path: Path, prologue: bytes) -> None:
    path = _variant(tmp_path, change={bad.WORKBOOK_PART: lambda xml: prologue + b"<workbook/>"})
    assert DTD_WORDS in refusal(path)


def test_declaration_in_part_with_any_name(tmp_path: Path) -> None:
    payload = b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'a'>]><r>&a;</r>"
    path = _variant(tmp_path, add={"customXml/item1.dat": payload})
    assert DTD_WORDS in refusal(path)


def test_declaration_pushed_past_the_window(tmp_path: Path) -> None:
    padding = b"<!--" + b" " * 1_000_000 + b"-->"
    path = _variant(
        tmp_path, change={bad.WORKBOOK_PART: lambda xml: padding + b"<!DOCTYPE x>" + xml}
    )
    assert "damaged or unsafe" in refusal(path)


@pytest.mark.parametrize("cut", range(10))
def test_declaration_cut_by_the_window(tmp_path: Path, cut: int) -> None:
    """A declaration that starts just before the end of the inspected window is still caught."""
    padding = b"<!--" + b" " * (PROLOGUE_BYTES - 7 - cut) + b"-->"

    def hide(xml: bytes) -> bytes:
        return padding + b"<!DOCTYPE x [<!ENTITY a 'a'>]>" + xml

    path = _variant(tmp_path, change={bad.WORKBOOK_PART: hide})
    message = refusal(path)
    assert DTD_WORDS in message or "unusually long XML header" in message


def test_svg_image_with_doctype_passes(tmp_path: Path) -> None:
    """Drawing programs put a DOCTYPE in SVG files; images are never parsed as workbook XML."""
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg/>'
    )
    passes(_variant(tmp_path, add={"xl/media/image1.svg": svg}))


def test_words_in_cell_text_are_not_a_declaration(tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet()
        sheet.write_string(0, 0, "<!DOCTYPE html> <!ENTITY x> pasted from a web page")
        sheet.write_string(1, 0, "x" * 5000 + "<!DOCTYPE")
    passes(path)


def test_content_types_parser_refuses_declarations() -> None:
    """Second line of defence: the content-type list parser refuses document type declarations."""
    with pytest.raises(InputError, match=DTD_WORDS):
        _check_content_types("book.xlsx", b'<!DOCTYPE t [<!ENTITY a "a">]><Types>&a;</Types>')


@pytest.mark.parametrize("data", [b"", b"<Types>", b"not xml"])
def test_unreadable_content_types(tmp_path: Path, data: bytes) -> None:
    path = _variant(tmp_path, change={"[Content_Types].xml": lambda xml: data})
    assert "damaged" in refusal(path)


# --- whatever the damage, the answer is a message ---------------------------------------------


@pytest.fixture(scope="module")
def small_workbook(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return bad.users_workbook(tmp_path_factory.mktemp("fuzz")).read_bytes()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_bytes_give_a_message_or_pass(
    data: st.DataObject, small_workbook: bytes, tmp_path: Path
) -> None:
    content = bytearray(small_workbook)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(content) - 1))
        content[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(content)))
    path = tmp_path / "fuzzed.xlsx"
    path.write_bytes(bytes(content[:cut]))
    try:
        check_workbook_file(path, **LIMITS)
    except InputError as e:
        assert str(e).startswith("fuzzed.xlsx ")
