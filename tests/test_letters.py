"""`portal letters` on SQLite and PostgreSQL: printed activation letters with one-time codes.

What is asserted is what staff and parents see: the log's rows, the mail-merge workbook read
back with openpyxl, the PDF opened and a page rendered with pypdfium2, and whether a letter's
code activates its account (once, and never after it expired or was replaced).
"""

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2
import pytest
from factories import LINK_HEADERS, SMALL_DISTRICT, input_table
from helpers import read_log, run_cli
from libreoffice import convert, ods_sheet
from sqlalchemy import Engine, func, select
from test_activation import PASSWORD, every_stored_text

from addin.files.letters import COLUMNS
from backend.database.engine import write_transaction
from backend.database.models import ActivationToken, Batch, OutboxMessage, PortalUser, utcnow
from backend.errors import InputError
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import (
    CODE_ALPHABET,
    INVALID_LINK,
    activate,
    issue_token,
    verify_password,
)
from backend.mail.activation_send import Choice, send_activation
from backend.settings import get_settings

USERS = (
    ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "STATUS", "LANGUAGE"],
    [
        ["ana@example.org", "Ana", "Ruiz", "GUARDIAN", None, None, "Spanish"],
        ["ben@example.org", "Ben", "Lee", "GUARDIAN", None, None, "English"],
        ["cal.lee", "Łukasz", "Дмитрий", "STUDENT", None, None, None],  # a username, no EMAIL
        ["dan@example.org", "Dan", "Lee", "GUARDIAN", None, "DISABLED", None],
        ["fay.wong", "芳", "王", "STUDENT", None, None, None],  # a name the font cannot print
    ],
)
LINKS = [
    ["ana@example.org", "00123", "Mother"],
    ["ben@example.org", "456", "Father"],
    ["cal.lee", "00123", "Self"],
    ["dan@example.org", "00123", "Father"],
    ["fay.wong", "456", "Self"],
]


@pytest.fixture
def district(engine: Engine) -> Engine:
    """Lincoln (101) and Wash (201); five accounts, two of them without an email address."""
    import_roster(engine, apply=True, **SMALL_DISTRICT.tables())
    users = import_users(engine, input_table(*USERS, source_name="users.xlsx"), apply=True)
    links = import_links(engine, input_table(LINK_HEADERS, LINKS), apply=True)
    assert users.counts["error"] == links.counts["error"] == 0
    return engine


def nothing_saved(engine: Engine) -> bool:
    """No code made and no letters batch recorded."""
    with engine.connect() as connection:
        batches = connection.execute(select(func.count()).where(Batch.kind == "Activation letters"))
        return tokens(engine) == [] and batches.scalar_one() == 0


def letters(
    capsys: pytest.CaptureFixture[str], database_url: str, folder: Path, *args: str
) -> tuple[Any, Path, Path]:
    book, pdf = folder / "letters.xlsx", folder / "letters.pdf"
    result = run_cli(
        capsys,
        "--db",
        database_url,
        "letters",
        *args,
        "--out",
        str(book),
        "--pdf",
        str(pdf),
    )
    return result, book, pdf


def mail_merge_rows(book: Path) -> dict[str, dict[str, Any]]:
    """The Letters sheet: each row by its LOGONID, as column -> value."""
    sheet = openpyxl.load_workbook(book)["Letters"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    return {row[0]: dict(zip(values[0], row, strict=True)) for row in values[1:]}


def tokens(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(ActivationToken).order_by(ActivationToken.id)))


def refused(engine: Engine, logon: str, code: str, **kwargs: Any) -> str:
    with pytest.raises(InputError) as caught:
        activate(engine, code, PASSWORD, logon=logon, **kwargs)
    return str(caught.value)


