"""Numbers that Excel shows zero-padded, as the text Excel shows.

Office staff often keep student IDs as numbers formatted ``00000``, so Excel shows ``00123`` while
the file stores ``123``. python-calamine returns such a cell as the float ``123.0`` and ignores
number formats, which would lose the leading zeros that make the ID. This module reads the cell
styles and number formats itself and gives back the text Excel shows for those cells only.

The sheet XML is scanned with regular expressions over its bytes (no DTD or entity is ever
processed), looking only at cells whose style pads with zeros. When a wanted cell has no ``r``
address, or the default style itself pads, a full streaming parse (``defusedxml``, DTDs
forbidden) counts cell positions the way calamine does.
"""

import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring, iterparse

__all__ = ["zero_padded_cells"]

_OFFICE_DOCUMENT = "/officeDocument"
_STYLES = "/styles"
_WORKBOOK_FALLBACK = "xl/workbook.xml"
_STYLES_FALLBACK = "xl/styles.xml"

MAX_EXACT = 10**15
"""Excel keeps 15 significant digits: larger integers are not shown as stored."""

CHUNK_BYTES = 4 << 20
"""Sheet XML is scanned in pieces of about this size, cut after a whole row."""

_COLORS = frozenset(("black", "blue", "cyan", "green", "magenta", "red", "white", "yellow"))
# Characters Excel shows as themselves without quotes; "/" is left out (it makes fractions).
_BARE_LITERALS = frozenset("$-+():!^&'~{}<>= ")
_CONDITION = re.compile(r"(<=|>=|<>|<|>|=)\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*")
_COLOR_NUMBER = re.compile(r"color\d{1,2}", re.IGNORECASE)
_ADDRESS = re.compile(r"([A-Z]{1,3})([1-9]\d{0,6})")
_GENERAL = "general"

Condition = tuple[str, float]

_TESTS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda v, n: v < n,
    ">": lambda v, n: v > n,
    "=": lambda v, n: v == n,
    "<=": lambda v, n: v <= n,
    ">=": lambda v, n: v >= n,
    "<>": lambda v, n: v != n,
}


@dataclass(frozen=True)
class _Pattern:
    """An integer shown as ``prefix`` + digits padded to ``width`` + ``suffix``."""

    prefix: str
    width: int
    suffix: str

    def render(self, value: int) -> str:
        return f"{self.prefix}{value:0{self.width}d}{self.suffix}"


@dataclass(frozen=True)
class _Section:
    """One ``;``-separated part of a format code; ``pattern`` is None when we cannot show it."""

    condition: Condition | None
    pattern: _Pattern | None


@dataclass(frozen=True)
class PaddingFormat:
    """A number format with at least one section that pads integers with zeros."""

    sections: tuple[_Section, ...]

    def text(self, value: float) -> str | None:
        """What Excel shows for ``value``, or None where it is not a padded integer we know."""
        if not (0 <= value < MAX_EXACT) or not value.is_integer():
            return None
        section = self._section_for(value)
        if section is None or section.pattern is None:
            return None
        return section.pattern.render(int(value))

    def _section_for(self, value: float) -> _Section | None:
        """Excel's choice of section for a value that is not negative."""
        sections = self.sections
        first = sections[0].condition
        second = sections[1].condition if len(sections) > 1 else None
        if first is None and second is None:
            if value == 0 and len(sections) >= 3:
                return sections[2]
            return sections[0]
        if first is None:
            return None  # a condition only on the second section: left to Excel
        if _holds(first, value):
            return sections[0]
        if len(sections) == 1:
            return None
        if second is None or _holds(second, value):
            return sections[1]
        return sections[2] if len(sections) >= 3 else None


def _holds(condition: Condition, value: float) -> bool:
    operator, number = condition
    return _TESTS[operator](value, number)


def _split_sections(code: str) -> list[str]:
    """The format's sections, split at ``;`` outside quotes, escapes and brackets."""
    sections: list[str] = []
    start = i = 0
    while i < len(code):
        ch = code[i]
        if ch == '"':
            end = code.find('"', i + 1)
            i = len(code) if end < 0 else end + 1
            continue
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            end = code.find("]", i + 1)
            i = len(code) if end < 0 else end + 1
            continue
        if ch == ";":
            sections.append(code[start:i])
            start = i + 1
        i += 1
    sections.append(code[start:])
    return sections


