"""Two applies at once run one after the other, and the second plans against the first's result."""

import threading

from factories import guardians_table
from sqlalchemy import Engine, text

from backend.imports.contract import InputTable, Report
from backend.imports.users import import_users

ROWS = 3000


def sheet(first_name: str) -> InputTable:
    return guardians_table(
        ROWS, first_name, last_name="Same", logon_prefix="p", source_name=f"{first_name}.xlsx"
    )


def test_concurrent_applies_are_serialised_and_replanned(engine: Engine) -> None:
    reports: dict[str, Report] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            start.wait()
            reports[name] = import_users(engine, sheet(name), apply=True)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("Ann", "Bea")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    first, second = sorted(reports.values(), key=lambda r: r.batch_id)
    assert first.counts == {"added": ROWS, "updated": 0, "removed": 0, "skipped": 0, "error": 0}
    # The second waited, then saw every account the first added: all updated, none added twice.
    assert second.counts == {"added": 0, "updated": ROWS, "removed": 0, "skipped": 0, "error": 0}
    with engine.connect() as connection:
        names = connection.execute(text("SELECT DISTINCT first_name FROM portal_users")).all()
        count = connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one()
    assert count == ROWS
    assert names == [(second.source_name.removesuffix(".xlsx"),)]  # type: ignore[union-attr]
