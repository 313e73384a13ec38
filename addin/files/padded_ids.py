"""Numbers that Excel shows zero-padded, as the text Excel shows.

Office staff often keep student IDs as numbers formatted ``00000``, so Excel shows ``00123`` while
the file stores ``123``. python-calamine returns such a cell as the float ``123.0`` and ignores
number formats, which would lose the leading zeros that make the ID. This module reads the cell
styles and number formats itself and gives back the text Excel shows for those cells only.

Speed matters (a roster can have 100k rows), so the sheet is only read when a style pads at all,
and then scanned with regular expressions over its bytes for the cells whose style pads; no DTD
or entity is processed there. Cells without an ``r`` address (the file format allows them) and
sheets whose default style pads are read by a streaming XML parser that counts positions the way
calamine does: the C parser when the prolog is checked to hold no DTD, else defusedxml's. The
package parts around the sheet (relationships, workbook, styles) are read through the OPC
module."""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import iterparse

from addin.files import opc
from addin.workbooks.interface import column_letter

__all__ = ["zero_padded_cells"]

_STYLES_FALLBACK = "xl/styles.xml"

MAX_EXACT = 10**15
"""Excel keeps 15 significant digits: larger integers are not shown as stored."""

ZERO = ord("0")
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

    @property
    def literal(self) -> bool:
        return bool(self.prefix or self.suffix)

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
    positive: _Pattern | None
    """The pattern for every positive value, when no condition makes the choice."""

    def text(self, value: float) -> str | None:
        """What Excel shows for ``value``, or None where it is not a padded integer we know."""
        if not value.is_integer():
            return None
        return self.integer_text(int(value))

    def integer_text(self, value: int) -> str | None:
        """What Excel shows for the integer ``value``, or None (negative, too big, not padded)."""
        if not 0 <= value < MAX_EXACT:
            return None
        section = self._section_for(value)
        if section is None or section.pattern is None:
            return None
        return section.pattern.render(value)

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
    reader = _SectionReader(supported=bool(text))
    i = 0
    while i < len(text):
        after = _STEPS.get(text[i], _other)(text, i, reader)
        if after is None:  # an unclosed quote or bracket, or a backslash at the end
            return _Section(reader.condition, None)
        i = after
    return reader.section()


@dataclass
class _SectionReader:
    """What one section's code has said so far."""

    supported: bool
    condition: Condition | None = None
    prefix: list[str] = field(default_factory=list)
    suffix: list[str] = field(default_factory=list)
    zeros: int = 0
    digits_seen: bool = False

    def literal(self, text: str) -> None:
        (self.suffix if self.digits_seen else self.prefix).append(text)

    def placeholder(self, ch: str) -> None:
        """One run of digit placeholders only, ``#`` before ``0``."""
        if (self.digits_seen and self.suffix) or (ch == "#" and self.zeros):
            self.supported = False
        self.digits_seen = True
        self.zeros += ch == "0"

    def bracket(self, inner: str) -> None:
        """A condition, a colour, a currency or locale tag, or something not supported."""
        found = _CONDITION.fullmatch(inner)
        if found:
            self.condition = (found.group(1), float(found.group(2)))
        elif inner.casefold() in _COLORS or _COLOR_NUMBER.fullmatch(inner):
            return  # a colour does not change the text
        elif inner.startswith("$"):
            self.literal(inner[1:].split("-", 1)[0])  # [$-409] is a locale only: no text
        else:
            self.supported = False  # elapsed time, native digits, calendars ...

    def section(self) -> _Section:
        if not self.supported or self.zeros == 0:
            return _Section(self.condition, None)
        pattern = _Pattern("".join(self.prefix), self.zeros, "".join(self.suffix))
        return _Section(self.condition, pattern)


def _quoted(text: str, i: int, reader: _SectionReader) -> int | None:
    end = text.find('"', i + 1)
    if end < 0:
        return None
    reader.literal(text[i + 1 : end])
    return end + 1


def _escaped(text: str, i: int, reader: _SectionReader) -> int | None:
    if i + 1 >= len(text):
        return None
    reader.literal(text[i + 1])
    return i + 2


