"""Read a OneRoster CSV bundle (1.1 or 1.2; a folder or a .zip) into the three roster tables.

Every major student information system exports OneRoster, so a district can import its roster
from that export instead of building a workbook. The bundle is turned into the same
``InputTable``s a roster workbook gives (Schools, Students, Contacts, with the headers of
``backend.imports.roster_columns``), so the one import engine checks and applies it.

Exports are often inconsistent (a student's ``agentSourcedIds`` naming a teacher, an org that is
not in ``orgs.csv``). Nothing like that stops the read: the row is still produced and the reason,
naming the file, line and column, goes into the table's ``notes`` for that row, so the import
reports it as that row's error. Only a bundle that cannot be read at all (no ``users.csv``, a
missing required column, not UTF-8, an unsafe or oversized zip) raises ``InputError``.

Each CSV is read once, with dictionaries for every look-up: 100k users take about a second.
"""

import csv
import hashlib
import io
import re
import stat
import struct
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from backend.errors import InputError
from backend.imports.contract import InputTable, collector_paused
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.settings import get_settings

MB = 1024 * 1024
CHUNK_BYTES = 1 * MB
MAX_ENTRIES = 10_000
"""A OneRoster zip has about twenty files; far more is not a bundle (and may be an attack)."""
MAX_PRIORITY = 99

USERS = "users.csv"
ORGS = "orgs.csv"
ROLES = "roles.csv"
MANIFEST = "manifest.csv"

STUDENT = "student"
CONTACT_ROLES: dict[str, tuple[str, str]] = {
    "parent": ("Parent", "Y"),
    "guardian": ("Guardian", "Y"),
    "relative": ("Relative", "N"),
}
"""Role -> (RELATIONSHIP, GUARDIAN): a relative is on the card but is not a legal guardian."""

_INACTIVE_STATUSES = ("tobedeleted", "inactive")
_FALSE = ("false", "0", "no", "n")
_EXPORT_AGAIN = "export the bundle again from the student information system"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError)


@dataclass
class RosterTables:
    """The Schools, Students and Contacts tables of one bundle, and its OneRoster version."""

    schools: InputTable
    students: InputTable
    contacts: InputTable
    version: str = ""


def read_oneroster(path: Path) -> RosterTables:
    """Read the OneRoster bundle at ``path`` (a folder or a .zip) into roster tables.

    Raises ``InputError`` with one line of advice when the bundle as a whole cannot be used.
    """
    path = Path(path)
    limit = get_settings().max_unpacked_mb * MB
    with _open_bundle(path) as bundle:
        budget = _Budget(limit)
        users_csv = bundle.read(USERS, budget)
        if users_csv is None:  # _open_bundle found it, so this cannot happen
            raise InputError(f"{bundle.label} has no {USERS}.")
        orgs_csv = bundle.read(ORGS, budget)
        roles_csv = bundle.read(ROLES, budget)
        manifest_csv = bundle.read(MANIFEST, budget)
    version = _manifest_version(manifest_csv)
    users_header = _header(users_csv)
    use_roles = roles_csv is not None and (version == "1.2" or "role" not in users_header)
    if not use_roles and "role" not in users_header:
        raise InputError(
            f"{users_csv.source} has no role column and the bundle has no {ROLES}, so nobody's "
            f"role is known (OneRoster 1.1 puts it in {USERS}, 1.2 in {ROLES}); "
            f"{_EXPORT_AGAIN}."
        )
    if not version:
        version = "1.2" if use_roles else "1.1"

    with collector_paused():
        orgs = _read_orgs(orgs_csv)
        roles = _read_roles(roles_csv) if use_roles and roles_csv is not None else None
        users = _read_users(users_csv, roles)
        students = _students_table(users, orgs, users_csv)
        contacts = _contacts_table(users, users_csv, ROLES if roles is not None else USERS)
    return RosterTables(orgs.table, students, contacts, version)


# --- the bundle: a folder or a zip ------------------------------------------------------------


@dataclass
class _Budget:
    """Bytes left for the whole bundle: each CSV and their sum stay under the unpacked limit."""

    limit: int
    used: int = 0


