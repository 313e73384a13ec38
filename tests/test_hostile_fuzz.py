"""Random damage to a workbook's parts and to a OneRoster bundle's files, for a few seconds
each: every outcome is a table or one ``InputError``, never another exception."""

import io
import tempfile
import zipfile
from pathlib import Path

import bad_workbooks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addin.files.oneroster import read_oneroster
from addin.workbooks.file import read_table
from backend.errors import InputError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
PARTS = [bad_workbooks.SHEET_PART, bad_workbooks.WORKBOOK_PART, "[Content_Types].xml"]
_BASE = Path(tempfile.mkdtemp(prefix="fuzz-base-"))
BASE_WORKBOOK = bad_workbooks.users_workbook(_BASE)


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    """One part of the users workbook with a slice replaced by random bytes or markup."""
    part = draw(st.sampled_from(PARTS))
    with zipfile.ZipFile(BASE_WORKBOOK) as zf:
        data = zf.read(part)
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 40)))
    insert = draw(
        st.one_of(
            st.binary(max_size=24),
            st.sampled_from(
                [
                    b"\x00",
                    b'<c r="XFD1048576"><v>1</v></c>',
                    b'r="A99999999"',
                    b"</row>",
                    b'<row r="1048577">',
                    b't="s"',
                    b"<!--",
                    b"&lol;",
                    b"\xff\xfe",
                ]
            ),
        )
    )
    return part, data[:start] + insert + data[end:]


@FUZZ
@given(damaged())
def test_a_damaged_workbook_is_read_or_refused_with_one_message(change: tuple[str, bytes]) -> None:
    part, data = change
    with tempfile.TemporaryDirectory() as folder:
        path = bad_workbooks.rewrite_zip(
            BASE_WORKBOOK, Path(folder) / "fuzz.xlsx", change={part: lambda _: data}
        )
        try:
            table, _ = read_table(path, preferred=["Users"])
        except InputError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip()
        else:
            assert len(table.rows) <= 1_048_576


USERS_HEADER = "sourcedId,status,role,givenName,familyName,email,agentSourcedIds,identifier\n"


@FUZZ
@given(
    st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=9).map(",".join), max_size=6),
    st.binary(max_size=64),
)
def test_a_damaged_bundle_is_read_or_refused_with_one_message(
    lines: list[str], noise: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        bundle = Path(folder)
        (bundle / "users.csv").write_bytes(
            (USERS_HEADER + "\n".join(lines)).encode("utf-8", "surrogatepass") + noise
        )
        (bundle / "orgs.csv").write_text("sourcedId,name,type,identifier\nS1,School,school,1\n")
        try:
            read_oneroster(bundle)
        except InputError as exc:
            assert str(exc).strip()


_CELL_SPELLINGS = [
    '<c r="{ref}"><v>1</v></c>',
    '<c r="{ref}" t="s"><v>0</v></c>',
    '<c s="1" r="{ref}"/>',
    "<c><v>2</v></c>",
    '<x:c r="{ref}" xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
    '<!-- <c r="{ref}"/> --><c r="{ref}"/>',
    '<c\tr="{ref}"></c>',
]


@st.composite
def sheet_xml(draw: st.DrawFn) -> bytes:
    """A worksheet of a few rows whose cells are spelt in the ways writers and attackers do."""
    rows = []
    for r in draw(st.lists(st.integers(1, 2_000_000), min_size=1, max_size=6)):
        cells = "".join(
            draw(st.sampled_from(_CELL_SPELLINGS)).format(ref=f"{column}{row}")
            for column, row in draw(
                st.lists(
                    st.tuples(st.sampled_from(["A", "Z", "AB", "XFD", "XFE"]), st.just(r)),
                    max_size=4,
                )
            )
        )
        rows.append(f'<row r="{r}">{cells}</row>')
    return (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:B2"/><cols><col min="1" max="2"/></cols>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    ).encode()


@FUZZ
@given(sheet_xml(), st.integers(1, 64))
def test_the_quick_measure_of_a_sheet_agrees_with_the_parser(xml: bytes, chunk: int) -> None:
    """Fed in chunks of any size, the scan finds the farthest cell the parser finds, and never
    fewer cells; where it cannot tell, it says so and the parser decides."""
    from addin.files.sheet_bounds import SheetScan, measure_sheet

    scan = SheetScan()
    for start in range(0, len(xml), chunk):
        scan.feed(xml[start : start + chunk])
    quick = scan.extent()
    exact = measure_sheet(io.BytesIO(xml))
    if quick is not None:
        assert (quick.last_row, quick.last_column) == (exact.last_row, exact.last_column)
        assert quick.cells >= exact.cells
        assert quick.dimension == exact.dimension == (2, 2)


def test_a_long_text_is_measured_in_one_pass() -> None:
    """A 20 MB text fed in 4 KB chunks is not copied again with each chunk."""
    import time

    from addin.files.sheet_bounds import SheetScan

    xml = (
        b'<worksheet><sheetData><row r="1"><c r="B1" t="inlineStr"><is><t>'
        + b"a" * 20_000_000
        + b'</t></is></c><c r="XFD7"/></row></sheetData></worksheet>'
    )
    started = time.process_time()
    scan = SheetScan()
    for start in range(0, len(xml), 4096):
        scan.feed(xml[start : start + 4096])
    extent = scan.extent()
    assert time.process_time() - started < 2
    assert extent is not None
    assert (extent.cells, extent.last_row, extent.last_column) == (2, 7, 16_384)
