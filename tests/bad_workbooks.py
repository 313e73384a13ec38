"""Real files staff might upload instead of a usable workbook, written on demand into a folder.

Each function writes one file into ``folder`` and returns its path, so the file checks, the
import engine and the CLI can all be driven with the same bad inputs. ``empty_sheet`` and
``headers_only`` are valid workbooks that pass the file checks (the importer rejects them later).
"""

import random
import re
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import openpyxl
from msoffcrypto.format.ooxml import OOXMLFile

from addin.files.checks import MAX_PARTS

HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"]
ROWS = [
    ["ana.garcia@example.org", "Ana", "García", "GUARDIAN"],
    ["li.wei@example.org", "Li", "Wei", "GUARDIAN"],
    ["1180585", "Sam", "O'Neil", "STUDENT"],
]
SHEET_PART = "xl/worksheets/sheet1.xml"
WORKBOOK_PART = "xl/workbook.xml"


# --- valid workbooks --------------------------------------------------------------------------


def users_workbook(folder: Path, name: str = "users.xlsx", rows: int = len(ROWS)) -> Path:
    """A plain openpyxl workbook with the user-import headers and ``rows`` data rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Users"
    ws.append(HEADERS)
    for i in range(rows):
        ws.append(ROWS[i % len(ROWS)])
    path = folder / name
    wb.save(path)
    return path


def headers_only(folder: Path) -> Path:
    """Valid workbook with the header row and no data rows."""
    return users_workbook(folder, "headers_only.xlsx", rows=0)


def empty_sheet(folder: Path) -> Path:
    """Valid workbook whose only sheet has no cells at all."""
    wb = openpyxl.Workbook()
    wb.active.title = "Users"
    path = folder / "empty_sheet.xlsx"
    wb.save(path)
    return path


# --- not a zip --------------------------------------------------------------------------------


def empty_file(folder: Path) -> Path:
    path = folder / "empty.xlsx"
    path.write_bytes(b"")
    return path


def csv_renamed(folder: Path) -> Path:
    """A CSV as Excel's "CSV UTF-8" writes it (with a byte order mark), renamed to .xlsx."""
    lines = [",".join(HEADERS), *(",".join(row) for row in ROWS)]
    path = folder / "users.xlsx"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    return path


def html_renamed(folder: Path) -> Path:
    """A web-page table saved under a spreadsheet name, as some report exports do."""
    cells = "".join(f"<td>{h}</td>" for h in HEADERS)
    path = folder / "users.xlsx"
    path.write_text(f"<html><body><table><tr>{cells}</tr></table></body></html>\n", "utf-8")
    return path


def not_a_workbook(folder: Path) -> Path:
    """Random binary bytes with a workbook name."""
    data = b"\0" + random.Random(20240901).randbytes(8191)
    path = folder / "users.xlsx"
    path.write_bytes(data)
    return path


# --- OLE compound files -----------------------------------------------------------------------

