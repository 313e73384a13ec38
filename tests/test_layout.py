"""The README's map of the repository matches its folders, and the layers keep their direction."""

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def mapped_folders() -> dict[str, str]:
    """Folder -> description, from the code block under the README's "Where things are"."""
    section = README.split("## Where things are", 1)[1]
    block = section.split("```", 2)[1]
    folders: dict[str, str] = {}
    for line in block.strip().splitlines():
        path, _, description = line.partition(" ")
        folders[path.rstrip("/")] = description.strip()
    return folders


def tracked_folders() -> set[str]:
    """Every folder holding a file under version control, except hidden ones."""
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked folders cannot be listed")
    folders: set[str] = set()
    for name in listed:
        parts = Path(name).parts[:-1]
        for depth in range(1, len(parts) + 1):
            folders.add("/".join(parts[:depth]))
    return {f for f in folders if not any(part.startswith(".") for part in f.split("/"))}


def test_every_folder_is_on_the_map_and_every_mapped_folder_exists() -> None:
    mapped = mapped_folders()
    # A folder of a folder on the map needs no line of its own when it holds only data files
    # of its parent's concern (migration versions, the template workbooks' package data).
    inner = {"backend/database/migrations/versions"}
    missing = sorted(tracked_folders() - set(mapped) - inner)
    assert not missing, f"add these folders to the README's 'Where things are': {missing}"
    gone = sorted(f for f in mapped if not (ROOT / f).is_dir())
    assert not gone, f"the README's 'Where things are' names folders that do not exist: {gone}"
    assert all(mapped.values()), "every folder on the map says what it holds"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_backend_knows_nothing_of_the_front_ends_or_of_excel() -> None:
    for path in (ROOT / "backend").rglob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in {"addin", "xlwings", "openpyxl", "python_calamine", "xlsxwriter"}, (
                f"{path.relative_to(ROOT)} imports {module}"
            )


def test_the_server_knows_nothing_of_excel_or_of_the_add_in() -> None:
    for path in (ROOT / "server").rglob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in {"addin", "xlwings", "openpyxl", "python_calamine", "xlsxwriter"}, (
                f"{path.relative_to(ROOT)} imports {module}"
            )


def test_only_the_excel_package_imports_xlwings() -> None:
    for path in (ROOT / "addin").rglob("*.py"):
        if path.parent == ROOT / "addin" / "excel":
            continue
        imports = imported_modules(path)
        assert not any(m.split(".")[0] == "xlwings" for m in imports), (
            f"{path.relative_to(ROOT)} imports xlwings; only addin/excel/ may"
        )


def test_backend_functions_are_short() -> None:
    """A function of the service layer reads in one screen; migrations are schema, not logic."""
    long: list[str] = []
    for path in (ROOT / "backend").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, f"split these functions (over 60 lines): {long}"
