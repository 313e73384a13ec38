"""The Parent Portal Excel add-in (``.xlam``), built reproducibly from text on any platform.

District IT installs one add-in; staff get a Parent Portal tab whose buttons call this project's
Python entry points through classic xlwings ``RunPython``. Modules:

- ``ribbon``: the buttons and their actions, as data (``RIBBON_ACTIONS``).
- ``customui``: the customUI14 allow-list the ribbon XML is checked against.
- ``vba_sources``: the VBA modules (xlwings' own, our callbacks, the document modules).
- ``compression``, ``ovba``, ``ovba_reader``, ``cfb``: ``vbaProject.bin`` per MS-OVBA and
  MS-CFB, written and read back.
- ``package``: the zip package; ``build``: putting it together; ``install``: copying it where
  Excel loads it.
"""

from .build import ADDIN_FILE_NAME, DEFAULT_OUT, PROJECT, build_addin
from .install import AddinInstallError, install_addin
from .ovba import (
    ControlReference,
    ProjectInfo,
    ProjectReference,
    RegisteredReference,
    VbaModule,
    VbaProjectError,
    build_vba_project,
)
from .ovba_reader import read_vba_project
from .ribbon import BUTTONS, RIBBON_ACTIONS, RibbonButton

__all__ = [
    "ADDIN_FILE_NAME",
    "BUTTONS",
    "DEFAULT_OUT",
    "PROJECT",
    "RIBBON_ACTIONS",
    "AddinInstallError",
    "ControlReference",
    "ProjectInfo",
    "ProjectReference",
    "RegisteredReference",
    "RibbonButton",
    "VbaModule",
    "VbaProjectError",
    "build_addin",
    "build_vba_project",
    "install_addin",
    "read_vba_project",
]