_FREE, _END, _FAT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR = 512


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A version-3 OLE compound file with the given streams in its root storage.

    Streams are padded to 4096 bytes so none needs the mini stream; siblings form a chain in the
    (length, upper-case name) order readers expect.
    """
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    data = [streams[n].ljust(4096, b"\0") for n in names]
    entries = 1 + len(names)
    dir_sectors = -(-entries // 4)
    data_sectors = [-(-len(d) // _SECTOR) for d in data]
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + sum(data_sectors):
        fat_sectors += 1

    fat = [_FAT] * fat_sectors
    first_dir = len(fat)
    fat += [*range(first_dir + 1, first_dir + dir_sectors), _END]
    starts = []
    for count in data_sectors:
        start = len(fat)
        starts.append(start)
        fat += [*range(start + 1, start + count), _END]
    fat += [_FREE] * (fat_sectors * 128 - len(fat))

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0" if name else b""
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded),
            kind,
            1,
            _NOSTREAM,
            right,
            child,
            b"",
            0,
            0,
            0,
            start,
            size,
        )

    directory = entry("Root Entry", 5, _NOSTREAM, 1 if names else _NOSTREAM, _END, 0)
    for i, (start, payload) in enumerate(zip(starts, data, strict=True)):
        right = i + 2 if i + 1 < len(names) else _NOSTREAM
        directory += entry(names[i], 2, right, _NOSTREAM, start, len(payload))
    directory += entry("", 0, _NOSTREAM, _NOSTREAM, 0, 0) * (dir_sectors * 4 - entries)

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"",
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"",
        0,
        fat_sectors,
        first_dir,
        0,
        4096,
        _END,
        0,
        _END,
        0,
    )
    difat = [*range(fat_sectors), *[_FREE] * (109 - fat_sectors)]
    header += struct.pack("<109I", *difat)
    body = struct.pack(f"<{len(fat)}I", *fat) + directory
    body += b"".join(d.ljust(n * _SECTOR, b"\0") for d, n in zip(data, data_sectors, strict=True))
    return header + body


def legacy_xls_like(folder: Path) -> Path:
    """An Excel 97-2003 file: a compound file whose Workbook stream holds BIFF8 BOF and EOF."""
    bof = struct.pack("<HHHHHHII", 0x0809, 16, 0x0600, 0x0005, 0x0DBB, 0x07CC, 0x41, 0x06)
    eof = struct.pack("<HH", 0x000A, 0)
    path = folder / "users.xls"
    path.write_bytes(compound_file({"Workbook": bof + eof}))
    return path


def password_protected(folder: Path, password: str = "Spring2024") -> Path:
    """A real workbook encrypted with a password the way Excel does it (agile encryption)."""
    plain = users_workbook(folder, "plain_for_encryption.xlsx")
    path = folder / "protected.xlsx"
    with plain.open("rb") as src, path.open("wb") as out:
        OOXMLFile(src).encrypt(password, out)
    plain.unlink()
    return path


# --- zips that are not workbooks or are unsafe ------------------------------------------------


def docx_like_zip(folder: Path) -> Path:
    """The parts of a minimal Word document."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>Guardian list</w:t></w:r></w:p></w:body></w:document>"
        ),
    }
    path = folder / "letter.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, text in parts.items():
            zf.writestr(part, text)
    return path


