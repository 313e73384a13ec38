"""A large apply leaves PostgreSQL's planner statistics of the tables it wrote up to date, so
that the next run is planned on the tables as they are, not as they were before it."""

from collections.abc import Iterator

import pytest
from factories import CONTACT_HEADERS, STUDENT_HEADERS, input_table
from helpers import emptied
from sqlalchemy import Engine, text

from backend.accounts.autocreate import Options, autocreate
from backend.database.engine import make_engine
from backend.imports.roster import import_roster

STUDENTS = [[f"{n:03d}", f"Kid{n}", "Lee", "3", "101", None] for n in range(1, 7)]
CONTACTS = [
    [f"{n:03d}", f"C{n}", "Mia", "Lee", "Mother", f"mia{n}@example.org", "Y", "Y", 1]
    for n in range(1, 7)
]
TABLES = ("students", "contacts", "student_contacts", "portal_users", "student_links")


@pytest.fixture
def district(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(emptied(pg_url))
    yield engine
    engine.dispose()


def counted_rows(engine: Engine) -> dict[str, float]:
    """What the planner believes each table holds: -1 for a table never analyzed since it was
    emptied."""
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(TABLES)},
        )
        return {name: count for name, count in found}


def roster(engine: Engine, apply: bool) -> None:
    import_roster(
        engine,
        students=input_table(STUDENT_HEADERS, STUDENTS, sheet="Students"),
        contacts=input_table(CONTACT_HEADERS, CONTACTS, sheet="Contacts"),
        apply=apply,
    )


def test_a_large_apply_refreshes_the_statistics_of_the_tables_it_wrote(
    district: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backend.imports.batches.ANALYZE_ROWS", 12)
    roster(district, apply=False)
    assert set(counted_rows(district).values()) == {-1}  # a simulation writes no roster
    roster(district, apply=True)  # 12 rows: six students and six contacts
    assert counted_rows(district) == {
        "students": 6,
        "contacts": 6,
        "student_contacts": 6,
        "portal_users": -1,
        "student_links": -1,
    }
    autocreate(district, Options(), apply=True)  # six pairs: under 12
    assert counted_rows(district)["portal_users"] == -1
    monkeypatch.setattr("backend.imports.batches.ANALYZE_ROWS", 6)
    autocreate(district, Options(), apply=True)  # six pairs again, all skipped now
    assert counted_rows(district)["portal_users"] == 6
    assert counted_rows(district)["student_links"] == 6


def test_a_small_apply_leaves_the_statistics_to_the_server(district: Engine) -> None:
    roster(district, apply=True)
    assert set(counted_rows(district).values()) == {-1}