@dataclass
class _Csv:
    """One CSV of the bundle, decoded; ``name`` is how notes name it, ``source`` the full path."""

    name: str
    source: str
    text: str
    sha256: str


class _Bundle(ABC):
    """The files of a bundle by lower-case name (exports differ in capitals: userProfiles.csv)."""

    def __init__(self, label: str, prefix: str) -> None:
        self.label = label
        self.prefix = prefix  # label plus any folder the CSVs sit in, for source names

    @abstractmethod
    def member(self, name: str) -> tuple[str, int] | None:
        """The stored file name and declared size of ``name``, or None if the bundle lacks it."""

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """The file ``name`` for reading (a folder's file or a zip's member)."""

    def read(self, name: str, budget: _Budget) -> _Csv | None:
        """The CSV ``name`` decoded, read in chunks so no file can grow past the limits."""
        try:
            found = self.member(name)
        except OSError as exc:
            raise _unreadable(f"{self.prefix}/{name}", exc) from exc
        if found is None:
            return None
        shown, declared = found
        source = f"{self.prefix}/{shown}"
        if declared > budget.limit - budget.used:
            raise _too_big(source, budget.limit)
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        try:
            with self.open(name) as f:
                while chunk := f.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > budget.limit - budget.used:
                        raise _too_big(source, budget.limit)
                    digest.update(chunk)
                    chunks.append(chunk)
        except _ZIP_ERRORS as exc:
            raise InputError(
                f"{source} is damaged inside the zip and cannot be read; {_EXPORT_AGAIN}."
            ) from exc
        except RuntimeError as exc:  # zipfile: an encrypted entry and no password
            raise InputError(
                f"{source} is password-protected inside the zip; {_EXPORT_AGAIN} without a "
                "password."
            ) from exc
        except OSError as exc:
            raise _unreadable(source, exc) from exc
        budget.used += size
        return _Csv(shown, source, _decode(b"".join(chunks), source), digest.hexdigest())

    def __enter__(self) -> "_Bundle":
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


class _FolderBundle(_Bundle):
    def __init__(self, folder: Path) -> None:
        root = folder
        if not _find_file(folder, USERS):
            # A zip unpacked by Windows often gives a folder inside a folder of the same name.
            inner = [d for d in _subfolders(folder) if _find_file(d, USERS)]
            if len(inner) != 1:
                raise _no_users(folder.name or str(folder))
            root = inner[0]
        prefix = folder.name if root == folder else f"{folder.name}/{root.name}"
        super().__init__(folder.name or str(folder), prefix)
        self.files: dict[str, Path] = {}
        try:
            entries = sorted(root.iterdir())
        except OSError as exc:
            raise _unreadable(folder.name or str(folder), exc) from exc
        for entry in entries:
            if entry.is_file():
                self.files.setdefault(entry.name.lower(), entry)

    def member(self, name: str) -> tuple[str, int] | None:
        path = self.files.get(name)
        if path is None:
            return None
        return path.name, path.stat().st_size

    def open(self, name: str) -> IO[bytes]:
        return self.files[name].open("rb")


class _ZipBundle(_Bundle):
    def __init__(self, path: Path) -> None:
        name = path.name
        try:
            _check_entry_count(name, path)
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, ValueError, EOFError, struct.error) as exc:
            raise InputError(
                f"{name} is neither a folder nor a .zip file that can be opened; choose the "
                f"folder that holds the OneRoster CSV files ({USERS}, {ORGS}, ...) or the .zip "
                "the student information system exported."
            ) from exc
        except OSError as exc:
            raise _unreadable(name, exc) from exc
        try:
            infos = self.zip.infolist()
            for info in infos:
                _check_entry(name, info)
            declared = sum(info.file_size for info in infos)
            limit = get_settings().max_unpacked_mb * MB
            if declared > limit:
                raise _too_big(name, limit)
            files = [
                info
                for info in infos
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            ]
            users = [i for i in files if PurePosixPath(i.filename).name.lower() == USERS]
            if not users:
                raise _no_users(name)
            if len(users) > 1:
                where = ", ".join(i.filename for i in users)
                raise InputError(
                    f"{name} holds more than one {USERS} ({where}); put one OneRoster bundle in "
                    "each zip."
                )
            root = PurePosixPath(users[0].filename).parent
            self.infos: dict[str, zipfile.ZipInfo] = {}
            for info in files:
                stored = PurePosixPath(info.filename)
                if stored.parent == root:
                    self.infos.setdefault(stored.name.lower(), info)
        except BaseException:
            self.zip.close()
            raise
        prefix = name if str(root) == "." else f"{name}/{root}"
        super().__init__(name, prefix)

    def member(self, name: str) -> tuple[str, int] | None:
        info = self.infos.get(name)
        if info is None:
            return None
        return PurePosixPath(info.filename).name, info.file_size

    def open(self, name: str) -> IO[bytes]:
        return self.zip.open(self.infos[name])

    def __exit__(self, *_exc: object) -> None:
        self.zip.close()


