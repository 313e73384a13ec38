"""The package as a district installs it: a wheel in a fresh environment, away from the checkout.

Slow on purpose (about a minute): it builds the wheel, makes a virtual environment, installs the
wheel and its dependencies (from the package registry or uv's cache) and runs ``portal`` there.
It is the one test that would notice a file missing from the wheel or a path into the checkout.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="uv is not installed"),
]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result


def clean_environment(database: Path) -> dict[str, str]:
    """This process's environment without anything that points into the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME")
    }
    env["PORTAL_DATABASE_URL"] = f"sqlite:///{database}"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the bin folder of a fresh environment with it installed)."""
    assert UV is not None
    folder = tmp_path_factory.mktemp("wheel")
    env = clean_environment(folder / "unused.sqlite")
    run([UV, "build", "--wheel", "--out-dir", str(folder / "dist"), str(ROOT)], ROOT, env)
    (wheel,) = (folder / "dist").glob("*.whl")
    venv = folder / "venv"
    run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], folder, env)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    run([UV, "pip", "install", "--quiet", "--python", str(python), str(wheel)], folder, env)
    return wheel, python.parent


def test_the_wheel_holds_the_code_and_its_data(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "backend/__init__.py",
        "backend/database/migrations/env.py",
        "backend/database/migrations/script.py.mako",
        "backend/database/migrations/versions/0001_initial_schema.py",
        "addin/cli/app.py",
        "addin/xlam/sources/customUI14.xml",
        "addin/xlam/sources/PortalRibbon.bas",
        "workbook_templates/__init__.py",
    } | {f"workbook_templates/{p.name}" for p in (ROOT / "workbook_templates").glob("*.xlsx")}
    assert expected <= names, sorted(expected - names)
    assert not any(name.startswith(("tests/", "benchmarks/", "build/")) for name in names)


def test_portal_runs_from_the_installed_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_folder = installed
    env = clean_environment(tmp_path / "portal.sqlite")
    python = run(
        [str(bin_folder / "python"), "-c", "import addin; print(addin.__file__)"], tmp_path, env
    )
    location = Path(python.stdout.strip())
    assert location.is_relative_to(bin_folder.parent), location
    assert not location.is_relative_to(ROOT)

    portal = str(bin_folder / "portal")
    shown = run([portal, "--version"], tmp_path, env)
    assert shown.stdout.strip() == f"portal {version('parent-portal-accounts')}"

    demo = run([portal, "demo", "--dir", "demo"], tmp_path, env)
    output = demo.stdout.replace("\n", "")
    written = [
        f"{name}{suffix}.xlsx"
        for name in ("roster", "users-import", "links-import")
        for suffix in ("", ".simulation", ".applied")
    ] + ["autocreate.simulation.xlsx", "autocreate.applied.xlsx"]
    for name in written:
        assert zipfile.is_zipfile(tmp_path / "demo" / name), demo.stdout
        assert name in output

    built = run([portal, "addin", "build"], tmp_path, env)
    xlam = tmp_path / "build" / "ParentPortal.xlam"
    assert "Add-in built" in built.stdout and xlam.name in built.stdout.replace("\n", "")
    assert "xl/vbaProject.bin" in zipfile.ZipFile(xlam).namelist()

    batches = run([portal, "batches"], tmp_path, env)
    assert "Batch" in batches.stdout
    assert (tmp_path / "portal.sqlite").is_file()
