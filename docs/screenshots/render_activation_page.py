"""Render the parents' activation page, as an emailed link opens it, to ``activation-page.png``.

Serves the page on a loopback port over a throwaway database with one account and its link,
and photographs it with headless Chromium (Debian's ``chromium`` package). Run after changing
the page's words or stylesheet::

    uv run python docs/screenshots/render_activation_page.py
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOW = "720,560"
MAX_BYTES = 150_000


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        sys.exit("Chromium is needed to render the page (apt-get install chromium)")
    return found


def demo_link(folder: Path, page_url: str) -> str:
    """A migrated database in ``folder`` with one parent's account, and that account's link."""
    os.environ["PORTAL_DATABASE_URL"] = f"sqlite:///{folder / 'page.sqlite'}"
    os.environ["PORTAL_ACTIVATION_SECRET_FILE"] = str(folder / "secret")
    os.environ["PORTAL_ACTIVATION_URL"] = page_url
    from backend.database.engine import open_database, write_transaction
    from backend.imports.contract import InputTable
    from backend.imports.users import import_users
    from backend.mail.activation import activation_link, issue_token

    engine = open_database()
    rows = [(2, ["maria.lopez@example.org", "Maria", "Lopez", "GUARDIAN"])]
    table = InputTable(["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"], rows, None, "demo")
    import_users(engine, table, apply=True)
    with write_transaction(engine) as connection:
        token = issue_token(connection, 1)
    engine.dispose()
    return activation_link(token)


def main() -> None:
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="screenshots-") as temp:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        link = demo_link(Path(temp), f"http://127.0.0.1:{listener.getsockname()[1]}/activate")
        from server.activation_page import create_activation_app

        server = uvicorn.Server(uvicorn.Config(create_activation_app(), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        dest = HERE / "activation-page.png"
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--hide-scrollbars",
                f"--user-data-dir={Path(temp) / 'profile'}",
                f"--window-size={WINDOW}",
                f"--screenshot={dest}",
                link,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.should_exit = True
        thread.join(timeout=20)
    size = dest.stat().st_size
    if size > MAX_BYTES:
        sys.exit(f"{dest.name} is {size // 1000} KB, over {MAX_BYTES // 1000} KB")
    print(f"{dest.name}: {size // 1000} KB")


if __name__ == "__main__":
    main()