def _bracketed(text: str, i: int, reader: _SectionReader) -> int | None:
    end = text.find("]", i + 1)
    if end < 0:
        return None
    reader.bracket(text[i + 1 : end])
    return end + 1


def _placeholder(text: str, i: int, reader: _SectionReader) -> int | None:
    reader.placeholder(text[i])
    return i + 1


def _other(text: str, i: int, reader: _SectionReader) -> int | None:
    """A character shown as itself, or anything else, which this reading does not support."""
    ch = text[i]
    if ch in _BARE_LITERALS:
        reader.literal(ch)
        return i + 1
    reader.supported = False
    if text[i : i + len(_GENERAL)].casefold() == _GENERAL:
        return i + len(_GENERAL)  # General is shown by the caller's own value
    return i + (2 if ch in "_*" else 1)  # dates, decimals, separators, percent, text, fill ...


_STEPS: dict[str, Callable[[str, int, _SectionReader], int | None]] = {
    '"': _quoted,
    "\\": _escaped,
    "[": _bracketed,
    "0": _placeholder,
    "#": _placeholder,
}
"""How to read the code at a character, by that character; ``_other`` for the rest."""


def padding_format(code: str) -> PaddingFormat | None:
    """The format if one of its number sections pads with zeros (``00000``, ``"S"000000``,
    ``[<=99999]00000;General``), else None (``0``, ``0.00``, ``#,##0``, dates, General)."""
    sections = tuple(_parse_section(part) for part in _split_sections(code)[:3])
    if any(s.pattern is not None and s.pattern.width >= 2 for s in sections):
        unconditional = all(s.condition is None for s in sections[:2])
        return PaddingFormat(sections, sections[0].pattern if unconditional else None)
    return None


def _padding_styles(package: opc.Package, workbook: str) -> dict[int, PaddingFormat]:
    """Cell style (``s``) indexes whose number format pads with zeros.

    Built-in formats never pad, so only the workbook's own ``numFmt`` codes are looked at.
    """
    styles = next(
        (rel.target for rel in package.relationships(workbook) if rel.is_a("styles")),
        _STYLES_FALLBACK,
    )
    root = package.xml(styles)
    if root is None:
        return {}
    by_id: dict[str, PaddingFormat] = {}
    cell_xfs: opc.Element | None = None
    for element in root:
        name = opc.local_name(element.tag)
        if name == "numFmts":
            for fmt in element:
                found = padding_format(fmt.get("formatCode", ""))
                if found is not None and opc.local_name(fmt.tag) == "numFmt":
                    by_id[fmt.get("numFmtId", "").strip()] = found
        elif name == "cellXfs":
            cell_xfs = element
    if not by_id or cell_xfs is None:
        return {}
    padded: dict[int, PaddingFormat] = {}
    xfs = [xf for xf in cell_xfs if opc.local_name(xf.tag) == "xf"]
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


_DECLARATION = re.compile(rb"<\?xml\s[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""\sencoding\s*=\s*["']([^"']*)["']""")
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)[\s/>]")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class _Root:
    """The sheet's root element: its local name and its namespace prefix (``b"x:"`` or ``b""``)."""

    name: bytes
    prefix: bytes


def _plain_root(head: bytes) -> _Root | None:
    """The root element, when the sheet is UTF-8 XML whose prolog has only a declaration,
    comments and processing instructions; None otherwise (a DTD, another encoding ...).

    A document type declaration can only come before the root element, so a sheet that passes
    cannot declare entities: its bytes may be scanned directly or given to the C parser.
    """
    position = len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0
    declaration = _DECLARATION.match(head, position)
    if declaration is not None:
        encoding = _DECLARED_ENCODING.search(declaration.group())
        if encoding is not None and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
            return None
        position = declaration.end()
    while True:
        while position < len(head) and head[position] in b" \t\r\n":
            position += 1
        if head.startswith(b"<!--", position):
            end = head.find(b"-->", position + 4)
            position = -1 if end < 0 else end + 3
        elif head.startswith(b"<?", position) and not head.startswith(b"<?xml", position):
            end = head.find(b"?>", position + 2)
            position = -1 if end < 0 else end + 2
        else:
            found = _ROOT.match(head, position)
            if found is None:
                return None
            return _Root(found.group(2), found.group(1) + b":" if found.group(1) else b"")
        if position < 0:
            return None