def _open_bundle(path: Path) -> _Bundle:
    """The bundle at ``path``, or the reason a user cannot import from it."""
    shown = path.name or str(path)
    try:
        if path.is_dir():
            return _FolderBundle(path)
        if not path.exists():
            raise InputError(f"Not found: {path}; check the name and the folder, then try again.")
        if not path.is_file():
            raise InputError(f"{shown} is not a folder or a .zip file.")
    except OSError as exc:
        raise _unreadable(shown, exc) from exc
    if path.suffix.lower() == ".csv":
        raise InputError(
            f"{shown} is one CSV file; choose the folder that holds it together with {USERS}, "
            f"{ORGS} and the other OneRoster files, or the .zip of that folder."
        )
    return _ZipBundle(path)


def _check_entry_count(name: str, path: Path) -> None:
    """Refuse a zip whose index lists more files than any bundle, before ``zipfile`` reads it all.

    The count is in the end-of-archive record (or its zip64 form), read the way ``zipfile`` does;
    a zip without one is left for ``zipfile`` to refuse.
    """
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - (1 << 16) - 22))
        tail = f.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        return
    (count,) = struct.unpack_from("<H", tail, end + 10)
    locator = end - 20
    if locator >= 56 and tail[locator : locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if tail[record : record + 4] == b"PK\x06\x06":
            (count,) = struct.unpack_from("<Q", tail, record + 32)
    if count > MAX_ENTRIES:
        raise InputError(
            f"{name} lists {count} files, far more than a OneRoster bundle has; it may be "
            f"damaged or unsafe, so it was not read; {_EXPORT_AGAIN}."
        )


def _find_file(folder: Path, name: str) -> bool:
    try:
        return any(p.name.lower() == name and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []


def _no_users(name: str) -> InputError:
    return InputError(
        f"{name} has no {USERS}, so it is not a OneRoster bundle; choose the folder or .zip "
        f"the student information system exported (it holds {USERS}, {ORGS}, manifest.csv, ...)."
    )


_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_entry(zip_name: str, info: zipfile.ZipInfo) -> None:
    """Refuse entries whose names climb out of the bundle or that are links, before any read."""
    stored = info.filename
    parts = stored.split("/")
    if (
        stored.startswith("/")
        or "\\" in stored
        or "\0" in stored
        or _DRIVE.match(stored)
        or any(part == ".." for part in parts)
    ):
        raise InputError(
            f"{zip_name} has an entry named '{stored}' that points outside the bundle, which no "
            f"export makes; it may be unsafe, so it was not read; {_EXPORT_AGAIN}."
        )
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        raise InputError(
            f"{zip_name} has an entry '{stored}' that is a link to another file, which no export "
            f"makes; it may be unsafe, so it was not read; {_EXPORT_AGAIN}."
        )


def _unreadable(name: str, exc: OSError) -> InputError:
    reason = exc.strerror or type(exc).__name__
    return InputError(
        f"{name} could not be read ({reason}); check that you may open it, then try again."
    )


def _too_big(name: str, limit: int) -> InputError:
    return InputError(
        f"{name} holds more than {limit // MB} MB of data, the limit for a bundle, so it was not "
        "read (a zip that unpacks that far may be damaged or unsafe); ask your administrator to "
        "raise the limit (setting PORTAL_MAX_UNPACKED_MB) if the export is really that large."
    )


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a byte-order mark is fine), or a message saying which line is not."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{source} is saved as UTF-16, not UTF-8, so it cannot be read; {_EXPORT_AGAIN} as "
            "UTF-8, or open it in a text editor and save it with UTF-8 encoding."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{source} is not UTF-8 text (line {line} has a byte that is not UTF-8), so it cannot "
            f"be read; {_EXPORT_AGAIN} as UTF-8, or open it in a text editor and save it with "
            "UTF-8 encoding."
        ) from None
    if (nul := text.find("\x00")) >= 0:  # no text export has one; no database column takes one
        line = text.count("\n", 0, nul) + 1
        raise InputError(
            f"{source} line {line} holds a NUL character, which no text export has, so the file "
            f"was not read (it may be damaged); {_EXPORT_AGAIN}."
        )
    return text


