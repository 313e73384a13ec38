"""What the add-in changes in xlwings' own VBA module, so that no workbook can choose the code
that runs when staff press a button.

As shipped, xlwings' ``GetConfig`` reads settings first from a ``<project>.conf`` sheet of the
ACTIVE workbook, then from a ``<project>.conf`` file in its folder, and ``RunPython`` puts that
folder on Python's path (``ADD_WORKBOOK_TO_PYTHONPATH`` defaults to true). An e-mailed workbook
with a hidden settings sheet naming another interpreter, or a ``sqlalchemy.py`` beside it, would
then run its author's code. Here:

- settings come only from the machine-wide file IT deploys, then the user's own file
  (``addin.excel.settings_file``): the sheet and folder lookups are gone, with the functions
  that did them;
- the workbook's folder and name never go on Python's path: only the ``PYTHONPATH`` setting;
- a workbook's ``*.py`` sheets (xlwings PRO's embedded code) are never run or imported;
- Python starts with ``-P``, so the current folder is not on its path either.

Each rewrite names the exact lines it expects (compared without leading or trailing spaces, each
the given number of times), and the rewritten module is checked for what must be gone: an
xlwings upgrade that moves these lines fails the build, it cannot drop the protection silently.
"""

from dataclasses import dataclass

from addin.excel.settings_file import MAC_MACHINE_FOLDER, MACHINE_FOLDER_NAME


class XlwingsRewriteError(RuntimeError):
    """The installed xlwings' VBA is not the one these rewrites were written for."""


@dataclass(frozen=True)
class Rewrite:
    why: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    count: int = 1


GET_CONFIG_LAYERS = Rewrite(
    "GetConfig reads the machine-wide file, then the user's, never the active workbook's sheet "
    "or folder",
    old=(
        "' If source is provided, returns the value from this source only, otherwise it goes "
        "through all layers until",
        "' it finds a value (sheet -> directory -> user -> default)",
        "' An entry in xlwings.conf sheet overrides the config file/ribbon",
        "Dim configValue As String",
        "",
        "' Sheet",
        '#If App = "Microsoft Excel" Then',
        'If source = "" Or source = "sheet" Then',
        'If Application.Name = "Microsoft Excel" Then',
        "'Workbook Sheet Config",
        'If SheetExists(ActiveWorkbook, PROJECT_NAME & ".conf") = True Then',
        "If GetConfigFromSheet(ActiveWorkbook).Exists(configKey) = True Then",
        "GetConfig = GetConfigFromSheet(ActiveWorkbook).Item(configKey)",
        "GetConfig = ExpandEnvironmentStrings(GetConfig)",
        "Exit Function",
        "End If",
        "End If",
        "",
        "'Add-in Sheet Config (only for custom add-ins, unused by xlwings add-in)",
        'If SheetExists(ThisWorkbook, PROJECT_NAME & ".conf") = True Then',
        "If GetConfigFromSheet(ThisWorkbook).Exists(configKey) = True Then",
        "GetConfig = GetConfigFromSheet(ThisWorkbook).Item(configKey)",
        "GetConfig = ExpandEnvironmentStrings(GetConfig)",
        "Exit Function",
        "End If",
        "End If",
        "End If",
        "End If",
        "#End If",
        "",
        "' Directory Config",
        'If source = "" Or source = "directory" Then',
        '#If App = "Microsoft Excel" Then',
        'If GetFullName(ActiveWorkbook) <> "" Then '
        "' Empty if local dir can't be figured out (e.g. SharePoint)",
        "#Else",
        'If InStr(GetDirectoryPath(), "://") = 0 Then '
        "' Other Office apps: skip for synced SharePoint/OneDrive files",
        "#End If",
        "If FileExists(GetDirectoryConfigFilePath()) = True Then",
        "If GetConfigFromFile(GetDirectoryConfigFilePath(), configKey, configValue) Then",
        "GetConfig = configValue",
        "GetConfig = ExpandEnvironmentStrings(GetConfig)",
        "Exit Function",
        "End If",
        "End If",
        "End If",
        "End If",
        "",
        "' User Config",
    ),
    new=(
        "' Parent Portal: settings come from the machine-wide file IT deploys, then the user's",
        "' own file, then the default; never from a sheet of a workbook or a file in its folder,",
        "' so a workbook staff pass around cannot choose the Python that runs or what it imports.",
        "Dim configValue As String",
        "",
        "' Machine Config",
        'If source = "" Or source = "machine" Then',
        '    If GetMachineConfigFilePath() <> "" Then',
        "        If FileExists(GetMachineConfigFilePath()) = True Then",
        "            If GetConfigFromFile(GetMachineConfigFilePath(), configKey, configValue) Then",
        "                GetConfig = configValue",
        "                GetConfig = ExpandEnvironmentStrings(GetConfig)",
        "                Exit Function",
        "            End If",
        "        End If",
        "    End If",
        "End If",
        "",
        "' User Config",
    ),
)