def rewrite_zip(
    src: Path,
    dst: Path,
    change: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a zip part by part, passing chosen parts through a function and adding new ones."""
    change = change or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename in change:
                data = change[info.filename](data)
            zout.writestr(info.filename, data)
        for part, data in (add or {}).items():
            zout.writestr(part, data)
    return dst


def _insert_after_declaration(xml: bytes, text: bytes) -> bytes:
    """Put ``text`` after the XML declaration (or first, if there is none)."""
    if xml.startswith(b"<?xml"):
        end = xml.index(b"?>") + 2
        return xml[:end] + text + xml[end:]
    return text + xml


def with_macros(folder: Path) -> Path:
    """A workbook turned macro-enabled as Excel does: a VBA project part and its content types."""
    base = users_workbook(folder, "base_for_macros.xlsx")
    vba = compound_file({"PROJECT": b'ID="{00000000-0000-0000-0000-000000000000}"\r\n'})

    def content_types(xml: bytes) -> bytes:
        xml = xml.replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        )
        return xml.replace(
            b"</Types>",
            b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            b"</Types>",
        )

    def rels(xml: bytes) -> bytes:
        return xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/'
            b'relationships/vbaProject" Target="vbaProject.bin"/></Relationships>',
        )

    path = rewrite_zip(
        base,
        folder / "with_macros.xlsx",
        change={"[Content_Types].xml": content_types, "xl/_rels/workbook.xml.rels": rels},
        add={"xl/vbaProject.bin": vba},
    )
    base.unlink()
    return path


def zip_bomb(folder: Path, unpacked_mb: int = 6) -> Path:
    """A workbook whose sheet is valid XML padded with ``unpacked_mb`` MB of blanks.

    The file stays tiny (blanks compress about 1000:1); run the check with a small unpacked
    limit (e.g. ``PORTAL_MAX_UNPACKED_MB=5``) to see it refused for its size, or make it larger
    than 10 MB to see it refused for its compression ratio.
    """
    base = users_workbook(folder, "base_for_bomb.xlsx")
    path = folder / "bomb.xlsx"
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != SHEET_PART:
                zout.writestr(info.filename, zin.read(info))
                continue
            sheet = zin.read(info)
            head, tail = sheet.split(b"</sheetData>")
            blanks = b" " * (1 << 20)
            with zout.open(SHEET_PART, "w", force_zip64=True) as part:
                part.write(head)
                for _ in range(unpacked_mb):
                    part.write(blanks)
                part.write(b"</sheetData>" + tail)
    base.unlink()
    return path


def _patch_entry(path: Path, part: str, local: dict[int, bytes], central: dict[int, bytes]) -> None:
    """Overwrite bytes at given offsets of one entry's local header and central-directory entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(part)
        start_dir = zf.start_dir
    for offset, value in local.items():
        at = info.header_offset + offset
        data[at : at + len(value)] = value
    at = start_dir
    while data[at : at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + name_len].decode() == part:
            for offset, value in central.items():
                data[at + offset : at + offset + len(value)] = value
            break
        at += 46 + name_len + extra_len + comment_len
    else:
        raise ValueError(f"{part} not found in the central directory of {path}")
    path.write_bytes(bytes(data))


def lying_zip(folder: Path, declared_bytes: int = 1000) -> Path:
    """A workbook whose index claims the sheet unpacks to ``declared_bytes``; it really is larger.

    The CRC is left as it was, so a reader that trusts the index reads a truncated sheet that
    does not match it. Pass a ``declared_bytes`` larger than the real size for the opposite lie.
    """
    path = users_workbook(folder, "lying.xlsx", rows=2000)
    size = struct.pack("<I", declared_bytes)
    _patch_entry(path, SHEET_PART, local={22: size}, central={24: size})
    return path


def encrypted_zip_entry(folder: Path) -> Path:
    """A workbook whose sheet entry carries the zip "encrypted" flag, which Excel never writes."""
    path = users_workbook(folder, "zip_encrypted.xlsx")
    with zipfile.ZipFile(path) as zf:
        flags = zf.getinfo(SHEET_PART).flag_bits | 0x1
    _patch_entry(
        path, SHEET_PART, local={6: struct.pack("<H", flags)}, central={8: struct.pack("<H", flags)}
    )
    return path


def too_many_parts(folder: Path, parts: int = MAX_PARTS + 1) -> Path:
    """A valid workbook padded with tiny extra parts until it has ``parts`` entries."""
    base = users_workbook(folder, "base_for_parts.xlsx")
    with zipfile.ZipFile(base) as zf:
        existing = len(zf.infolist())
    extra = {f"customXml/item{i}.xml": b"<a/>" for i in range(parts - existing)}
    path = rewrite_zip(base, folder / "many_parts.xlsx", add=extra)
    base.unlink()
    return path


def _billion_laughs() -> bytes:
    """Nine levels of ten references each: a billion "lol"s if a parser expands them."""
    entities = ['<!ENTITY lol "lol">']
    for level in range(1, 10):
        previous = f"lol{level - 1}" if level > 1 else "lol"
        entities.append(f'<!ENTITY lol{level} "{f"&{previous};" * 10}">')
    return f"<!DOCTYPE lolz [{''.join(entities)}]>".encode()


def xml_bomb(folder: Path, part: str = WORKBOOK_PART) -> Path:
    """A workbook whose ``part`` declares billion-laughs entities and names its sheet with one."""
    base = users_workbook(folder, "base_for_xml_bomb.xlsx")

    def bomb(xml: bytes) -> bytes:
        return _insert_after_declaration(xml, _billion_laughs()).replace(
            b'name="Users"', b'name="&lol9;"'
        )

    path = rewrite_zip(base, folder / "xml_bomb.xlsx", change={part: bomb})
    base.unlink()
    return path


# --- valid zips whose sheets attack the reader ------------------------------------------------


def _sheet_rewrite(folder: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    base = users_workbook(folder, f"base_for_{name}")
    path = rewrite_zip(base, folder / name, change={SHEET_PART: change})
    base.unlink()
    return path


def far_cell(folder: Path, ref: str = "XFD1048576", name: str = "far_cell.xlsx") -> Path:
    """The users workbook plus one stray cell at ``ref`` (its ``<dimension>`` still says A1:D4)."""
    row = "".join(ch for ch in ref if ch.isdigit())

    def add(xml: bytes) -> bytes:
        cell = f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>x</t></is></c></row>'
        return xml.replace(b"</sheetData>", cell.encode() + b"</sheetData>")

    return _sheet_rewrite(folder, name, add)


def claimed_dimension(folder: Path, ref: str = "A1:A99999999") -> Path:
    """A sheet whose ``<dimension>`` claims a range past Excel's limits."""

    def claim(xml: bytes) -> bytes:
        return re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), xml)

    return _sheet_rewrite(folder, "claimed_dimension.xlsx", claim)