# --- CSV records ------------------------------------------------------------------------------


def _reader(data: _Csv) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header cells and a stream of (first line number, cells) for each non-blank record."""
    reader = csv.reader(io.StringIO(data.text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(
            f"{data.source} line 1 cannot be read as CSV ({exc}); {_EXPORT_AGAIN}."
        ) from None
    if not header or not any(cell.strip() for cell in header):
        raise InputError(
            f"{data.source} has no header row on line 1, so its columns are unknown; "
            f"{_EXPORT_AGAIN}."
        )

    def records() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise InputError(
                    f"{data.source} line {start} cannot be read as CSV ({exc}); {_EXPORT_AGAIN}."
                ) from None
            if row is None:
                return
            if any(cell.strip() for cell in row):
                yield start, row
            start = reader.line_num + 1

    return header, records()


def _header(data: _Csv) -> dict[str, int]:
    """Column name (lower case) -> index; OneRoster names are camelCase, exports vary in case."""
    header, _ = _reader(data)
    return _index(header)


def _index(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if key:
            found.setdefault(key, i)
    return found


def _columns(
    data: _Csv, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[dict[str, int | None], Iterator[tuple[int, list[str]]]]:
    """Indexes of the columns used (None when absent) and the records; required ones must exist."""
    header, records = _reader(data)
    index = _index(header)
    missing = [name for name in required if name.lower() not in index]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        present = ", ".join(h.strip() for h in header if h.strip())
        raise InputError(
            f"{data.source} has no {', '.join(missing)} column{plural}, which OneRoster requires "
            f"and the import needs (its header row has: {present}); {_EXPORT_AGAIN}."
        )
    return {name: index.get(name.lower()) for name in (*required, *optional)}, records


def _cell(row: list[str], i: int | None) -> str:
    if i is None or i >= len(row):
        return ""
    return row[i].strip()


def _id_list(text: str) -> list[str]:
    """A comma-separated list of sourcedIds, blanks and repeats dropped, order kept."""
    if not text:
        return []
    if "," not in text:
        return [text]
    parts = [part.strip() for part in text.split(",")]
    parts = [part for part in parts if part]
    return parts if len(set(parts)) == len(parts) else list(dict.fromkeys(parts))


def _manifest_version(data: _Csv | None) -> str:
    """``oneroster.version`` from manifest.csv; a manifest without it is simply not used."""
    if data is None:
        return ""
    header, records = _reader(data)
    index = _index(header)
    name, value = index.get("propertyname"), index.get("value")
    if name is None or value is None:
        return ""
    for _line, row in records:
        if _cell(row, name).lower() == "oneroster.version":
            return _cell(row, value)
    return ""


# --- orgs, roles, users -----------------------------------------------------------------------


@dataclass(slots=True)
class _Org:
    line: int
    kind: str  # school, district, department, ...
    code: str  # its identifier, else its sourcedId
    name: str
    parent: str  # parentSourcedId, blank at the top


@dataclass
class _Orgs:
    """The Schools table and what students need: every org by sourcedId, schools' codes.

    A student placed in a department or a district belongs to the school above it: up the
    ``parentSourcedId`` chain, the first school. Where the chain ends without one, the org it
    ends at stands for the school (the top org, or a parent that orgs.csv does not list), and
    is added to the Schools table so the student can be imported.
    """

    table: InputTable
    orgs: dict[str, _Org] = field(default_factory=dict)
    school_codes: dict[str, str] = field(default_factory=dict)
    present: bool = True

    def school_of(self, sourced_id: str) -> str | None:
        """The code of the school an org listed in orgs.csv is, or belongs to."""
        seen: set[str] = set()
        line = 0
        while sourced_id not in seen:
            seen.add(sourced_id)
            if sourced_id in self.school_codes:
                return self.school_codes[sourced_id]
            org = self.orgs.get(sourced_id)
            if org is None:  # a parent that orgs.csv does not list
                return self._stands_for_school(sourced_id, sourced_id, sourced_id, line)
            if not org.parent:
                return self._stands_for_school(sourced_id, org.code, org.name, org.line)
            line, sourced_id = org.line, org.parent
        return None  # parentSourcedIds that go round in a circle name no school

    def _stands_for_school(self, sourced_id: str, code: str, name: str, line: int) -> str:
        self.school_codes[sourced_id] = code
        rows = cast(list[tuple[int, list[Any]]], self.table.rows)
        rows.append((line, [code, name or code]))
        rows.sort(key=lambda row: row[0])
        return code


def _read_orgs(data: _Csv | None) -> _Orgs:
    headers = [c.name for c in SCHOOL_COLUMNS]
    if data is None:
        return _Orgs(InputTable(headers, [], source_name=None), present=False)
    cols, records = _columns(data, ("sourcedId", "name", "type"), ("identifier", "parentSourcedId"))
    sid, name, kind, ident = cols["sourcedId"], cols["name"], cols["type"], cols["identifier"]
    rows: list[tuple[int, list[Any]]] = []
    orgs = _Orgs(InputTable(headers, rows, source_name=data.source, source_sha256=data.sha256))
    for line, row in records:
        sourced_id = _cell(row, sid)
        code = _cell(row, ident) or sourced_id
        org = _Org(line, _cell(row, kind).lower(), code, _cell(row, name), "")
        org.parent = _cell(row, cols["parentSourcedId"])
        orgs.orgs.setdefault(sourced_id, org)
        if org.kind != "school":
            continue
        orgs.school_codes.setdefault(sourced_id, code)
        values = {"SCHOOL_CODE": code or None, "SCHOOL_NAME": org.name or None}
        rows.append((line, [values.get(h) for h in headers]))
    return orgs


@dataclass(slots=True)
class _Role:
    role: str
    primary: bool
    org: str
    line: int


def _read_roles(data: _Csv) -> dict[str, list[_Role]]:
    """OneRoster 1.2 roles by user, primary roles first, each group in file order."""
    cols, records = _columns(data, ("userSourcedId", "role", "orgSourcedId"), ("roleType",))
    user, role, org, kind = (
        cols["userSourcedId"],
        cols["role"],
        cols["orgSourcedId"],
        cols["roleType"],
    )
    by_user: dict[str, list[_Role]] = {}
    for line, row in records:
        primary = _cell(row, kind).lower() == "primary"
        by_user.setdefault(_cell(row, user), []).append(
            _Role(_cell(row, role), primary, _cell(row, org), line)
        )
    for roles in by_user.values():
        roles.sort(key=lambda r: not r.primary)
    return by_user


@dataclass(slots=True)
class _User:
    line: int
    sourced_id: str
    key: str  # identifier, else sourcedId: the ID the district knows the person by
    given: str
    family: str
    email: str
    inactive: bool
    deleted: bool  # status tobedeleted: the export says this person is gone
    grade: str
    roles: list[str]
    orgs: list[tuple[str, str]]  # (org sourcedId, where the bundle says so) in order of trust
    agents: list[str]
    student: bool = False
    contact: tuple[str, str] | None = None  # (RELATIONSHIP, GUARDIAN)


USER_CELLS = (
    "sourcedId",
    "givenName",
    "familyName",
    "identifier",
    "email",
    "status",
    "enabledUser",
    "grades",
    "agentSourcedIds",
    "orgSourcedIds",
    "primaryOrgSourcedId",
    "role",
)
"""The users.csv columns read, in the order ``_read_user`` takes them."""


def _read_users(data: _Csv, roles: dict[str, list[_Role]] | None) -> list[_User]:
    """Every users.csv line; with ``roles`` (1.2) the roles come from roles.csv."""
    required: tuple[str, ...] = ("sourcedId", "givenName", "familyName")
    if roles is None:
        required = (*required, "role", "orgSourcedIds")
    optional = tuple(name for name in USER_CELLS if name not in required)
    cols, records = _columns(data, required, optional)
    pick = _picker([cols[name] for name in USER_CELLS])
    return [_read_user(line, pick(row), roles) for line, row in records]


def _picker(indexes: list[int | None]) -> Callable[[list[str]], list[str]]:
    """``pick(row)``: the row's cells at ``indexes``, stripped; '' for a column the file lacks
    (None) or a cell past the row's end. One call per row, not one per cell."""
    width = max((i for i in indexes if i is not None), default=-1) + 1
    get = itemgetter(*(-1 if i is None else i for i in indexes))  # -1: the '' added at the end

    def pick(row: list[str]) -> list[str]:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        row.append("")
        return [cell.strip() for cell in get(row)]

    return pick


