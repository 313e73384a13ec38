"""AutoCreate's Options sheet: its rows are made from ``Options``, and read back into it.

The sheet adds one switch of its own, SIMULATION: a workbook has no ``--apply``, so the template
holds the run back until staff set SIMULATION to N. Excel hands numbers over as floats (201.0,
2.0): they become text here, before the options are parsed.
"""

from dataclasses import dataclass

from backend.accounts.autocreate import Options, OptionSpec, option_specs
from backend.errors import InputError
from backend.imports.columns import YES_NO, yes_no
from backend.imports.contract import Column, InputTable, cell_text


@dataclass(frozen=True)
class AutoCreateOption:
    """One row of the Options sheet: its name, its value at first, its dropdown, what it does."""

    name: str
    default: str
    choices: tuple[str, ...]
    description: str


SIMULATION = AutoCreateOption(
    "SIMULATION", "Y", YES_NO, "Y: only show what would be done. Set N to create the accounts."
)


def _row(spec: OptionSpec) -> AutoCreateOption:
    """An option's row: switches as Y/N with a dropdown, anything else blank unless set."""
    description = spec.sheet or ""
    if spec.annotation is bool:
        return AutoCreateOption(spec.name, "Y" if spec.default else "N", YES_NO, description)
    default = "" if spec.default in (None, []) else str(spec.default)
    return AutoCreateOption(spec.name, default, (), description)


AUTOCREATE_OPTIONS: tuple[AutoCreateOption, ...] = (
    SIMULATION,
    *(_row(spec) for spec in option_specs() if spec.sheet is not None),
)

OPTION_HEADERS = ("Option", "Value", "Description")
"""The Options sheet's columns: an option's name, its value, and what it does."""

OPTION_COLUMNS = (
    Column("OPTION", "option", str, True),
    Column("VALUE", "value", str, True),
    Column("DESCRIPTION", "description", str),
)


def read_options(table: InputTable) -> tuple[Options, bool]:
    """The Options sheet as ``Options``, and whether SIMULATION holds the run back."""
    texts = {
        (cell_text(cells[0]) or "").upper(): (cell_text(cells[1]) if len(cells) > 1 else None) or ""
        for _, cells in table.rows
        if cells and cell_text(cells[0])
    }
    unknown = set(texts) - {option.name for option in AUTOCREATE_OPTIONS}
    if unknown:
        raise InputError(
            f"The Options sheet has options we do not know: {', '.join(sorted(unknown))}"
        )
    options = Options.from_sheet(texts)
    try:
        simulation = yes_no(texts.get(SIMULATION.name) or SIMULATION.default)
    except ValueError as exc:
        raise InputError(f"Option {SIMULATION.name}: {exc}") from None
    return options, simulation
