"""The package layer of an ``.xlsx`` (or ``.xlam``): the zip index, part names, content types and
relationships, in one place for every reader and writer of workbook files.

Workbooks come from outside, so their XML is parsed with lxml set to expand no entity, load no
DTD, reach no network and refuse huge trees; a part that declares a document type is refused
outright. Parts rewritten here keep their XML declaration and their root start tag exactly as the
source wrote them: Excel refuses a part whose ``mc:Ignorable`` names a prefix that was renamed or
dropped.
"""

import posixpath
import re
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote

from lxml import etree

# Namespaces. Strict OOXML uses its own URIs for the same vocabulary; the package ones are shared.
CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"

CONTENT_TYPES_PART = "[Content_Types].xml"
PACKAGE_RELS_PART = "_rels/.rels"
WORKBOOK_PART = "xl/workbook.xml"
RELS_CONTENT_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

MAX_PARTS = 10_000
"""A workbook with many sheets has a few hundred parts; ten thousand is far beyond any roster."""

MAX_INDEX_BYTES = MAX_PARTS * 1024
"""Bound on the zip's central directory, checked before ``zipfile`` builds an object per entry."""

MAX_RATIO = 200
RATIO_MIN_BYTES = 10 * 1024 * 1024
"""Sheet XML compresses about 10-30:1; a big part far above that is a zip-bomb pattern."""

MAX_READ_BYTES = 64 * 1024 * 1024
"""Parts read whole into memory are small in any sane workbook; absurd ones are refused."""

ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

Element = etree._Element


# --------------------------------------------------------------------------- safe XML


class DeclarationForbidden(ValueError):
    """A part declares a document type (the vehicle of entity-expansion attacks)."""


XmlError = etree.XMLSyntaxError
"""What ``parse_xml`` raises for a part that is not well-formed XML."""