def _read_user(line: int, cells: list[str], roles: dict[str, list[_Role]] | None) -> _User:
    sourced_id, given, family, key, email, status, enabled, grades, agents, *rest = cells
    orgs, primary_org, role = rest
    status = status.lower()
    user = _User(
        line=line,
        sourced_id=sourced_id,
        key=key or sourced_id,
        given=given,
        family=family,
        email=email,
        inactive=status in _INACTIVE_STATUSES or enabled.lower() in _FALSE,
        deleted=status == "tobedeleted",
        grade=grades.split(",", 1)[0].strip(),
        roles=[],
        orgs=[],
        agents=_id_list(agents),
    )
    _set_roles(user, role, roles)
    user.orgs += [(o, f"orgSourcedIds names '{o}'") for o in _id_list(orgs)]
    if primary_org:
        user.orgs.append((primary_org, f"primaryOrgSourcedId names '{primary_org}'"))
    lowered = [r.lower() for r in user.roles]
    user.student = STUDENT in lowered
    user.contact = next((CONTACT_ROLES[r] for r in lowered if r in CONTACT_ROLES), None)
    return user


def _set_roles(user: _User, role: str, roles: dict[str, list[_Role]] | None) -> None:
    """The role column (1.1), or the person's roles.csv lines (1.2), whose student roles
    also say which orgs the student is in."""
    if roles is None:
        user.roles = [role] if role else []
        return
    own = roles.get(user.sourced_id, []) if user.sourced_id else []
    user.roles = [r.role for r in own]
    user.orgs = [
        (r.org, f"{ROLES} line {r.line} gives the student the org '{r.org}'")
        for r in own
        if r.role.lower() == STUDENT and r.org
    ]