def _parse_section(text: str) -> _Section:
    """Condition and pattern of one section; the pattern is None for anything beyond
    literal text around one run of digit placeholders (``#`` then ``0``)."""
    condition: Condition | None = None
    prefix: list[str] = []
    suffix: list[str] = []
    zeros = 0
    digits_seen = False
    supported = bool(text)
    i = 0
    while i < len(text):
        ch = text[i]
        literal: str | None = None
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return _Section(condition, None)
            literal, i = text[i + 1 : end], end + 1
        elif ch == "\\":
            if i + 1 >= len(text):
                return _Section(condition, None)
            literal, i = text[i + 1], i + 2
        elif ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                return _Section(condition, None)
            inner, i = text[i + 1 : end], end + 1
            found = _CONDITION.fullmatch(inner)
            if found:
                condition = (found.group(1), float(found.group(2)))
                continue
            if inner.casefold() in _COLORS or _COLOR_NUMBER.fullmatch(inner):
                continue
            if inner.startswith("$"):
                literal = inner[1:].split("-", 1)[0]  # [$-409] is a locale only: no text
            else:
                supported = False  # elapsed time, native digits, calendars ...
                continue
        elif ch in "0#":
            if (digits_seen and suffix) or (ch == "#" and zeros):
                supported = False
            digits_seen = True
            zeros += ch == "0"
            i += 1
            continue
        elif ch in _BARE_LITERALS:
            literal, i = ch, i + 1
        elif text[i : i + len(_GENERAL)].casefold() == _GENERAL:
            supported = False  # General is shown by the caller's own value
            i += len(_GENERAL)
            continue
        else:
            supported = False  # dates, decimals, separators, percent, exponent, text, fill ...
            i += 2 if ch in "_*" else 1
            continue
        (suffix if digits_seen else prefix).append(literal)
    if not supported or zeros == 0:
        return _Section(condition, None)
    return _Section(condition, _Pattern("".join(prefix), zeros, "".join(suffix)))


def padding_format(code: str) -> PaddingFormat | None:
    """The format if one of its number sections pads with zeros (``00000``, ``"S"000000``,
    ``[<=99999]00000;General``), else None (``0``, ``0.00``, ``#,##0``, dates, General)."""
    sections = tuple(_parse_section(part) for part in _split_sections(code)[:3])
    if any(s.pattern is not None and s.pattern.width >= 2 for s in sections):
        return PaddingFormat(sections)
    return None


def _local(name: str) -> str:
    return name.rpartition("}")[2].rpartition(":")[2]


def _members(package: zipfile.ZipFile) -> dict[str, str]:
    """Part names by their case-folded form: OPC part names ignore case."""
    return {name.casefold(): name for name in package.namelist()}


def _read_xml(package: zipfile.ZipFile, members: dict[str, str], part: str) -> Element | None:
    name = members.get(part.casefold())
    if name is None:
        return None
    return fromstring(package.read(name), forbid_dtd=True)


def _relationships(
    package: zipfile.ZipFile, members: dict[str, str], part: str
) -> list[tuple[str, str, str]]:
    """(id, type, resolved part name) of each relationship of ``part`` ("" for the package)."""
    folder, base = posixpath.split(part)
    root = _read_xml(package, members, posixpath.join(folder, "_rels", f"{base}.rels"))
    if root is None:
        return []
    found: list[tuple[str, str, str]] = []
    for rel in root:
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        resolved = target[1:] if target.startswith("/") else posixpath.join(folder, target)
        found.append((rel.get("Id", ""), rel.get("Type", ""), posixpath.normpath(resolved)))
    return found


def _workbook_part(package: zipfile.ZipFile, members: dict[str, str]) -> str:
    for _, kind, target in _relationships(package, members, ""):
        if kind.endswith(_OFFICE_DOCUMENT):
            return target
    return _WORKBOOK_FALLBACK


def _sheet_part(
    package: zipfile.ZipFile, members: dict[str, str], workbook: str, sheet: str
) -> str:
    """The part holding the sheet called ``sheet`` (exact name first, then any capitals)."""
    root = _read_xml(package, members, workbook)
    if root is None:
        raise KeyError(f"the workbook has no {workbook}")
    ids: dict[str, str] = {}
    for element in root.iter():
        if _local(element.tag) == "sheet" and element.get("name") is not None:
            rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            ids.setdefault(element.get("name", ""), rel_id)
    rel_id = ids.get(sheet)
    if rel_id is None:
        rel_id = next((v for k, v in ids.items() if k.casefold() == sheet.casefold()), None)
    if rel_id is None:
        raise KeyError(f"the workbook has no sheet named {sheet!r}")
    for found_id, _, target in _relationships(package, members, workbook):
        if found_id == rel_id:
            return target
    raise KeyError(f"the workbook does not say where the sheet {sheet!r} is stored")