def nul_byte(folder: Path, part: str = SHEET_PART) -> Path:
    """A raw NUL byte inside a name: the part is no longer well-formed XML."""
    base = users_workbook(folder, "base_for_nul.xlsx")
    change = {part: lambda xml: xml.replace(b"Ana", b"A\x00na").replace(b"Users", b"Us\x00ers")}
    path = rewrite_zip(base, folder / "nul_byte.xlsx", change=change)
    base.unlink()
    return path


def broken_tag(folder: Path) -> Path:
    """A row closed by the wrong end tag."""
    return _sheet_rewrite(
        folder, "broken_tag.xlsx", lambda xml: xml.replace(b"</row>", b"</rox>", 1)
    )


def hidden_users_sheet(folder: Path, state: str = "hidden") -> Path:
    """A workbook whose 'Users' sheet is hidden (or veryHidden) behind a visible one."""
    wb = openpyxl.Workbook()
    shown = wb.active
    shown.title = "Checked"
    shown.append(HEADERS)
    shown.append(["checked@example.org", "Shown", "Row", "GUARDIAN"])
    users = wb.create_sheet("Users")
    users.append(HEADERS)
    users.append(["hidden@example.org", "Hidden", "Row", "GUARDIAN"])
    users.sheet_state = state
    path = folder / f"{state}_users.xlsx"
    wb.save(path)
    return path


def shared_string_bomb(folder: Path, cells: int = 1000, text_mb: float = 9.5) -> Path:
    """A small file of ``cells`` cells (four a row) that all but the header point to shared
    strings, the LOGONIDs to one of ``text_mb`` million characters: tiny packed, billions of
    characters once expanded."""
    long_text = b"a" * int(text_mb * 1_000_000)
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>1</v></c><c r="B{r}" t="s"><v>0</v></c>'
        f'<c r="C{r}" t="s"><v>0</v></c><c r="D{r}" t="s"><v>2</v></c></row>'
        for r in range(2, cells // 4 + 2)
    )
    header = "".join(
        f'<c r="{col}1" t="inlineStr"><is><t>{h}</t></is></c>'
        for col, h in zip("ABCD", HEADERS, strict=True)
    )
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData><row r="1">{header}</row>{rows}</sheetData></worksheet>'
    ).encode()
    strings = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<si><t>Name</t></si><si><t>" + long_text + b"</t></si><si><t>GUARDIAN</t></si></sst>"
    )
    base = users_workbook(folder, "base_for_sst.xlsx")

    def rels(xml: bytes) -> bytes:
        return xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )

    def types(xml: bytes) -> bytes:
        return xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )

    path = rewrite_zip(
        base,
        folder / "shared_string_bomb.xlsx",
        change={
            SHEET_PART: lambda _: sheet,
            "xl/_rels/workbook.xml.rels": rels,
            "[Content_Types].xml": types,
        },
        add={"xl/sharedStrings.xml": strings},
    )
    base.unlink()
    return path