MACHINE_CONFIG_PATH = Rewrite(
    "the folder-of-the-active-workbook settings path becomes the machine-wide settings path",
    old=(
        "Function GetDirectoryConfigFilePath() As String",
        "Dim pathSeparator As String",
        "",
        "#If Mac Then ' Application.PathSeparator doesn't seem to exist in Access...",
        'pathSeparator = "/"',
        "#Else",
        'pathSeparator = "\\"',
        "#End If",
        "",
        "GetDirectoryConfigFilePath = GetDirectoryPath(ActiveWorkbook) & pathSeparator & "
        'PROJECT_NAME & ".conf"',
        "End Function",
    ),
    new=(
        "Function GetMachineConfigFilePath() As String",
        "    ' Parent Portal: the settings IT deploys for every user of this computer.",
        "    #If Mac Then",
        f'        GetMachineConfigFilePath = "{MAC_MACHINE_FOLDER}/" & PROJECT_NAME & ".conf"',
        "    #Else",
        '        If Environ("PROGRAMDATA") <> "" Then',
        '            GetMachineConfigFilePath = Environ("PROGRAMDATA") & '
        f'"\\{MACHINE_FOLDER_NAME}\\" & PROJECT_NAME & ".conf"',
        "        End If",
        "    #End If",
        "End Function",
    ),
)

NO_SHEET_CONFIG = Rewrite(
    "the function reading settings from a workbook's sheet is removed",
    old=(
        '#If App = "Microsoft Excel" Then',
        "Function GetConfigFromSheet(wb As Workbook)",
        "Dim lastCell As Range, cell As Range",
        "#If Mac Then",
        "Dim d As Dictionary",
        "Set d = New Dictionary",
        "#Else",
        "Dim d As Object",
        'Set d = CreateObject("Scripting.Dictionary")',
        "#End If",
        "Dim sht As Worksheet",
        "",
        'Set sht = wb.Sheets(PROJECT_NAME & ".conf")',
        "",
        'If sht.Range("A2") = "" Then',
        'Set lastCell = sht.Range("A1")',
        "Else",
        'Set lastCell = sht.Range("A1").End(xlDown)',
        "End If",
        "",
        'For Each cell In Range(sht.Range("A1"), lastCell)',
        "d.Add UCase(cell.Value), cell.Offset(0, 1).Value",
        "Next cell",
        "Set GetConfigFromSheet = d",
        "End Function",
        "#End If",
    ),
    new=(),
)

NO_WORKBOOK_FOLDER = Rewrite(
    "the workbook's folder is never added to Python's path, whatever a setting says",
    old=('AddExcelDir = GetConfig("ADD_WORKBOOK_TO_PYTHONPATH", "true")',),
    new=("AddExcelDir = \"false\" ' Parent Portal: never the workbook's folder",),
    count=2,
)

_PATH_TAIL = ' & ";;;;;;" & GetConfig("PYTHONPATH")'
NO_WORKBOOK_NAMES = [
    Rewrite(
        "the path handed to Python names no workbook: only the PYTHONPATH setting",
        old=(
            f'PYTHONPATH = AddExcelDir & ";" & {active} & ";" & {this} & ";" & '
            f'GetConfig("ONEDRIVE_CONSUMER_{system}") & ";" & '
            f'GetConfig("ONEDRIVE_COMMERCIAL_{system}") & ";" & '
            f'GetConfig("SHAREPOINT_{system}") & ";" & GetConfig("PYTHONPATH")',
        ),
        new=(f"PYTHONPATH = AddExcelDir{_PATH_TAIL}",),
        count=count,
    )
    for active, this, system, count in (
        ("ActiveFullName", "ThisFullName", "MAC", 1),
        ("ActiveFullName", "ThisFullName", "WIN", 1),
        ("ActiveWorkbook.FullName", "ThisWorkbook.FullName", "WIN", 1),
    )
]