def _padding_styles(
    package: zipfile.ZipFile, members: dict[str, str], workbook: str
) -> dict[int, PaddingFormat]:
    """Cell style (``s``) indexes whose number format pads with zeros.

    Built-in formats never pad, so only the workbook's own ``numFmt`` codes are looked at.
    """
    styles = next(
        (t for _, k, t in _relationships(package, members, workbook) if k.endswith(_STYLES)),
        _STYLES_FALLBACK,
    )
    root = _read_xml(package, members, styles)
    if root is None:
        return {}
    by_id: dict[str, PaddingFormat] = {}
    cell_xfs: Element | None = None
    for element in root:
        name = _local(element.tag)
        if name == "numFmts":
            for fmt in element:
                found = padding_format(fmt.get("formatCode", ""))
                if found is not None and _local(fmt.tag) == "numFmt":
                    by_id[fmt.get("numFmtId", "").strip()] = found
        elif name == "cellXfs":
            cell_xfs = element
    if not by_id or cell_xfs is None:
        return {}
    padded: dict[int, PaddingFormat] = {}
    xfs = [xf for xf in cell_xfs if _local(xf.tag) == "xf"]
    for index, xf in enumerate(xfs):
        found = by_id.get(xf.get("numFmtId", "0").strip())
        if found is not None:
            padded[index] = found
    return padded


_column_numbers: dict[str, int] = {}


def _column(letters: str) -> int:
    """0-based index of a column named by letters (``A`` is 0, ``AA`` is 26)."""
    number = _column_numbers.get(letters)
    if number is None:
        number = 0
        for letter in letters:
            number = number * 26 + ord(letter) - 64
        number -= 1
        _column_numbers[letters] = number
    return number


def _address(text: str | None) -> tuple[int, int] | None:
    found = _ADDRESS.fullmatch(text) if text else None
    if found is None:
        return None
    return int(found.group(2)) - 1, _column(found.group(1))


def _number(text: str | bytes | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class _NeedFullScan(Exception):
    """A wanted cell has no address: only counting every cell can place it."""


@dataclass
class _Scan:
    """What to look for: styles that pad, and the wanted columns."""

    styles: dict[int, PaddingFormat]
    columns: frozenset[int]


def _root_prefix(head: bytes) -> tuple[bytes, bytes] | None:
    """The sheet's root element name and namespace prefix (``b"x:"`` or ``b""``)."""
    position = 0
    while True:
        while position < len(head) and head[position] in b" \t\r\n\xef\xbb\xbf":
            position += 1
        if head.startswith(b"<?", position):
            position = head.find(b"?>", position)
        elif head.startswith(b"<!--", position):
            position = head.find(b"-->", position)
        elif head.startswith(b"<!", position):
            raise ValueError("the sheet XML has a document type declaration")
        else:
            found = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)").match(
                head, position
            )
            if found is None:
                return None
            prefix = found.group(1) + b":" if found.group(1) else b""
            return found.group(2), prefix
        if position < 0:
            return None
        position += 2