class _RegexScan:
    """Cells with a padding style found by regular expressions over the sheet's bytes.

    Most writers spell a cell ``<c r="A2" s="1" t="n"><v>7</v></c>``: one expression reads
    those. Each piece of the sheet is checked by counting every ``s="<padding style>"`` in it:
    when a cell is written any other way (other attribute order, quotes, spaces, an inline
    string, a row style), the counts differ and the piece is read with a looser expression.
    """

    def __init__(self, prefix: bytes, scan: _Scan) -> None:
        p = re.escape(prefix)
        ids = b"|".join(str(s).encode() for s in sorted(scan.styles, reverse=True))
        self.usual = re.compile(
            rb"<" + p + rb'c r="([A-Z]{1,3})([1-9]\d{0,6})" s="(' + ids + rb')"'
            rb'(?: t="([a-z]+)")?(?: ?/>|>(?:<' + p + rb"f(?: [^>]*)?(?:/>|>[^<]*</" + p + rb"f>))?"
            rb"(?:<" + p + rb"v>([^<]*)</" + p + rb"v>)?</" + p + rb"c>)"
        )
        # Any "s" attribute follows white space; the first count, quicker, may also catch the
        # end of other names (copies="1"), and only then is the exact count needed.
        self.mentions = re.compile(rb"""s\s*=\s*["'](?:""" + ids + rb""")["']""")
        self.attributes = re.compile(rb"""\ss\s*=\s*["'](?:""" + ids + rb""")["']""")
        self.loose = re.compile(
            rb"<" + p + rb"c(?=\s)([^>]*?\ss\s*=\s*[\"'](" + ids + rb")[\"'][^>]*?)"
            rb"(?:/>|>(.*?)</" + p + rb"c\s*>)",
            re.DOTALL,
        )
        self.address = re.compile(rb"""\sr\s*=\s*["']([A-Z]{1,3})([1-9]\d{0,6})["']""")
        self.kind = re.compile(rb"""\st\s*=\s*["']([^"']*)["']""")
        self.value = re.compile(rb"<" + p + rb"v(?:\s[^>]*)?>([^<]*)</")
        self.row_end = b"</" + prefix + b"row>"
        self.columns = {column_letter(c).encode(): c for c in scan.columns}
        self.styles = {str(s).encode(): fmt for s, fmt in scan.styles.items()}
        self.result: dict[tuple[int, int], str] = {}

    def run(self, stream: IO[bytes], head: bytes) -> dict[tuple[int, int], str]:
        """Scan the rest of ``stream`` (``head`` already read) in pieces cut after a row."""
        buffer = head
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                self.piece(buffer)
                return self.result
            buffer += chunk
            cut = buffer.rfind(self.row_end)
            if cut >= 0:
                cut += len(self.row_end)
                self.piece(buffer[:cut])
                buffer = buffer[cut:]

    def piece(self, piece: bytes) -> None:
        hits = self.usual.findall(piece)
        if len(hits) != len(self.mentions.findall(piece)) and len(hits) != len(
            self.attributes.findall(piece)
        ):
            self.loose_piece(piece)
            return
        columns, styles, result = self.columns, self.styles, self.result
        for letters, row, style, kind, value in hits:
            column = columns.get(letters)
            if column is None or (kind and kind != b"n") or not value:
                continue
            pattern = styles[style].positive
            if pattern is not None and value.isdigit() and value[0] != ZERO and len(value) < 16:
                # The usual case, inline: this loop runs once per ID in the sheet.
                digits = value.zfill(pattern.width).decode()
                result[int(row) - 1, column] = (
                    f"{pattern.prefix}{digits}{pattern.suffix}" if pattern.literal else digits
                )
            else:
                self.add(int(row) - 1, column, style, value)

    def loose_piece(self, piece: bytes) -> None:
        for found in self.loose.finditer(piece):
            attributes, style, content = found.groups()
            where = self.address.search(attributes)
            if where is None:
                raise _NeedFullScan
            column = self.columns.get(where.group(1))
            if column is None or content is None:
                continue
            kind = self.kind.search(attributes)
            if kind is not None and kind.group(1) != b"n":
                continue
            value = self.value.search(content)
            if value is not None:
                self.add(int(where.group(2)) - 1, column, style, value.group(1))

    def add(self, row: int, column: int, style: bytes, value: bytes) -> None:
        fmt = self.styles[style]
        if value.isdigit():
            text = fmt.integer_text(int(value))
        else:
            number = _number(value)
            text = fmt.text(number) if number is not None else None
        if text is not None:
            self.result[row, column] = text


