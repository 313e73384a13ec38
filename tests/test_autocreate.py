"""AutoCreate on a district with the faults real ones have: every pair's action and reason."""

from dataclasses import replace
from typing import Any

import pytest
from factories import CONTACT_HEADERS, input_table
from sqlalchemy import Engine, insert, text

from backend.accounts.autocreate import Options, autocreate
from backend.database.models import EmailTemplate, utcnow
from backend.errors import InputError, NotFoundError
from backend.imports.contract import InputTable, Report, RowLog, RowResult
from backend.imports.links import import_links
from backend.imports.reviewed import Review
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.templates import set_template


def table(headers: list[str], *rows: list[Any]) -> InputTable:
    return input_table(headers, rows)


@pytest.fixture
def district(engine: Engine) -> Engine:
    import_roster(
        engine,
        apply=True,
        schools=table(
            ["SCHOOL_CODE", "SCHOOL_NAME"], ["101", "Lincoln Elementary"], ["301", "Roosevelt High"]
        ),
        students=table(
            ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STUDENT_EMAIL", "STATUS"],
            ["001", "Ava", "Lee", "3", "101", None, None],
            ["002", "Max", "Lee", "10", "301", "max.lee@students.example.org", None],
            ["003", "Zoe", "Ng", "4", "101", None, None],
            ["004", "Sam", "Fox", "4", "101", None, None],
            ["005", "Ida", "Roe", "5", "101", None, None],
            ["006", "Old", "Gone", "5", "101", None, "INACTIVE"],
        ),
        contacts=table(
            CONTACT_HEADERS,
            # Mia: guardian of siblings in two schools, one account for both.
            ["001", "C1", "Mia", "Lee", "Mother", "mia.lee@example.org", "Y", "Y", 1],
            ["002", "C1", "Mia", "Lee", "Mother", "mia.lee@example.org", "Y", "Y", 1],
            # The student's own email given as a guardian's.
            ["002", "C2", "Tom", "Lee", "Father", "MAX.LEE@students.example.org", "Y", "Y", 2],
            # No email; not a guardian; no portal access.
            ["001", "C3", "Ada", "Lee", "Grandmother", None, "Y", "Y", 3],
            ["001", "C4", "Bob", "Lee", "Uncle", "bob@example.org", "N", "Y", 4],
            ["003", "C5", "Kim", "Ng", "Mother", "kim@example.org", "Y", "N", 1],
            # Two parents sharing one inbox (one family).
            ["003", "C6", "Lin", "Ng", "Father", "ng.family@example.org", "Y", "Y", 2],
            ["003", "C7", "Kai", "Ng", "Stepmother", "NG.FAMILY@example.org", "Y", "Y", 3],
            # Two households, one email.
            ["004", "C8", "Pat", "Fox", "Mother", "shared@example.org", "Y", "Y", 1],
            ["005", "C9", "Jo", "Roe", "Father", "shared@example.org", "Y", "Y", 1],
            # An existing account whose logon differs from the contact's email.
            ["005", "C10", "Eve", "Roe", "Mother", "eve.new@example.org", "Y", "Y", 2],
            # An existing account with this email, not yet attached.
            ["004", "C11", "Al", "Fox", "Father", "al.fox@example.org", "Y", "Y", 2],
            ["006", "C12", "Gus", "Gone", "Father", "gus@example.org", "Y", "Y", 1],
        ),
    )
    import_users(
        engine,
        table(
            ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
            ["eve.old@example.org", "Eve", "Roe", "GUARDIAN"],
            ["al.fox@example.org", "Al", "Fox", "GUARDIAN"],
        ),
        apply=True,
    )
    import_links(
        engine, table(["LOGONID", "STUDENT_ID"], ["eve.old@example.org", "005"]), apply=True
    )
    return engine


