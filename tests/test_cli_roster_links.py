"""The roster, link and single-account commands as a user runs them on real workbooks."""

from pathlib import Path

import pytest
from factories import LINK_HEADERS, SMALL_DISTRICT, workbook
from helpers import read_log, run_cli
from sqlalchemy import create_engine, text

Capsys = pytest.CaptureFixture[str]


def test_roster_links_and_accounts_end_to_end(
    tmp_path: Path, database_url: str, capsys: Capsys
) -> None:
    db = ["--db", database_url]
    source = SMALL_DISTRICT.workbook(tmp_path / "roster.xlsx")
    simulated = run_cli(capsys, *db, "import", "roster", str(source))
    assert simulated.code == 0 and "SIMULATION" in simulated.stdout
    applied = run_cli(capsys, *db, "import", "roster", str(source), "--apply")
    assert applied.code == 0 and "8 added" in applied.stdout
    _, rows = read_log(tmp_path / "roster.applied.xlsx")
    assert [(r.sheet, r.row, r.key, r.action) for r in rows] == [
        ("Schools", 2, "101", "added"),
        ("Schools", 3, "201", "added"),
        ("Students", 2, "00123", "added"),
        ("Students", 3, "456", "added"),
        ("Contacts", 2, "00123 / C1", "added"),
        ("Contacts", 3, "456 / C1", "added"),
        ("Contacts", 4, "00123 / C2", "added"),
        ("Contacts", 5, "00123 / C3", "added"),
    ]

    made = run_cli(
        capsys,
        *db,
        "user",
        "new",
        "Mia@Example.org",
        "--type",
        "GUARDIAN",
        "--last",
        "Lee",
        "--first",
        "Mia",
    )
    assert made.code == 0 and "added" in made.stdout and "Mia@example.org" in made.stdout
    twice = run_cli(
        capsys,
        *db,
        "user",
        "new",
        "mia@example.org",
        "--type",
        "GUARDIAN",
        "--last",
        "Lee",
        "--first",
        "Mia",
    )
    assert twice.code == 1 and "skipped" in twice.stdout

    links = workbook(
        tmp_path / "links.xlsx",
        {
            "Links": (
                LINK_HEADERS,
                [
                    ["mia@example.org", "00123", "Mother"],
                    ["mia@example.org", "456", "Mother"],
                    ["ghost@example.org", "00123", None],
                ],
            )
        },
    )
    result = run_cli(capsys, *db, "import", "links", str(links), "--apply", "--school", "101")
    assert result.code == 1 and "1 added" in result.stdout and "2 errors" in result.stdout
    _, link_rows = read_log(tmp_path / "links.applied.xlsx")
    assert [r.action for r in link_rows] == ["error", "error", "added"]  # errors first
    assert "outside this run's schools (101)" in link_rows[0].reason
    again = run_cli(capsys, *db, "import", "links", str(links), "--apply")
    assert "1 added" in again.stdout and "1 skipped" in again.stdout

    card = run_cli(capsys, *db, "student", "card", "00123")
    assert card.code == 0
    lines = {line.split()[1]: line for line in card.stdout.splitlines() if "│ C" in line}
    assert "has account" in lines["C1"] and "can create" in lines["C2"]
    assert "no email" in lines["C3"]
    logons = run_cli(capsys, *db, "student", "logons", "456")
    assert "mia@example.org" in logons.stdout.lower()

    sim = run_cli(capsys, *db, "contact", "create-account", "C2")
    assert sim.code == 0 and "SIMULATION" in sim.stdout
    created = run_cli(capsys, *db, "contact", "create-account", "C2", "--apply")
    assert created.code == 0 and "00123 / C2" in created.stdout
    no_email = run_cli(capsys, *db, "contact", "create-account", "C3")
    assert no_email.code == 2 and "has no email" in no_email.stderr

    modified = run_cli(
        capsys,
        *db,
        "user",
        "modify",
        "mia@example.org",
        "--first",
        "Maria",
        "--detach",
        "456",
        "--status",
        "DISABLED",
    )
    assert modified.code == 0 and "FIRST_NAME: Mia -> Maria" in modified.stdout
    shown = run_cli(capsys, *db, "user", "show", "MIA@example.org")
    assert "Maria Lee" in shown.stdout and "DISABLED" in shown.stdout
    assert "00123" in shown.stdout and "456" not in shown.stdout
    batches = run_cli(capsys, *db, "batches")
    assert "new user" in batches.stdout and "modify user" in batches.stdout

    engine = create_engine(database_url)
    with engine.connect() as connection:
        ids = connection.execute(text("SELECT student_id FROM students ORDER BY student_id"))
        assert ids.scalars().all() == ["00123", "456"]
    engine.dispose()


def test_oneroster_sample_bundles_import_without_a_traceback(
    tmp_path: Path, capsys: Capsys, oneroster_samples: Path
) -> None:
    bundles = sorted(oneroster_samples.glob("*.zip"))
    assert bundles
    db = ["--db", str(tmp_path / "portal.sqlite")]
    for bundle in bundles:
        result = run_cli(
            capsys,
            *db,
            "import",
            "roster",
            str(bundle),
            "--apply",
            "--out",
            str(tmp_path / f"{bundle.stem}.xlsx"),
        )
        assert result.code in (0, 1), result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        summary, rows = read_log(tmp_path / f"{bundle.stem}.xlsx")
        assert summary["Rows"] == len(rows)
        assert all(r.reason for r in rows if r.action == "error")


def test_roster_workbook_without_roster_sheets(tmp_path: Path, capsys: Capsys) -> None:
    path = workbook(tmp_path / "other.xlsx", {"Users": (["LOGONID"], [["a@b.org"]])})
    result = run_cli(capsys, "import", "roster", str(path))
    assert result.code == 2 and "has no Schools or Students or Contacts sheet" in result.stderr


SAMPLE_STUDENTS = {
    "Test_full_data_set": ("org-sch-222-3456", ["anna.brown", "mary.jones", "mmichel.jones"]),
    "Test_minimal_data_set": (
        "org-sch-222-456",
        ["usr-222-1234561232", "usr-222-567891", "usr-222-66778899"],
    ),
    "oneroster_test_data": ("ORG_1", ["bruce.wayne"]),
    "v1p2_full_dataset": ("org-sch-222-3456", ["anna.brown", "mary.jones", "mmichel.jones"]),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_STUDENTS))
def test_oneroster_samples_import_their_students(
    tmp_path: Path, capsys: Capsys, oneroster_samples: Path, database_url: str, name: str
) -> None:
    """Students placed in a department belong to the school above it (parentSourcedId); where
    orgs.csv lists no school above, the top of the chain stands for it."""
    out = tmp_path / "log.xlsx"
    bundle = str(oneroster_samples / f"{name}.zip")
    result = run_cli(
        capsys, "--db", database_url, "import", "roster", bundle, "--apply", "--out", str(out)
    )
    assert result.code in (0, 1), result.stderr
    school, students = SAMPLE_STUDENTS[name]
    _, rows = read_log(out)
    # Rows in error or with a warning come first; the school is the first of the others.
    done = [r for r in rows if r.action != "error" and not r.warning]
    assert done[0].key == school and done[0].action == "added"
    assert {r.key for r in rows if r.action == "added"} >= set(students)
    assert all("users.csv line" in r.reason for r in rows if r.action == "error")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT s.student_id, c.code FROM students s JOIN schools c ON c.id = s.school_id"
                " ORDER BY s.student_id"
            )
        ).all()
    engine.dispose()
    assert stored == [(sid, school) for sid in students]
