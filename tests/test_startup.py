"""`portal --help` and `portal batches` load none of the heavy libraries other commands need;
`--help` and `--version` not even the database's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "xlwings",
    "jinja2",
    "argon2",
    "alembic",
    "openpyxl",
    "xlsxwriter",
    "lxml",
    "psycopg",
    "httpx",
)

PROBE = """
import json, sys
from addin.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["--help"], (*HEAVY, "sqlalchemy")),
        (["--version"], (*HEAVY, "sqlalchemy")),
        (["batches"], HEAVY),
    ],
)
def test_a_light_command_loads_no_heavy_library(
    args: list[str], heavy: tuple[str, ...], tmp_path: Path
) -> None:
    database = tmp_path / "portal.sqlite"
    subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "init"],
        env={"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""},
        capture_output=True,
        check=True,
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=heavy), *args],
        env={"PORTAL_DATABASE_URL": f"sqlite:///{database}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(probe.stderr.strip().splitlines()[-1])
    assert loaded == [], f"`portal {' '.join(args)}` loaded {loaded}"