def stored_links(engine: Engine) -> list[tuple[str, str]]:
    """Every link as (logon key, student ID), sorted."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT u.logon_key, s.student_id FROM student_links l JOIN portal_users u "
                "ON u.id = l.user_id JOIN students s ON s.id = l.student_id ORDER BY 1, 2"
            )
        )
        return [(logon, student) for logon, student in rows]


def outcome(report: Report) -> dict[str, tuple[str, str]]:
    return {r.key or "": (r.action, r.reason) for r in report.results}


def test_every_pair_gets_the_action_and_reason_an_admin_expects(district: Engine) -> None:
    simulated = autocreate(district, Options())
    applied = autocreate(district, Options(), apply=True)
    assert outcome(simulated) == outcome(applied)
    got = outcome(applied)
    assert got["001 / C1"] == (
        "added",
        "Account created and student attached (mia.lee@example.org)",
    )
    assert got["002 / C1"][0] == "added" and "same person" in got["002 / C1"][1]
    assert got["002 / C2"][0] == "skipped" and "student's own" in got["002 / C2"][1]
    assert got["001 / C3"][0] == "skipped" and "No email" in got["001 / C3"][1]
    assert got["001 / C4"][0] == "skipped" and "guardians only" in got["001 / C4"][1]
    assert got["003 / C5"][0] == "skipped" and "(rule: portal access)" in got["003 / C5"][1]
    assert got["003 / C6"][0] == "added"
    assert got["003 / C7"][0] == "skipped" and "family inbox" in got["003 / C7"][1]
    assert got["004 / C8"][0] == got["005 / C9"][0] == "skipped"
    assert "two households, one email" in got["004 / C8"][1]
    assert got["005 / C10"][0] == "added"  # a new logon; the old one stays attached
    assert got["004 / C11"] == (
        "added",
        "Student attached to the existing account al.fox@example.org",
    )
    assert "006 / C12" not in got  # inactive students are not selected
    assert applied.counts == {"added": 5, "updated": 0, "removed": 0, "skipped": 7, "error": 0}
    assert dict(applied.extra) == {
        "Accounts created": 3,
        "Students attached": 5,
        "Emails queued": 0,
    }
    assert stored_links(district) == [
        ("al.fox@example.org", "004"),
        ("eve.new@example.org", "005"),
        ("eve.old@example.org", "005"),
        ("mia.lee@example.org", "001"),
        ("mia.lee@example.org", "002"),
        ("ng.family@example.org", "003"),
    ]
    again = autocreate(district, Options(), apply=True)
    assert again.counts["added"] == 0 and dict(again.extra)["Accounts created"] == 0


def test_selection_and_switches(district: Engine) -> None:
    by_school = autocreate(district, Options(schools=["301"]))
    assert {r.key.split(" / ")[0] for r in by_school.results} == {"002"}
    by_grade = autocreate(district, Options(grades=["4"]))
    assert {r.key.split(" / ")[0] for r in by_grade.results} == {"003", "004"}
    listed = autocreate(district, Options(students=["003", "404", "006"]))
    got = outcome(listed)
    assert got["404"][0] == "error" and got["006"] == ("skipped", "Student 006 is INACTIVE")
    no_create = outcome(autocreate(district, Options(create_accounts=False)))
    assert "creating accounts is turned off" in no_create["001 / C1"][1]
    assert no_create["004 / C11"][0] == "added"
    no_attach = outcome(autocreate(district, Options(attach_existing=False)))
    assert "attaching to existing accounts is turned off" in no_attach["004 / C11"][1]
    everyone = outcome(autocreate(district, Options(guardians_only=False)))
    assert everyone["001 / C4"][0] == "added"
    assert everyone["003 / C5"][0] == "skipped"  # PORTAL_ACCESS N is never overridden
    assert "(rule: portal access)" in everyone["003 / C5"][1]
    first_only = outcome(autocreate(district, Options(max_priority=1)))
    assert "past the highest priority" in first_only["003 / C6"][1]


def test_email_preview_and_queue(district: Engine) -> None:
    set_template(
        district,
        "welcome",
        "Portal account for {{ student_names }}",
        "Dear {{ guardian_name }}, log on as {{ logon_id }}: {{ activation_link }}",
    )
    simulated = autocreate(district, Options(email_template="welcome"))
    to, subject, body = simulated.preview[0]
    assert (to, subject) == ("mia.lee@example.org", "Portal account for Ava and Max")
    assert "Dear Mia Lee, log on as mia.lee@example.org" in body
    with district.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0
    applied = autocreate(district, Options(email_template="welcome"), apply=True)
    assert dict(applied.extra)["Emails queued"] == 3
    with district.connect() as connection:
        rows = connection.execute(
            text("SELECT to_address, status, body FROM outbox ORDER BY to_address")
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        ("eve.new@example.org", "queued"),
        ("mia.lee@example.org", "queued"),
        ("ng.family@example.org", "queued"),
    ]
    assert all("[[activation-link]]" in r[2] for r in rows)


def test_an_unknown_merge_field_is_an_error_at_simulation(district: Engine) -> None:
    with pytest.raises(InputError, match="field we do not have"):
        set_template(district, "bad", "Hi", "{{ favourite_colour }} {{ activation_link }}")
    with pytest.raises(NotFoundError, match="no email template 'nope'"):
        autocreate(district, Options(email_template="nope"))
    with district.begin() as connection:  # a template stored before its fields were checked
        connection.execute(
            insert(EmailTemplate).values(
                name="old",
                subject="Hi {{ nickname }}",
                body="{{ activation_link }}",
                updated_at=utcnow(),
            )
        )
    with pytest.raises(InputError, match="nickname"):
        autocreate(district, Options(email_template="old"))
    with district.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one() == 2


def test_created_accounts_get_their_email_and_can_activate(district: Engine) -> None:
    from addin.demo.run import local_mail_server
    from backend.mail.activation import activate, verify_password
    from backend.mail.outbox import send_pending
    from backend.settings import get_settings

    autocreate(district, Options(email_template="welcome"))  # a simulation queues nothing
    with local_mail_server() as (port, received):
        settings = replace(
            get_settings(),
            **{"smtp_host": "127.0.0.1", "smtp_port": port, "send_per_minute": 100_000},
        )
        assert send_pending(district, settings=settings).sent == 0
        autocreate(district, Options(email_template="welcome"), apply=True)
        assert send_pending(district, settings=settings).sent == 3
        assert send_pending(district, settings=settings).sent == 0  # never twice
    mia = next(m for m in received if m["To"] == "mia.lee@example.org")
    assert mia["Subject"] == "Your parent portal account for Ava and Max"
    body = mia.get_content()
    assert "Dear Mia Lee," in body and "Lincoln Elementary and Roosevelt High" in body
    assert "Your logon is: mia.lee@example.org" in body
    token = body.split("token=", 1)[1].split()[0]
    assert activate(district, token, "correct horse battery") == "mia.lee@example.org"
    assert verify_password(district, "mia.lee@example.org", "correct horse battery")
    with pytest.raises(InputError, match="not valid"):
        activate(district, token, "another long password")


def test_a_run_in_parts_plans_and_writes_what_one_part_would(
    district: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state's run goes a few students at a time and keeps its rows in a file; siblings in
    different parts still share the one account made for the first, and its one email."""
    set_template(
        district, "welcome", "Portal account for {{ student_names }}", "{{ activation_link }}"
    )
    whole = autocreate(district, Options(email_template="welcome"))
    monkeypatch.setattr("backend.accounts.autocreate.PART_STUDENTS", 1)
    monkeypatch.setattr("backend.imports.contract.SPILL_ROWS", 2)
    parts = autocreate(district, Options(email_template="welcome"))
    assert isinstance(parts.results, RowLog) and len(parts.results) == len(whole.results)
    assert [(r.key, r.action, r.reason) for r in parts.results] == [
        (r.key, r.action, r.reason) for r in whole.results
    ]
    assert (parts.tallies, parts.extra, parts.preview) == (
        whole.tallies,
        whole.extra,
        whole.preview,
    )
    assert parts.preview[0][:2] == ("mia.lee@example.org", "Portal account for Ava and Max")
    applied = autocreate(
        district, Options(email_template="welcome"), apply=True, review=Review(parts.batch_id)
    )
    assert dict(applied.extra) == {
        "Accounts created": 3,
        "Students attached": 5,
        "Emails queued": 3,
        "Simulation": f"batch {parts.batch_id}: every row as simulated",
    }
    assert outcome(applied) == outcome(whole)
    with district.connect() as connection:
        mails = connection.execute(text("SELECT to_address, subject FROM outbox ORDER BY 1")).all()
    links = stored_links(district)
    assert [tuple(m) for m in mails] == [
        ("eve.new@example.org", "Portal account for Ida"),
        ("mia.lee@example.org", "Portal account for Ava and Max"),
        ("ng.family@example.org", "Portal account for Zoe"),
    ]
    assert ("mia.lee@example.org", "001") in links and ("mia.lee@example.org", "002") in links
    assert len(links) == 6


def test_a_row_log_spills_to_a_file_and_reads_back_in_order() -> None:
    rows = [RowResult(n, f"k{n}", "error" if n % 4 == 0 else "added", f"r{n}") for n in range(10)]
    rows[3].warning = "look"
    log = RowLog(rows, spill=3)
    assert len(log) == 10 and log.counts["error"] == 3 and log.warnings == 1
    assert [r.key for r in log] == [r.key for r in rows]
    assert [(a.row, b.row) for a, b in zip(log, log, strict=True)] == [(n, n) for n in range(10)]
    with pytest.raises(TypeError):
        log[0]
    log.close()
    assert RowLog(rows[:2])[1].key == "k1"


def test_a_run_in_parts_reads_only_the_emails_on_more_than_one_card_entry(
    district: Engine,
) -> None:
    """Every other email's one entry is on the card of the part that names it."""
    from backend.accounts.attach_rules import shared_emails

    with district.connect() as connection:
        assert shared_emails(connection) == {
            "mia.lee@example.org",  # one contact on two students' cards
            "ng.family@example.org",  # two contacts on one card
            "shared@example.org",  # two households
        }