# --- the Students and Contacts tables ---------------------------------------------------------


_BLANK_ID = (
    "sourcedId is blank, so no other row can refer to this person; "
    f"{_EXPORT_AGAIN} with a sourcedId for everyone."
)


def _students_table(users: list[_User], orgs: _Orgs, data: _Csv) -> InputTable:
    headers = [c.name for c in STUDENT_COLUMNS]
    rows: list[tuple[int, list[Any]]] = []
    table = InputTable(headers, rows, source_name=data.source, source_sha256=data.sha256)
    for user in users:
        if not user.student:
            continue
        school, note = _school_of(user, orgs, data)
        values = {
            "STUDENT_ID": user.key or None,
            "FIRST_NAME": user.given or None,
            "LAST_NAME": user.family or None,
            "GRADE": user.grade or None,
            "SCHOOL": school,
            "STATUS": "INACTIVE" if user.inactive else "ACTIVE",
            "STUDENT_EMAIL": user.email or None,
        }
        rows.append((user.line, [values.get(h) for h in headers]))
        notes = []
        if not user.sourced_id:
            notes.append(f"{data.name} line {user.line}: {_BLANK_ID}")
        if note:
            notes.append(note)
        if notes:
            table.notes.setdefault(user.line, []).extend(notes)
    return table