def pdf_pages(pdf: Path) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def test_a_simulation_lists_who_would_get_a_letter_and_makes_no_code(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "letters.simulation.xlsx"
    result = run_cli(capsys, "--db", database_url, "letters", "--not-activated", "--out", str(log))
    assert result.code == 0, result.stderr
    assert "SIMULATION" in result.stdout
    summary, rows = read_log(log)
    assert {r.key: r.action for r in rows} == {
        "ana@example.org": "added",
        "ben@example.org": "added",
        "cal.lee": "added",
        "dan@example.org": "skipped",
        "fay.wong": "added",
    }
    reasons = {r.key: r.reason for r in rows}
    assert reasons["ana@example.org"].startswith("Letter in Spanish, code until ")
    assert "disabled" in reasons["dan@example.org"]
    assert summary["Letters made"] == 0
    assert "(the code: made when you apply)" in summary["Letter 1"]
    assert tokens(district) == []  # no code made
    assert not (tmp_path / "letters.pdf").exists()
    with district.connect() as connection:
        batch = connection.execute(select(Batch).order_by(Batch.id.desc()).limit(1)).one()
    assert (batch.kind, batch.mode, batch.added, batch.skipped) == (
        "Activation letters",
        "simulation",
        4,
        1,
    )


def test_apply_writes_a_mail_merge_row_and_a_page_per_letter(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, book, pdf = letters(
        capsys, database_url, tmp_path, "--not-activated", "--without-email", "--apply"
    )
    assert result.code == 0, result.stderr
    assert "2 letters to print" in result.stdout
    _, log_rows = read_log(book)
    actions = {r.key: r.action for r in log_rows}
    assert actions == {
        "ana@example.org": "skipped",
        "ben@example.org": "skipped",
        "cal.lee": "added",
        "dan@example.org": "skipped",
        "fay.wong": "added",
    }
    assert "has an email address (ana@example.org)" in next(
        r.reason for r in log_rows if r.key == "ana@example.org"
    )
    rows = mail_merge_rows(book)
    assert list(rows) == ["cal.lee", "fay.wong"]
    cal = rows["cal.lee"]
    assert (cal["FIRST_NAME"], cal["LAST_NAME"], cal["LANGUAGE"]) == (
        "Łukasz",
        "Дмитрий",
        "English",
    )
    assert (cal["STUDENTS"], cal["STUDENT_IDS"]) == ("Ava Lee", "00123")
    assert cal["ADDRESS_LINE_1"] is None and cal["POSTAL_CODE"] is None  # the roster has none
    assert cal["ACTIVATION_ADDRESS"] == get_settings().activation_url
    expires = (utcnow() + timedelta(days=30)).date().isoformat()
    assert cal["CODE_EXPIRES"] == expires
    code = cal["ACTIVATION_CODE"]
    assert len(code) == 14 and code[4] == code[9] == "-"
    assert set(code.replace("-", "")) <= set(CODE_ALPHABET)

    pages = pdf_pages(pdf)
    assert len(pages) == 2
    assert "Dear Łukasz Дмитрий," in pages[0] and code in pages[0]
    assert "Logon: cal.lee" in pages[0] and expires in pages[0]
    # The font has no Chinese letters: printed as '?', and the log says to write them in.
    assert "Dear ? ?," in pages[1]
    fay = next(r for r in log_rows if r.key == "fay.wong")
    assert fay.warning is not None and "芳" in fay.warning and "by hand" in fay.warning

    document = pypdfium2.PdfDocument(pdf)
    image = document[0].render(scale=1).to_pil().convert("L")
    document.close()
    dark = sum(image.histogram()[:128])
    assert image.size[0] > 500 and dark > 2000  # text on the page, not a blank sheet


def test_libreoffice_reads_the_mail_merge_sheet(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, book, _ = letters(capsys, database_url, tmp_path, "--logon", "cal.lee", "--apply")
    assert result.code == 0, result.stderr
    # An independent reader sees the same sheet, every filled cell as text.
    merged = ods_sheet(convert(book, "ods", tmp_path), "Letters")
    code = mail_merge_rows(book)["cal.lee"]["ACTIVATION_CODE"]
    assert [c.text for c in merged[0]] == list(COLUMNS)
    assert [c.text for c in merged[1]][:3] == ["cal.lee", "Łukasz", "Дмитрий"]
    assert code in [c.text for c in merged[1]]
    assert {c.value_type for c in merged[1] if c.text} == {"string"}


def test_a_letter_in_the_accounts_language(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--logon", "ana@example.org", "--logon", "ben@example.org", "--apply")
    result, book, pdf = letters(capsys, database_url, tmp_path, *args)
    assert result.code == 0, result.stderr
    spanish, english = pdf_pages(pdf)
    assert "Estimado/a Ana Ruiz:" in spanish
    assert (
        "Código de activación: " + mail_merge_rows(book)["ana@example.org"]["ACTIVATION_CODE"]
        in spanish
    )
    assert "Dear Ben Lee," in english and "Activation code: " in english


def test_a_letters_code_activates_its_account_once(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, book, _ = letters(capsys, database_url, tmp_path, "--logon", "cal.lee", "--apply")
    assert result.code == 0, result.stderr
    code = mail_merge_rows(book)["cal.lee"]["ACTIVATION_CODE"]
    stored = tokens(district)
    assert [(t.kind, t.failed_attempts) for t in stored] == [("letter", 0)]
    # Stored only as a keyed hash: neither the code nor its plain SHA-256 is anywhere.
    everything = every_stored_text(district)
    for form in (code, code.replace("-", "")):
        assert form not in everything
        assert hashlib.sha256(form.encode()).hexdigest() not in everything

    made_up = "ABCD-EFGH-JKMN"
    assert refused(district, "cal.lee", made_up) == INVALID_LINK
    assert refused(district, "nobody", code) == INVALID_LINK  # another logon
    # Typed as a parent might: small letters, spaces instead of dashes, O for 0.
    typed = code.lower().replace("-", " ").replace("0", "o")
    assert activate(district, typed, PASSWORD, logon="Cal.Lee") == "cal.lee"
    assert verify_password(district, "cal.lee", PASSWORD)
    assert refused(district, "cal.lee", code) == INVALID_LINK  # a second try


def test_an_expired_code_and_too_many_wrong_codes_get_the_same_message(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--logon", "cal.lee", "--logon", "fay.wong", "--apply")
    result, book, _ = letters(capsys, database_url, tmp_path, *args)
    assert result.code == 0, result.stderr
    codes = {k: v["ACTIVATION_CODE"] for k, v in mail_merge_rows(book).items()}
    later = utcnow() + timedelta(days=30, minutes=1)
    assert refused(district, "cal.lee", codes["cal.lee"], now=later) == INVALID_LINK
    limit = get_settings().letter_code_attempts
    for _ in range(limit):
        assert refused(district, "fay.wong", "2222-2222-2222") == INVALID_LINK
    assert refused(district, "fay.wong", codes["fay.wong"]) == INVALID_LINK  # too many tries
    # Cal's code was never spent by the expired try, nor counted against by Fay's.
    assert activate(district, codes["cal.lee"], PASSWORD, logon="cal.lee") == "cal.lee"


def test_a_new_letter_replaces_older_links_and_codes(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with write_transaction(district) as connection:
        ben = connection.execute(
            select(PortalUser.id).where(PortalUser.logon_key == "ben@example.org")
        ).scalar_one()
        link = issue_token(connection, ben)
    queued = send_activation(district, Choice(logons=("ben@example.org",)), apply=True)
    assert queued.counts["added"] == 1
    first, book, _ = letters(
        capsys, database_url, tmp_path, "--logon", "ben@example.org", "--apply"
    )
    assert first.code == 0, first.stderr
    old_code = mail_merge_rows(book)["ben@example.org"]["ACTIVATION_CODE"]
    second, book, _ = letters(
        capsys, database_url, tmp_path, "--logon", "ben@example.org", "--apply"
    )
    assert second.code == 0, second.stderr
    new_code = mail_merge_rows(book)["ben@example.org"]["ACTIVATION_CODE"]
    with district.connect() as connection:
        status = connection.execute(select(OutboxMessage.status, OutboxMessage.last_error)).one()
    assert status.status == "skipped" and "letter" in status.last_error
    with pytest.raises(InputError, match="not valid"):
        activate(district, link, PASSWORD)  # the link made before the letters
    assert refused(district, "ben@example.org", old_code) == INVALID_LINK
    assert activate(district, new_code, PASSWORD, logon="ben@example.org") == "ben@example.org"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "Choose the accounts"),
        (("--school", "999"), "There is no school with code '999'"),
        (("--logon", "cal.lee", "--pdf", "letters.txt"), "--pdf must name a .pdf file"),
    ],
)
def test_a_choice_that_cannot_be_used_writes_nothing(
    district: Engine,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    said: str,
) -> None:
    folder = tmp_path / "letters"
    folder.mkdir()
    book = folder / "letters.xlsx"
    result = run_cli(capsys, "--db", database_url, "letters", "--apply", "--out", str(book), *args)
    assert result.code == 2 and said in result.stderr
    assert list(folder.iterdir()) == []
    assert nothing_saved(district)


def test_letters_that_cannot_be_written_leave_no_code(
    district: Engine,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from addin.files import letters as letter_files

    def full_disk(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(letter_files, "write_letters_pdf", full_disk)
    folder = tmp_path / "letters"
    folder.mkdir()
    result, _, _ = letters(capsys, database_url, folder, "--logon", "cal.lee", "--apply")
    assert result.code == 2
    assert "No space left on device" in result.stderr and "no code was made" in result.stderr
    assert list(folder.iterdir()) == []  # the half-written workbook is gone too
    assert nothing_saved(district)


def test_letters_saved_but_not_moved_in_place_say_to_run_again(
    district: Engine,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from addin.files import letters as letter_files

    def locked(*_: Any) -> None:
        raise OSError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(letter_files, "write_result_workbook", locked)
        result, book, _ = letters(capsys, database_url, tmp_path, "--logon", "cal.lee", "--apply")
    assert result.code == 3
    assert "could not all be written" in result.stderr and "run the same command" in result.stderr
    assert not book.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    again, book, _ = letters(capsys, database_url, tmp_path, "--logon", "cal.lee", "--apply")
    assert again.code == 0, again.stderr
    code = mail_merge_rows(book)["cal.lee"]["ACTIVATION_CODE"]
    assert activate(district, code, PASSWORD, logon="cal.lee") == "cal.lee"


def test_disabling_an_account_kills_its_letters_code(
    district: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, book, _ = letters(capsys, database_url, tmp_path, "--logon", "cal.lee", "--apply")
    assert result.code == 0, result.stderr
    code = mail_merge_rows(book)["cal.lee"]["ACTIVATION_CODE"]
    headers = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "STATUS"]
    for status in ("DISABLED", "ACTIVE"):
        table = input_table(headers, [["cal.lee", None, None, "STUDENT", status]])
        assert import_users(district, table, apply=True).counts["updated"] == 1
    assert refused(district, "cal.lee", code) == INVALID_LINK  # enabling revives no code