def parse_xml(data: bytes) -> Element:
    """Parse an untrusted part; raise ``DeclarationForbidden`` or ``XmlError``.

    A parser per call: lxml parsers keep state and must not be shared between threads.
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(data, parser)
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None:
        raise DeclarationForbidden("the part declares a document type")
    return root


_DECLARATION = re.compile(r"""^\ufeff?(<\?xml[^>]*?\?>)""")
_DECLARED_ENCODING = re.compile(r"""(encoding\s*=\s*)(["'])[^"']*\2""")
_START_TAG = re.compile(r"""<(?![?!/])(?:[^>"']|"[^"]*"|'[^']*')*>""")


def xml_text(data: bytes) -> str:
    """A part's text, for writing back as UTF-8: a UTF-16 part's declaration is made to say so."""
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-8-sig")
    text = data.decode("utf-16")
    declaration = _DECLARATION.match(text)
    if declaration is None:
        return text
    fixed = _DECLARED_ENCODING.sub(r"\1\2UTF-8\2", declaration.group(1), count=1)
    return fixed + text[declaration.end() :]


def serialize(root: Element, source: bytes) -> bytes:
    """``root`` as UTF-8 bytes, with the source's declaration and root start tag kept as written.

    lxml may reorder the root's namespace declarations and attributes; since edits never touch
    the root's own attributes, its start tag from the source is spliced back in unchanged.
    """
    original = xml_text(source)
    body = etree.tostring(root, encoding="unicode")
    declaration = _DECLARATION.match(original)
    head = (declaration.group(1) + "\n") if declaration else ""
    old_tag = _START_TAG.search(original, declaration.end() if declaration else 0)
    new_tag = _START_TAG.match(body)
    if old_tag is not None and new_tag is not None:
        old = old_tag.group(0)
        if old.endswith("/>") and not new_tag.group(0).endswith("/>"):
            old = old[:-2].rstrip() + ">"  # the root gained children
        body = old + body[new_tag.end() :]
    return (head + body).encode("utf-8")


def local_name(tag: object) -> str:
    """``{ns}name`` or ``prefix:name`` -> ``name``; '' for comments and instructions."""
    return tag.rpartition("}")[2].rpartition(":")[2] if isinstance(tag, str) else ""


def namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


# --------------------------------------------------------------------------- the zip index


class IndexProblem(Enum):
    """What the zip's index alone shows to be wrong with a package."""

    TOO_MANY_PARTS = "too many parts"
    INDEX_TOO_LARGE = "table of contents too large"
    DUPLICATE = "a part listed twice"
    ENCRYPTED = "encrypted parts"
    METHOD = "packed in a way Excel never uses"
    TOO_BIG = "unpacks too large"
    RATIO = "zip bomb pattern"
    SIZE_MISMATCH = "contents do not match the index"


class PackageIndexError(ValueError):
    """The package's zip index is damaged or unsafe; ``count`` is the part count if relevant."""

    def __init__(self, problem: IndexProblem, count: int = 0) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.count = count


def check_index_bounds(f: BinaryIO, size: int) -> None:
    """Refuse a huge central directory before ``zipfile`` parses it into one object per entry.

    Reads the end-of-central-directory record (and its zip64 form) the way ``zipfile`` does; a
    missing record is left for ``zipfile`` to report.
    """
    tail_start = max(0, size - (1 << 16) - 22)
    f.seek(tail_start)
    tail = f.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        return
    parts, index_bytes = struct.unpack_from("<HL", tail, end + 10)
    locator = end - 20
    if locator >= 56 and tail[locator : locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if tail[record : record + 4] == b"PK\x06\x06":
            parts, index_bytes = struct.unpack_from("<QQ", tail, record + 32)
    if parts > MAX_PARTS:
        raise PackageIndexError(IndexProblem.TOO_MANY_PARTS, parts)
    if index_bytes > MAX_INDEX_BYTES:
        raise PackageIndexError(IndexProblem.INDEX_TOO_LARGE)


def check_index(infos: list[zipfile.ZipInfo], max_unpacked_bytes: int | None = None) -> None:
    """Everything the central directory alone can tell, before anything is decompressed."""
    check_names(infos)
    check_entries(infos, max_unpacked_bytes)


def check_names(infos: list[zipfile.ZipInfo]) -> None:
    """The count of parts, and no name listed twice."""
    if len(infos) > MAX_PARTS:
        raise PackageIndexError(IndexProblem.TOO_MANY_PARTS, len(infos))
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise PackageIndexError(IndexProblem.DUPLICATE)


def check_entries(infos: list[zipfile.ZipInfo], max_unpacked_bytes: int | None = None) -> None:
    """Encryption, packing method and unpacked sizes (in total, and against packed sizes)."""
    for info in infos:
        if info.flag_bits & 0x1:
            raise PackageIndexError(IndexProblem.ENCRYPTED)
        if info.compress_type not in ZIP_METHODS:
            raise PackageIndexError(IndexProblem.METHOD)
    total = sum(info.file_size for info in infos)
    if max_unpacked_bytes is not None and total > max_unpacked_bytes:
        raise PackageIndexError(IndexProblem.TOO_BIG)
    for info in infos:
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * info.compress_size:
            raise PackageIndexError(IndexProblem.RATIO)


class PartMissing(KeyError):
    """The package has no part of that name."""


class PartTooLarge(ValueError):
    """A part is too large to read whole into memory."""


class Package:
    """An open zip package whose index passed ``check_index``; part names ignore case (OPC)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.zip = archive
        self.infos = archive.infolist()
        check_index(self.infos)
        self.names = {info.filename.casefold(): info.filename for info in self.infos}

    @classmethod
    def open(cls, path: Path) -> "Package":
        archive = zipfile.ZipFile(path)
        try:
            return cls(archive)
        except BaseException:
            archive.close()
            raise

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.zip.close()

    def name(self, part: str) -> str | None:
        """The zip entry name of ``part``, if the package has it."""
        return self.names.get(part.casefold()) if part else None

    def read(self, part: str, limit: int = MAX_READ_BYTES) -> bytes:
        """A whole part; the zip's CRC check applies."""
        name = self.name(part)
        if name is None:
            raise PartMissing(part)
        info = self.zip.getinfo(name)
        if info.file_size > limit:
            raise PartTooLarge(part)
        with self.zip.open(info) as stream:
            data = stream.read(limit + 1)
        if len(data) != info.file_size:
            raise PackageIndexError(IndexProblem.SIZE_MISMATCH)
        return data

    def xml(self, part: str) -> Element | None:
        """A part parsed safely, or None if the package has no such part."""
        return parse_xml(self.read(part)) if self.name(part) is not None else None

    def relationships(self, source: str) -> list["Relationship"]:
        """The relationships of ``source`` ('' for the package itself); none without a file."""
        root = self.xml(rels_part(source))
        return [] if root is None else relationships(root, source)

    def workbook_part(self) -> str:
        """The main workbook part, as the package relationships name it."""
        return office_document(self.relationships(""), self.names)

    def sheet_part(self, workbook: str, sheet: str) -> str:
        """The part of the sheet named ``sheet`` (exact name first, then any capitals)."""
        root = self.xml(workbook)
        if root is None:
            raise PartMissing(workbook)
        return sheet_part(sheet_entries(root), self.relationships(workbook), sheet)


# --------------------------------------------------------------------------- relationships


@dataclass(frozen=True)
class Relationship:
    id: str
    type: str
    target: str
    """The resolved part name (no leading slash); '' for an external target."""

    def is_a(self, kind: str) -> bool:
        """``kind`` is the last segment of the type (``worksheet``, ``styles``, ...)."""
        return self.type.endswith("/" + kind)


def rels_part(part: str) -> str:
    """``xl/workbook.xml`` -> ``xl/_rels/workbook.xml.rels``; the package itself is ``''``."""
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def resolve_target(source: str, target: str) -> str:
    """The part name a relationship of ``source`` points at (absolute or relative target)."""
    target = unquote(target)
    if target.startswith("/"):
        return posixpath.normpath(target).lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target)).lstrip("/")


def relative_target(source: str, part: str) -> str:
    """The target a new relationship of ``source`` writes for ``part``."""
    return posixpath.relpath(part, posixpath.dirname(source) or ".")


def relationships(root: Element, source: str) -> list[Relationship]:
    """The relationships in a parsed ``.rels`` part of ``source``."""
    found = []
    for element in root.iter(f"{{{PACKAGE_REL_NS}}}Relationship"):
        external = element.get("TargetMode", "Internal") == "External"
        target = "" if external else resolve_target(source, element.get("Target", ""))
        found.append(Relationship(element.get("Id", ""), element.get("Type", ""), target))
    return found


def office_document(package_rels: list[Relationship], names: dict[str, str]) -> str:
    """The main document part: the package's officeDocument target, else ``xl/workbook.xml``."""
    for rel in package_rels:
        if rel.is_a("officeDocument") and rel.target.casefold() in names:
            return names[rel.target.casefold()]
    return names.get(WORKBOOK_PART, WORKBOOK_PART)


def add_relationship(root: Element, type_: str, target: str) -> str:
    """Append a relationship to a parsed ``.rels`` part; return its new id."""
    used = {element.get("Id") for element in root.iter(f"{{{PACKAGE_REL_NS}}}Relationship")}
    n = len(used) + 1
    while f"rId{n}" in used:
        n += 1
    rid = f"rId{n}"
    etree.SubElement(
        root, f"{{{PACKAGE_REL_NS}}}Relationship", {"Id": rid, "Type": type_, "Target": target}
    )
    return rid


def remove_relationship(root: Element, rid: str) -> None:
    for element in list(root.iter(f"{{{PACKAGE_REL_NS}}}Relationship")):
        if element.get("Id") == rid:
            _remove(element)


def relationships_xml(items: Iterable[tuple[str, str, str]]) -> bytes:
    """A new ``.rels`` part from (id, type, target)."""
    root = etree.fromstring(f'<Relationships xmlns="{PACKAGE_REL_NS}"/>')
    for rid, type_, target in items:
        etree.SubElement(
            root, f"{{{PACKAGE_REL_NS}}}Relationship", {"Id": rid, "Type": type_, "Target": target}
        )
    return _new_part(root)


# --------------------------------------------------------------------------- content types


def content_types(root: Element) -> Iterator[str]:
    """Every content type the ``[Content_Types].xml`` part names, defaults and overrides.

    Elements in any namespace count: a part that hides a macro type under another namespace is
    still refused by the file checks.
    """
    for element in root.iter(etree.Element):
        content_type = element.get("ContentType")
        if content_type is not None:
            yield content_type


def overridden_parts(root: Element) -> set[str]:
    """Part names (case-folded, no leading slash) that have an Override."""
    return {
        element.get("PartName", "").lstrip("/").casefold()
        for element in root.iter(f"{{{CONTENT_TYPES_NS}}}Override")
    }


def set_override(root: Element, part: str, content_type: str) -> None:
    """Give ``part`` its content type, replacing an Override it may already have."""
    remove_overrides(root, {part})
    etree.SubElement(
        root,
        f"{{{CONTENT_TYPES_NS}}}Override",
        {"PartName": "/" + part, "ContentType": content_type},
    )


def remove_overrides(root: Element, parts: Iterable[str]) -> None:
    gone = {"/" + part.casefold() for part in parts}
    for element in list(root.iter(f"{{{CONTENT_TYPES_NS}}}Override")):
        if element.get("PartName", "").casefold() in gone:
            _remove(element)


def content_types_xml(defaults: dict[str, str], overrides: dict[str, str]) -> bytes:
    """A new ``[Content_Types].xml`` from extension and part-name maps."""
    root = etree.fromstring(f'<Types xmlns="{CONTENT_TYPES_NS}"/>')
    for extension, content_type in defaults.items():
        etree.SubElement(
            root,
            f"{{{CONTENT_TYPES_NS}}}Default",
            {"Extension": extension, "ContentType": content_type},
        )
    for part, content_type in overrides.items():
        etree.SubElement(
            root,
            f"{{{CONTENT_TYPES_NS}}}Override",
            {"PartName": "/" + part, "ContentType": content_type},
        )
    return _new_part(root)


# --------------------------------------------------------------------------- workbook.xml


@dataclass(frozen=True)
class SheetEntry:
    """A ``<sheet>`` of workbook.xml: its name, relationship id and sheetId."""

    name: str
    rel_id: str
    sheet_id: int


@dataclass(frozen=True)
class DefinedName:
    """A ``<definedName>`` of workbook.xml; ``local_sheet_id`` is None for a workbook-wide one."""

    name: str
    local_sheet_id: str | None
    text: str | None


def sheet_entries(workbook: Element) -> list[SheetEntry]:
    """The workbook's sheets in tab order."""
    ns = namespace(workbook.tag)
    sheets = workbook.find(f"{{{ns}}}sheets")
    if sheets is None:
        return []
    return [
        SheetEntry(
            element.get("name", ""),
            element.get(f"{{{REL_NS}}}id") or element.get(f"{{{STRICT_REL_NS}}}id") or "",
            _int(element.get("sheetId")),
        )
        for element in sheets.iterchildren(f"{{{ns}}}sheet")
    ]


def sheet_part(entries: list[SheetEntry], rels: list[Relationship], sheet: str) -> str:
    """The part of the sheet named ``sheet`` (exact name first, then any capitals)."""
    entry = next((e for e in entries if e.name == sheet), None)
    if entry is None:
        entry = next((e for e in entries if e.name.casefold() == sheet.casefold()), None)
    if entry is None:
        raise PartMissing(f"the workbook has no sheet named {sheet!r}")
    for rel in rels:
        if rel.id == entry.rel_id and rel.target:
            return rel.target
    raise PartMissing(f"the workbook does not say where the sheet {sheet!r} is stored")


def defined_names(workbook: Element) -> list[DefinedName]:
    ns = namespace(workbook.tag)
    return [
        DefinedName(element.get("name", ""), element.get("localSheetId"), element.text)
        for element in workbook.iter(f"{{{ns}}}definedName")
    ]


# --------------------------------------------------------------------------- helpers


def _remove(element: Element) -> None:
    """Remove ``element``, keeping the text that followed it."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _new_part(root: Element) -> bytes:
    return (XML_DECLARATION + etree.tostring(root, encoding="unicode")).encode("utf-8")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
