"""Render one activation letter of the demo district to ``letter.png``.

Makes the demo district (``portal demo``) in a folder of its own, prints the letter of one
parent with two children (``portal letters --apply``) and renders its page with pypdfium2 (a
development dependency). Run after changing the letters' text or layout::

    uv run python docs/screenshots/render_letter.py
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pypdfium2
from render import DEMO, HERE

DEMO_FOLDER = Path(tempfile.gettempdir()) / "ppdemo-letter"
SCALE = 1.0  # 72 dots an inch: the page is 612 x 792
MAX_BYTES = 150_000


def parent_of_two(database: Path) -> str:
    """The logon of the first guardian account attached to two students."""
    from sqlalchemy import func, select

    from backend.database.engine import open_database
    from backend.database.models import PortalUser, StudentLink

    engine = open_database(str(database))
    with engine.connect() as connection:
        logon: str = connection.execute(
            select(PortalUser.logon_id)
            .join(StudentLink, StudentLink.user_id == PortalUser.id)
            .where(PortalUser.user_type == "GUARDIAN", PortalUser.password_hash.is_(None))
            .group_by(PortalUser.id, PortalUser.logon_id)
            .having(func.count() == 2)
            .order_by(PortalUser.id)
            .limit(1)
        ).scalar_one()
    engine.dispose()
    return logon


def main() -> None:
    os.environ["PORTAL_ACTIVATION_SECRET_FILE"] = str(DEMO_FOLDER / "secret")
    database = DEMO_FOLDER / "demo.sqlite"
    if not database.is_file():
        subprocess.run(
            [sys.executable, "-c", DEMO, "demo", "--dir", str(DEMO_FOLDER)],
            check=True,
            capture_output=True,
        )
    with tempfile.TemporaryDirectory(prefix="screenshots-") as temp:
        book, pdf = Path(temp) / "letters.xlsx", Path(temp) / "letters.pdf"
        command = ["--db", str(database), "letters", "--logon", parent_of_two(database)]
        subprocess.run(
            [
                sys.executable,
                "-c",
                DEMO,
                *command,
                "--apply",
                "--out",
                str(book),
                "--pdf",
                str(pdf),
            ],
            check=True,
            capture_output=True,
        )
        document = pypdfium2.PdfDocument(pdf)
        image = document[0].render(scale=SCALE).to_pil().convert("L")
        document.close()
    dest = HERE / "letter.png"
    image.save(dest, optimize=True)
    size = dest.stat().st_size
    if size > MAX_BYTES:
        sys.exit(f"{dest.name} is {size // 1000} KB, over {MAX_BYTES // 1000} KB")
    print(f"{dest.name}: {size // 1000} KB")


if __name__ == "__main__":
    main()