# --- the hostile corpus: every builder, by family -----------------------------------------------

Builder = Callable[[Path], Path]
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ALL_PARTS = [
    "[Content_Types].xml",
    "_rels/.rels",
    "xl/_rels/workbook.xml.rels",
    WORKBOOK_PART,
    SHEET_PART,
    "xl/styles.xml",
    "docProps/core.xml",
]


def changed(part: str, change: Callable[[bytes], bytes], name: str) -> Builder:
    """A builder of the users workbook with ``part`` passed through ``change``."""

    def build(folder: Path) -> Path:
        base = users_workbook(folder, f"base_for_{name}")
        path = rewrite_zip(base, folder / name, change={part: change})
        base.unlink()
        return path

    return build


def zipped(name: str, parts: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Builder:
    """A builder of a zip holding the users workbook's parts as ``parts`` rewrites them (to add,
    drop, rename or duplicate parts), written entry by entry as given."""

    def build(folder: Path) -> Path:
        base = users_workbook(folder, f"base_for_{name}")
        with zipfile.ZipFile(base) as zf:
            original = {info.filename: zf.read(info) for info in zf.infolist()}
        base.unlink()
        path = folder / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of a repeated name: the point here
            for part, data in parts(original).items():
                zf.writestr(part.split("\x00dup")[0], data)
        return path

    return build


def truncated(folder: Path, keep: float = 0.6) -> Path:
    """A workbook cut short, as an interrupted download leaves it."""
    path = users_workbook(folder, "truncated.xlsx", rows=200)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def with_cells(name: str, rows: list[list[Any]], sheet: str = "Users") -> Builder:
    """A builder of a one-sheet workbook (see ``with_sheets``)."""
    return with_sheets(name, {sheet: rows})


def with_sheets(name: str, sheets: dict[str, list[list[Any]]]) -> Builder:
    """A builder of a workbook whose rows are written as given: a string starting with ``=``
    becomes a formula (its cached value the text after it), anything else a value."""

    def build(folder: Path) -> Path:
        import xlsxwriter

        path = folder / name
        with xlsxwriter.Workbook(path, {"strings_to_numbers": False}) as book:
            for title, rows in sheets.items():
                ws = book.add_worksheet(title)
                for r, row in enumerate(rows):
                    for c, value in enumerate(row):
                        if isinstance(value, str) and value.startswith("="):
                            ws.write_formula(r, c, value, None, value[1:])
                        elif isinstance(value, str):
                            ws.write_string(r, c, value)
                        else:
                            ws.write(r, c, value)
        return path

    return build


def users_rows(*logons: Any) -> list[list[Any]]:
    """The users headers and one guardian row per logon."""
    return [HEADERS, *([logon, "Ann", "Lee", "GUARDIAN"] for logon in logons)]


def external_entity(folder: Path) -> Path:
    """XXE: the sheet declares an entity read from a local file and uses it in a cell."""
    doctype = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'

    def change(xml: bytes) -> bytes:
        return _insert_after_declaration(xml, doctype).replace(b"Ana", b"&xxe;", 1)

    return changed(SHEET_PART, change, "xxe.xlsx")(folder)


def nested_zip(folder: Path) -> Path:
    """A zip holding the workbook, renamed .xlsx, as a mail gateway might wrap it."""
    inner = users_workbook(folder, "inner.xlsx")
    path = folder / "nested.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(inner, "users.xlsx")
    inner.unlink()
    return path


def refused_workbooks() -> dict[str, tuple[Builder, str]]:
    """Workbooks no import may read: each builder and a piece of the one line it gets."""
    corpus: dict[str, tuple[Builder, str]] = {
        "empty file": (empty_file, "is empty"),
        "CSV renamed": (csv_renamed, "CSV"),
        "web page renamed": (html_renamed, "web page"),
        "random bytes": (not_a_workbook, "not an Excel workbook"),
        "Excel 97 file": (legacy_xls_like, ".xls"),
        "password protected": (password_protected, "password"),
        "Word document": (docx_like_zip, "Word document"),
        "macros": (with_macros, "macros"),
        "zip bomb": (lambda f: zip_bomb(f, 12), "zip bomb"),
        "index lies about a size": (lying_zip, "damaged"),
        "encrypted zip entry": (encrypted_zip_entry, "encrypt"),
        "too many parts": (too_many_parts, "parts"),
        "truncated download": (truncated, "damaged"),
        "workbook inside a zip": (nested_zip, "zip archive"),
        "external entity": (external_entity, "document type declaration"),
        "hidden Users sheet": (hidden_users_sheet, "is hidden"),
        "very hidden Users sheet": (lambda f: hidden_users_sheet(f, "veryHidden"), "is hidden"),
        "shared-string amplification": (shared_string_bomb, "million characters"),
        "dimension past the limits": (claimed_dimension, "claims to reach"),
        "broken tag": (broken_tag, "not well-formed"),
        "no workbook part": (
            zipped(
                "no_workbook.xlsx", lambda p: {k: v for k, v in p.items() if k != WORKBOOK_PART}
            ),
            "not an Excel workbook",
        ),
        "no sheet part": (
            zipped("no_sheet.xlsx", lambda p: {k: v for k, v in p.items() if k != SHEET_PART}),
            "could not be read",
        ),
        "duplicate sheet part": (
            zipped("duplicate.xlsx", lambda p: {**p, SHEET_PART + "\x00dup": b"<a/>"}),
            "damaged",
        ),
        "sheet is not XML": (changed(SHEET_PART, lambda _: b"\x89PNG\r\n", "png.xlsx"), ""),
        "sheet in UTF-16 with a DTD": (
            changed(
                SHEET_PART,
                lambda x: (
                    _insert_after_declaration(x, _billion_laughs())
                    .replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
                    .decode()
                    .encode("utf-16")
                ),
                "utf16.xlsx",
            ),
            "document type declaration",
        ),
        "invalid UTF-8 in the sheet": (
            changed(SHEET_PART, lambda x: x.replace(b"Ana", b"A\xff\xfena"), "bad_utf8.xlsx"),
            "not well-formed",
        ),
        "unclosed sheet": (
            changed(SHEET_PART, lambda x: x[: x.index(b"</sheetData>")], "unclosed.xlsx"),
            "not well-formed",
        ),
    }
    for ref in ("XFD1048576", "A99999999", "XFE2", "A1048577", "ZZZZZZZ1"):
        corpus[f"cell at {ref}"] = (
            lambda f, ref=ref: far_cell(f, ref),
            "reaches as far as" if ref == "XFD1048576" else "beyond Excel's last row",
        )
    for part in ALL_PARTS:
        corpus[f"NUL byte in {part}"] = (nul_in(part), "not well-formed")
    for part in (WORKBOOK_PART, SHEET_PART, "xl/styles.xml", "[Content_Types].xml"):
        corpus[f"entity bomb in {part}"] = (
            lambda f, part=part: xml_bomb(f, part),
            "document type declaration",
        )
    return corpus


def nul_in(part: str) -> Builder:
    """A builder of the users workbook with a raw NUL byte in the last tag of ``part``."""

    def change(xml: bytes) -> bytes:
        end = xml.rindex(b">")
        return xml[:end] + b"\x00" + xml[end:]

    return changed(part, change, f"nul_{PurePosixPath(part).stem.strip('[]')}.xlsx")


FORMULA_TEXT = ["=1+2@school.org", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", '=HYPERLINK("x")']


def accepted_workbooks() -> dict[str, tuple[Builder, str]]:
    """Workbooks that are read whatever they hold, and the import each is for: each row a value
    built to trip a reader or the log written back (formulas, markup, control characters, huge
    text, odd types)."""
    long_text = "a" * 32_000 + "@example.org"
    users: dict[str, Builder] = {
        "formulas and formula-like text": with_cells(
            "formulas.xlsx", users_rows(*FORMULA_TEXT, '="ann"&"@example.org"')
        ),
        "console markup": with_cells(
            "markup.xlsx", users_rows("[bold]ann@example.org", "[/]", "[link=x]b@example.org")
        ),
        "control characters": with_cells(
            "controls.xlsx", users_rows("a\x01b@example.org", "tab\there@example.org", "\x1b[31m")
        ),
        "bidi and invisible characters": with_cells(
            "bidi.xlsx",
            users_rows("\u202egro.elpmaxe@nna", "a\u200bb@example.org", "\ufeffc@x.org"),
        ),
        "32,000 characters in a cell": with_cells("long.xlsx", users_rows(long_text)),
        "numbers, booleans, errors": with_cells(
            "types.xlsx", users_rows(1e308, True, -0.0, 12345678901234567890)
        ),
        "example row outside a template": with_cells(
            "example.xlsx", users_rows("Example: jane@example.org", "ann@example.org")
        ),
        "only headers in odd capitals": with_cells(
            "capitals.xlsx",
            [[h.lower() for h in HEADERS], ["ann@example.org", "A", "L", "guardian"]],
        ),
        "a stray cell within reach": lambda f: far_cell(f, "A20000"),
        "a part named outside the package": zipped(  # never extracted, so never written there
            "traversal.xlsx", lambda p: {**p, "../../evil.xml": b"<a/>"}
        ),
        "empty rows between rows": with_cells(
            "gaps.xlsx", [HEADERS, [], [], ["ann@example.org", "Ann", "Lee", "GUARDIAN"]]
        ),
        "comment and CDATA in the sheet": changed(
            SHEET_PART,
            lambda x: x.replace(b"<sheetData>", b'<!-- <c r="XFD9"/> --><sheetData>', 1).replace(
                b"<t>Ana</t>", b"<t><![CDATA[A<n>a]]></t>", 1
            ),
            "comment.xlsx",
        ),
        "namespace-prefixed cells": changed(
            SHEET_PART,
            lambda x: (
                x.replace(b"<worksheet ", f'<worksheet xmlns:x="{NS}" '.encode(), 1)
                .replace(b"<c ", b"<x:c ")
                .replace(b"</c>", b"</x:c>")
            ),
            "prefixed.xlsx",
        ),
    }
    corpus = {name: (build, "users") for name, build in users.items()}
    corpus["links with formulas and markup"] = (
        with_cells(
            "links.xlsx",
            [
                ["LOGONID", "STUDENT_ID", "RELATIONSHIP"],
                ["=1+2@school.org", "[bold]001", "Mother"],
                ["+cmd|' /C calc'!A0", "=00123", "[/]"],
            ],
            "Links",
        ),
        "links",
    )
    corpus["roster with formulas and markup"] = (
        with_sheets(
            "roster.xlsx",
            {
                "Students": [
                    ["STUDENT_ID", "FIRST_NAME", "LAST_NAME"],
                    ["001", '=HYPERLINK("x")', "[red]Lee"],
                ],
                "Contacts": [
                    ["STUDENT_ID", "CONTACT_ID", "FIRST_NAME", "LAST_NAME", "EMAIL"],
                    ["001", "c1", "@SUM(A1)", "Lee\x01", "=1+2@school.org"],
                ],
            },
        ),
        "roster",
    )
    return corpus


# --- OneRoster bundles ---------------------------------------------------------------------------

ORGS = (
    "sourcedId,status,dateLastModified,name,type,identifier\r\n"
    "sch1,active,,North High,school,100\r\n"
)
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,"
    "familyName,identifier,email,agentSourcedIds,grades\r\n"
)


def bundle_files(guardian: str = "Pat", email: str = "pat@example.org") -> dict[str, bytes]:
    """A small OneRoster 1.1 bundle: one school, a student and a guardian of theirs."""
    users = (
        USERS_HEADER
        + "s1,active,,true,sch1,student,s1,Ann,Lee,00123,,p1,03\r\n"
        + f"p1,active,,true,sch1,guardian,p1,{guardian},Lee,P-1,{email},s1,\r\n"
    )
    return {
        "manifest.csv": b"propertyName,value\r\noneroster.version,1.1\r\n",
        "orgs.csv": ORGS.encode(),
        "users.csv": users.encode("utf-8"),
    }


def bundle(name: str, files: dict[str, bytes], form: str = "zip") -> Builder:
    """A builder of a bundle as a zip or a folder."""

    def build(folder: Path) -> Path:
        path = folder / name
        if form == "zip":
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for part, data in files.items():
                    zf.writestr(part, data)
            return path
        for part, data in files.items():
            (path / part).parent.mkdir(parents=True, exist_ok=True)
            (path / part).write_bytes(data)
        return path

    return build


def refused_bundles() -> dict[str, tuple[Builder, str]]:
    """OneRoster bundles the roster import refuses, and a piece of the one line each gets."""
    files = bundle_files()
    users = files["users.csv"]
    corpus: dict[str, tuple[Builder, str]] = {
        "empty zip": (bundle("empty.zip", {}), "users.csv"),
        "no users.csv": (bundle("no_users.zip", {"orgs.csv": files["orgs.csv"]}), "users.csv"),
        "not a zip": (lambda f: _write(f / "bundle.zip", b"PK\x03\x04 nothing"), ""),
        "users.csv is binary": (
            bundle("binary.zip", {**files, "users.csv": random.Random(7).randbytes(4096)}),
            "users.csv",
        ),
        "NUL bytes in users.csv": (
            bundle("nul.zip", {**files, "users.csv": users.replace(b"Pat", b"P\x00at")}),
            "users.csv",
        ),
        "Latin-1 users.csv": (
            bundle("latin1.zip", {**files, "users.csv": users.replace(b"Pat", b"P\xe4t")}),
            "users.csv",
        ),
        "two users.csv": (bundle("two.zip", {**files, "old/users.csv": users}), "more than one"),
        "10,001 files": (
            bundle("many.zip", {**files, **{f"x/{i}.csv": b"" for i in range(10_001)}}),
            "files",
        ),
        "headers missing": (
            bundle("headers.zip", {**files, "users.csv": b"a,b,c\r\n1,2,3\r\n"}),
            "users.csv",
        ),
    }
    return corpus


def accepted_bundles() -> dict[str, Builder]:
    """Bundles read whatever their names hold: formulas, markup, control characters."""
    return {
        "formula as a name": bundle("formula.zip", bundle_files('=HYPERLINK(""x"")')),
        "markup as a name": bundle("markup.zip", bundle_files("[bold]Pat[/]")),
        "quoted line break in a name": bundle("newline.zip", bundle_files('"Pat\r\nBcc: x"')),
        "folder bundle with a BOM": bundle(
            "folder",
            {**bundle_files(), "users.csv": b"\xef\xbb\xbf" + bundle_files()["users.csv"]},
            form="folder",
        ),
        "1,000-character name": bundle("long.zip", bundle_files("P" * 1000)),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