def _full_scan(stream: IO[bytes], scan: _Scan, plain: bool) -> dict[tuple[int, int], str]:
    """Every cell placed as calamine places it: by its ``r`` address, else by counting
    (a row without ``r`` follows the previous row; a cell without one follows its left
    neighbour).

    ``plain`` says the prolog was checked by ``_plain_root`` (no DTD is possible): the
    C parser of the standard library is then safe and about twice as fast as defusedxml's.
    """
    result: dict[tuple[int, int], str] = {}
    styles = {str(index): fmt for index, fmt in scan.styles.items()}
    default = scan.styles.get(0)
    columns = scan.columns
    row = -1
    events: Iterator[tuple[str, Element]] = (
        ElementTree.iterparse(stream, events=("end",))
        if plain
        else iterparse(stream, events=("end",), forbid_dtd=True)
    )
    for _, element in events:
        tag = element.tag
        if not (tag == "row" or tag.endswith("}row")):
            continue
        where = element.get("r", "").strip()
        row = int(where) - 1 if where.isdigit() else row + 1
        cell_tag, value_tag = tag[:-3] + "c", tag[:-3] + "v"
        anchor: str | None = None  # the last cell with an address, and cells since then
        since = 0
        for cell in element:
            if cell.tag != cell_tag:
                continue
            address = cell.get("r")
            if address is not None:
                anchor, since = address, 0
            else:
                since += 1
            style = cell.get("s")
            fmt = default if style is None else styles.get(style.strip())
            if fmt is None or cell.get("t", "n") != "n":
                continue
            place = _place(anchor, since, row)
            if place is None or place[1] not in columns:
                continue
            number = _number(cell.findtext(value_tag))
            text = fmt.text(number) if number is not None else None
            if text is not None:
                result[place] = text
        element.clear()  # rows are done with: keep memory flat on big sheets
    return result


def _place(anchor: str | None, since: int, row: int) -> tuple[int, int] | None:
    """Where calamine puts a cell ``since`` cells after the addressed cell ``anchor``."""
    if anchor is None:
        return row, since - 1
    where = _address(anchor)
    if where is None:
        return None
    return where if since == 0 else (row, where[1] + since)


def zero_padded_cells(path: Path, sheet: str, columns: Iterable[int]) -> dict[tuple[int, int], str]:
    """``{(row, column): text}`` for the number cells in ``columns`` that Excel shows zero-padded.

    Indexes are 0-based from A1, as in calamine's ``to_python(skip_empty_area=False)`` grid.
    Only integer values whose cell format pads with zeros (``00000``, ``"S"00000``,
    ``[<=99999]00000;General`` below 100000) are given, shown as Excel shows them: 123 with
    ``00000`` is ``00123``, 1234567 is ``1234567``. Every other cell keeps calamine's value.
    The file must have passed ``check_workbook_file``; a missing sheet raises KeyError.
    """
    wanted = frozenset(columns)
    with opc.Package.open(path) as package:
        workbook = package.workbook_part()
        part = package.sheet_part(workbook, sheet)
        if not wanted:
            return {}
        styles = _padding_styles(package, workbook)
        if not styles:
            return {}  # nothing pads: the sheet itself need not be read
        name = package.name(part)
        if name is None:
            raise KeyError(f"the workbook lacks the part {part} of the sheet {sheet!r}")
        scan = _Scan(styles, wanted)
        with package.zip.open(name) as stream:
            head = stream.read(CHUNK_BYTES)
            root = _plain_root(head)
            if root is not None and root.name != b"worksheet":
                return {}  # a chart sheet or dialog sheet has no cells
            if root is not None and 0 not in styles:
                try:
                    return _RegexScan(root.prefix, scan).run(stream, head)
                except _NeedFullScan:
                    pass
        with package.zip.open(name) as stream:
            return _full_scan(stream, scan, plain=root is not None)
