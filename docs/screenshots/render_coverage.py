"""Render the coverage chart of one school of the demo district to ``coverage-chart.png``.

The demo district (``portal demo``) has accounts but no parent has activated one yet; here
two in three of its accounts are activated the way a parent does it (a link's token, then a
password), so the chart shows every state. Run after changing the coverage workbook::

    uv run python docs/screenshots/render_coverage.py
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from render import DEMO, HERE, page_text, to_pdf, to_png

DEMO_FOLDER = Path(tempfile.gettempdir()) / "ppdemo-coverage"


def activate_two_in_three(database: Path) -> None:
    from sqlalchemy import select

    from backend.database.engine import open_database, write_transaction
    from backend.database.models import PortalUser
    from backend.mail.activation import activate, issue_token

    engine = open_database(str(database))
    with engine.connect() as connection:
        ids = list(
            connection.scalars(select(PortalUser.id).where(PortalUser.password_hash.is_(None)))
        )
    for user_id in ids[: len(ids) * 2 // 3]:
        with write_transaction(engine) as connection:
            token = issue_token(connection, user_id)
        activate(engine, token, "a parent's password")


def main() -> None:
    os.environ["PORTAL_PASSWORD_HASH_COST"] = "cheapest"
    os.environ["PORTAL_ACTIVATION_SECRET_FILE"] = str(DEMO_FOLDER / "secret")
    database = DEMO_FOLDER / "demo.sqlite"
    if not database.is_file():
        subprocess.run(
            [sys.executable, "-c", DEMO, "demo", "--dir", str(DEMO_FOLDER)],
            check=True,
            capture_output=True,
        )
        activate_two_in_three(database)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as temp:
        work = Path(temp)
        book = work / "coverage.xlsx"
        subprocess.run(
            [sys.executable, "-c", DEMO, "--db", str(database), "coverage", "--out", str(book)],
            check=True,
            capture_output=True,
        )
        pdf = to_pdf(book, work)
        page = next(n for n in range(1, 20) if "guardian accounts by grade" in page_text(pdf, n))
        dest = to_png(pdf, page, HERE / "coverage-chart.png")
    print(f"{dest.name}: {dest.stat().st_size // 1000} KB")


if __name__ == "__main__":
    main()