NO_EMBEDDED_CODE = Rewrite(
    "a workbook's *.py sheets are never run as code nor imported as functions",
    old=('If Right$(sht.Name, 3) = ".py" Then',),
    new=("If False Then ' Parent Portal: a workbook's sheets are never code",),
    count=2,
)

NO_CURRENT_FOLDER = Rewrite(
    "Python starts with -P: the current folder is not put on its path",
    old=(),
    new=(),
    count=2,
)
"""Applied within lines (see ``_add_p_flag``), not as whole lines."""

REWRITES: tuple[Rewrite, ...] = (
    GET_CONFIG_LAYERS,
    MACHINE_CONFIG_PATH,
    NO_SHEET_CONFIG,
    NO_WORKBOOK_FOLDER,
    *NO_WORKBOOK_NAMES,
    NO_EMBEDDED_CODE,
)

_P_FLAG_OLD = ' -B -c ""import '
_P_FLAG_NEW = ' -B -P -c ""import '

FORBIDDEN = (
    "GetConfigFromSheet",
    "GetDirectoryConfigFilePath",
    "ADD_WORKBOOK_TO_PYTHONPATH",
    'AddExcelDir & ";" &',
    'Right$(sht.Name, 3) = ".py"',
    _P_FLAG_OLD,
)
"""Text that must not be left in the rewritten module."""


def _matches(lines: list[str], start: int, old: tuple[str, ...]) -> bool:
    if start + len(old) > len(lines):
        return False
    return all(lines[start + i].strip() == want.strip() for i, want in enumerate(old))


def _apply(lines: list[str], rewrite: Rewrite) -> list[str]:
    """``lines`` with each occurrence of ``rewrite.old`` replaced; the count must be exact."""
    out: list[str] = []
    found = 0
    i = 0
    while i < len(lines):
        if _matches(lines, i, rewrite.old):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            out.extend(indent + line if line else "" for line in rewrite.new)
            i += len(rewrite.old)
            found += 1
        else:
            out.append(lines[i])
            i += 1
    if found != rewrite.count:
        raise XlwingsRewriteError(
            f"xlwings' VBA module is not the one the add-in was written for: expected "
            f"{rewrite.count} time(s) the lines starting {rewrite.old[0]!r} ({rewrite.why}), "
            f"found {found}. Check the new xlwings' VBA and update addin/xlam/xlwings_rewrites.py."
        )
    return out


def _add_p_flag(text: str) -> str:
    if text.count(_P_FLAG_OLD) != NO_CURRENT_FOLDER.count:
        raise XlwingsRewriteError(
            f"xlwings' VBA module is not the one the add-in was written for: expected "
            f"{NO_CURRENT_FOLDER.count} Python command lines with {_P_FLAG_OLD.strip()!r} "
            f"({NO_CURRENT_FOLDER.why}). Update addin/xlam/xlwings_rewrites.py."
        )
    return text.replace(_P_FLAG_OLD, _P_FLAG_NEW)


def forbidden_left(text: str) -> list[str]:
    """What of ``FORBIDDEN`` the module text still holds (nothing, after the rewrites)."""
    return [item for item in FORBIDDEN if item in text]


def rewrite_xlwings_vba(text: str) -> str:
    """xlwings' VBA module (LF line ends) with the rewrites applied and checked."""
    lines = text.split("\n")
    for rewrite in REWRITES:
        lines = _apply(lines, rewrite)
    result = _add_p_flag("\n".join(lines))
    left = forbidden_left(result)
    if left:
        raise XlwingsRewriteError(
            "xlwings' VBA module still reads settings or code from the workbook after the "
            f"rewrites (found {left}). Update addin/xlam/xlwings_rewrites.py."
        )
    return result