def _school_of(user: _User, orgs: _Orgs, data: _Csv) -> tuple[str | None, str | None]:
    """The code of the student's first org that is a school, else of the school above their
    first other org (a department, a district), or a note if no org is in orgs.csv."""
    listed = [org for org, _ in user.orgs if org in orgs.orgs]
    for org in sorted(listed, key=lambda org: org not in orgs.school_codes):
        code = orgs.school_of(org)
        if code:
            return code, None
    unknown = next((where for org, where in user.orgs if org not in orgs.orgs), None)
    if unknown is None:
        return None, None
    missing = f"which is not in {ORGS}" if orgs.present else f"but the bundle has no {ORGS}"
    return None, (
        f"{data.name} line {user.line}: {unknown}, {missing}, so the student's school is "
        f"unknown; add the school to {ORGS} or correct the ID in the student information system."
    )


def _wrong_agent(ref: str, user: _User | None, side: str, roles_from: str) -> str:
    """Why ``ref`` is no link: on a contact's list (side 'student') or a student's list."""
    if user is None:
        return (
            f"agentSourcedIds names '{ref}', who is not in {USERS}; correct the ID, or "
            f"{_EXPORT_AGAIN} with everyone it names."
        )
    if user.roles:
        words = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", role).lower() for role in user.roles]
        who = "who is " + " and ".join(_a(word) for word in dict.fromkeys(words))
    else:
        who = f"who has no role in {roles_from}"
    if side == STUDENT:
        rule = "not a student; only students can be on a guardian's list"
    else:
        rule = (
            "not a parent, guardian or relative; only they can be on a student's list of contacts"
        )
    return (
        f"agentSourcedIds names '{ref}', {who}, {rule}; remove it or correct it in the student "
        "information system."
    )


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


@dataclass(slots=True)
class _Link:
    student: _User
    contact: _User
    line: int  # the line that states the link: the contact's own, else the student's
    order: int  # when it was found, which orders the rows of one line


def _contacts_table(users: list[_User], data: _Csv, roles_from: str) -> InputTable:
    """One row per (student, contact) pair from either side's agentSourcedIds, once each.

    Pairs are numbered per student in the order the contacts appear in users.csv (PRIORITY).
    A reference that cannot be a pair still gets a row, with the reason in ``notes``, so the
    import log shows it against its line; notes are kept by line, so the other rows of that
    line carry the same reason. A contact marked tobedeleted is left out (a roster import adds
    and updates, so putting a deleted guardian on a card would undo the deletion), and so is a
    student's reference to one.
    """
    headers = [c.name for c in CONTACT_COLUMNS]
    table = InputTable(headers, [], source_name=data.source, source_sha256=data.sha256)
    pairs = _Pairs(users, data, roles_from, table)
    contacts = [u for u in users if u.contact is not None and not u.deleted]
    for contact in contacts:
        pairs.read_contact_side(contact)
    for student in users:
        if student.student:
            pairs.read_student_side(student)
    for contact in contacts:
        pairs.note_if_unlinked(contact)
    rows = pairs.rows + pairs.link_rows()
    rows.sort(key=itemgetter(0, 1))
    table.rows = [(line, cells) for line, _order, cells in rows]
    return table


