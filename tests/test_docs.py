"""The README documents what the product does: each import column and each command."""

from pathlib import Path

from typer.main import get_command

from addin.cli.app import app
from backend.imports.links import LINK_COLUMNS
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.imports.users import USER_COLUMNS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_leads_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "uv run portal demo" in first_block and "uv run pytest" in first_block


def test_every_import_column_is_documented_with_its_help() -> None:
    for column in (
        *USER_COLUMNS,
        *SCHOOL_COLUMNS,
        *STUDENT_COLUMNS,
        *CONTACT_COLUMNS,
        *LINK_COLUMNS,
    ):
        assert f"| `{column.name}` | {'yes' if column.required else 'no'} |" in README
        assert ", ".join(column.aliases) in README


def test_every_command_is_in_the_readme() -> None:
    root = get_command(app)
    names = [
        name
        for name, command in root.commands.items()  # type: ignore[attr-defined]
        if not getattr(command, "commands", None)
    ]
    names += [
        f"{group} {sub}"
        for group, command in root.commands.items()  # type: ignore[attr-defined]
        for sub in getattr(command, "commands", {})
    ]
    for name in names:
        assert f"portal {name}" in README, f"README does not show `portal {name}`"