def _fast_scan(
    stream: IO[bytes], head: bytes, prefix: bytes, scan: _Scan
) -> dict[tuple[int, int], str]:
    """Regex scan for cells with a padding style; raises _NeedFullScan on an unaddressed one."""
    p = re.escape(prefix)
    ids = b"|".join(str(s).encode() for s in sorted(scan.styles, reverse=True))
    cell = re.compile(
        rb"<" + p + rb"c(?=\s)([^>]*?\ss\s*=\s*[\"'](" + ids + rb")[\"'][^>]*?)"
        rb"(?:/>|>(.*?)</" + p + rb"c\s*>)",
        re.DOTALL,
    )
    address = re.compile(rb"""\sr\s*=\s*["']([A-Z]{1,3})([1-9]\d{0,6})["']""")
    kind = re.compile(rb"""\st\s*=\s*["']([^"']*)["']""")
    value = re.compile(rb"<" + p + rb"v(?:\s[^>]*)?>([^<]*)</")
    row_end = b"</" + prefix + b"row>"
    letters: dict[bytes, int] = {}
    result: dict[tuple[int, int], str] = {}
    columns = scan.columns
    styles = scan.styles

    def scan_piece(piece: bytes) -> None:
        for found in cell.finditer(piece):
            attributes, style, content = found.groups()
            where = address.search(attributes)
            if where is None:
                raise _NeedFullScan
            column = letters.get(where.group(1))
            if column is None:
                column = letters[where.group(1)] = _column(where.group(1).decode())
            if column not in columns or content is None:
                continue
            t = kind.search(attributes)
            if t is not None and t.group(1) != b"n":
                continue
            v = value.search(content)
            number = _number(v.group(1)) if v else None
            if number is None:
                continue
            text = styles[int(style)].text(number)
            if text is not None:
                result[int(where.group(2)) - 1, column] = text

    buffer = head
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if chunk:
            buffer += chunk
            cut = buffer.rfind(row_end)
            if cut < 0:
                continue
            cut += len(row_end)
            scan_piece(buffer[:cut])
            buffer = buffer[cut:]
        else:
            scan_piece(buffer)
            return result


def _full_scan(stream: IO[bytes], scan: _Scan) -> dict[tuple[int, int], str]:
    """Every cell placed as calamine places it: by its ``r`` address, else by counting
    (a row without ``r`` follows the previous row; a cell without one follows its left
    neighbour)."""
    result: dict[tuple[int, int], str] = {}
    row = -1
    next_column = 0
    sheet_data: Element | None = None
    default_style = scan.styles.get(0)
    events: Iterator[tuple[str, Element]] = iterparse(
        stream, events=("start", "end"), forbid_dtd=True
    )
    for event, element in events:
        name = _local(element.tag)
        if event == "start":
            if name == "sheetData":
                sheet_data = element
            elif name == "row":
                where = element.get("r", "").strip()
                row = int(where) - 1 if where.isdigit() else row + 1
                next_column = 0
            continue
        if name == "row":
            if sheet_data is not None:
                sheet_data.clear()
            continue
        if name != "c":
            continue
        place = _address(element.get("r"))
        if place is None:
            place = (row, next_column)
        next_column = place[1] + 1
        if place[1] not in scan.columns or element.get("t", "n") != "n":
            continue
        style = element.get("s")
        fmt = scan.styles.get(int(style)) if style and style.isdigit() else default_style
        if fmt is None:
            continue
        v = next((child.text for child in element if _local(child.tag) == "v"), None)
        number = _number(v)
        text = fmt.text(number) if number is not None else None
        if text is not None:
            result[place] = text
    return result


def zero_padded_cells(path: Path, sheet: str, columns: Iterable[int]) -> dict[tuple[int, int], str]:
    """``{(row, column): text}`` for the number cells in ``columns`` that Excel shows zero-padded.

    Indexes are 0-based from A1, as in calamine's ``to_python(skip_empty_area=False)`` grid.
    Only integer values whose cell format pads with zeros (``00000``, ``"S"00000``,
    ``[<=99999]00000;General`` below 100000) are given, shown as Excel shows them: 123 with
    ``00000`` is ``00123``, 1234567 is ``1234567``. Every other cell keeps calamine's value.
    The file must have passed ``check_workbook_file``; a missing sheet raises KeyError.
    """
    wanted = frozenset(columns)
    with zipfile.ZipFile(path) as package:
        members = _members(package)
        workbook = _workbook_part(package, members)
        part = _sheet_part(package, members, workbook, sheet)
        if not wanted:
            return {}
        styles = _padding_styles(package, members, workbook)
        if not styles:
            return {}  # nothing pads: the sheet itself need not be read
        name = members.get(part.casefold())
        if name is None:
            raise KeyError(f"the workbook lacks the part {part} of the sheet {sheet!r}")
        scan = _Scan(styles, wanted)
        if 0 not in styles:
            with package.open(name) as stream:
                head = stream.read(CHUNK_BYTES)
                if not head.startswith((b"\xff\xfe", b"\xfe\xff")):
                    root = _root_prefix(head)
                    if root is None or root[0] != b"worksheet":
                        return {}
                    try:
                        return _fast_scan(stream, head, root[1], scan)
                    except _NeedFullScan:
                        pass
        with package.open(name) as stream:
            return _full_scan(stream, scan)