class _Pairs:
    """The contacts table's rows as they are found: links, and problems noted against lines.

    Each row keeps the order it was found in, which orders the rows of one line.
    """

    def __init__(self, users: list[_User], data: _Csv, roles_from: str, table: InputTable) -> None:
        self.data = data
        self.roles_from = roles_from
        self.table = table
        self.by_id: dict[str, _User] = {}
        for user in users:
            if user.sourced_id:
                self.by_id.setdefault(user.sourced_id, user)
        self.rows: list[tuple[int, int, list[str | None]]] = []
        self.links: dict[tuple[int, int], _Link] = {}
        self.lines_with_rows: set[int] = set()

    def _add_link(self, student: _User, contact: _User, line: int) -> None:
        pair = (id(student), id(contact))
        if pair not in self.links:
            self.links[pair] = _Link(student, contact, line, len(self.rows) + len(self.links))
            self.lines_with_rows.add(contact.line)

    def _add_note(self, line: int, text: str) -> None:
        self.table.notes.setdefault(line, []).append(f"{self.data.name} line {line}: {text}")

    def _add_problem(self, line: int, text: str, values: dict[str, str | None]) -> None:
        self._add_note(line, text)
        cells = [values.get(h) for h in CONTACT_HEADERS]
        self.rows.append((line, len(self.rows) + len(self.links), cells))
        self.lines_with_rows.add(line)

    def read_contact_side(self, contact: _User) -> None:
        """The students a contact's own agentSourcedIds names."""
        if not contact.sourced_id:
            self._add_note(contact.line, _BLANK_ID)
        for ref in contact.agents:
            student = self.by_id.get(ref)
            if student is not None and student.student:
                self._add_link(student, contact, contact.line)
            elif not (contact.student and student is not None and student.contact is not None):
                # (someone both student and contact: the student side reads that reference)
                self._add_problem(
                    contact.line,
                    _wrong_agent(ref, student, STUDENT, self.roles_from),
                    {"STUDENT_ID": ref, **_contact_values(contact)},
                )

    def read_student_side(self, student: _User) -> None:
        """The contacts a student's agentSourcedIds names; deleted contacts are passed over."""
        for ref in student.agents:
            agent = self.by_id.get(ref)
            if agent is not None and agent.contact is not None:
                if not agent.deleted:
                    self._add_link(student, agent, student.line)
            elif not (student.contact is not None and agent is not None and agent.student):
                self._add_problem(
                    student.line,
                    _wrong_agent(ref, agent, "contact", self.roles_from),
                    {"STUDENT_ID": student.key or None, "CONTACT_ID": ref},
                )

    def note_if_unlinked(self, contact: _User) -> None:
        """A contact line that gave no row at all gets one, saying no student is linked."""
        if contact.line in self.lines_with_rows or contact.contact is None:
            return
        self._add_problem(
            contact.line,
            f"{contact.given} {contact.family} ({contact.key}) is a "
            f"{contact.contact[0].lower()} but no student is linked: agentSourcedIds is "
            "blank and no student lists them; add their students to agentSourcedIds in the "
            "student information system.",
            {"STUDENT_ID": None, **_contact_values(contact)},
        )

    def link_rows(self) -> list[tuple[int, int, list[str | None]]]:
        """A row per link, numbered per student in the order of the contacts' lines."""
        by_student: dict[int, list[_Link]] = {}
        for link in self.links.values():
            by_student.setdefault(id(link.student), []).append(link)
        cells_of: dict[int, list[str | None]] = {}  # each contact's cells, made once
        rows: list[tuple[int, int, list[str | None]]] = []
        for student_links in by_student.values():
            if len(student_links) > 1:
                student_links.sort(key=lambda k: k.contact.line)
            for position, link in enumerate(student_links, start=1):
                contact = link.contact
                if (cells := cells_of.get(id(contact))) is None:
                    cells = cells_of[id(contact)] = _contact_cells(contact)
                cells = cells.copy()
                cells[_STUDENT_AT] = link.student.key or None
                cells[_PRIORITY_AT] = str(min(position, MAX_PRIORITY))
                rows.append((link.line, link.order, cells))
        return rows


def _contact_values(contact: _User) -> dict[str, str | None]:
    relationship, guardian = contact.contact or ("", "")
    return {
        "CONTACT_ID": contact.key or None,
        "FIRST_NAME": contact.given or None,
        "LAST_NAME": contact.family or None,
        "RELATIONSHIP": relationship or None,
        "EMAIL": contact.email or None,
        "GUARDIAN": guardian or None,
        "PORTAL_ACCESS": "Y",
    }


CONTACT_HEADERS = [c.name for c in CONTACT_COLUMNS]
_STUDENT_AT = CONTACT_HEADERS.index("STUDENT_ID")
_PRIORITY_AT = CONTACT_HEADERS.index("PRIORITY")


def _contact_cells(contact: _User) -> list[str | None]:
    """The contact's cells of a Contacts row, STUDENT_ID and PRIORITY blank."""
    values = _contact_values(contact)
    return [values.get(h) for h in CONTACT_HEADERS]
