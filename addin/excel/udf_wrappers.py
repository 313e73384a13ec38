"""xlwings' own generator of worksheet-function wrappers, run without Excel, for the add-in
builder (``addin/xlam/udfs.py``).

xlwings only marks functions as worksheet functions (``@xw.func``) where pywin32 is installed, and
its generator's module imports pywin32 at the top although generating needs none of it. So the
generator is loaded with empty stand-ins for the pywin32 modules where they are missing, and the
functions module is read into a private copy with xlwings' real decorators; neither copy, nor
any stand-in, is left in ``sys.modules``, and ``xlwings`` keeps its own decorators.
"""

import importlib
import importlib.util
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import xlwings

_PYWIN32 = ("pythoncom", "pywintypes", "win32com", "win32com.client")
_DECORATORS = {"func": "xlfunc", "arg": "xlarg", "ret": "xlret", "script": "xlsub", "sub": "xlsub"}


class _Book:
    """What the generator asks of the workbook: its name. An add-in's (``.xlam``) wrappers pass
    ``ActiveWorkbook`` (the user's book) to Python, not ``ThisWorkbook`` (the add-in)."""

    def __init__(self, name: str) -> None:
        self.Name = name


def _unavailable(*args: Any, **kwargs: Any) -> Any:
    raise OSError("pywin32 is not installed: Excel's COM interface is Windows only")


def _stand_in(name: str) -> ModuleType:
    module = ModuleType(name)
    module.__getattr__ = lambda attribute: _unavailable  # type: ignore[method-assign]
    return module


@contextmanager
def _pywin32_stand_ins() -> Iterator[None]:
    """Empty pywin32 modules where there are none, removed again afterwards."""
    missing = [name for name in _PYWIN32 if importlib.util.find_spec(name.split(".")[0]) is None]
    for name in missing:
        sys.modules.setdefault(name, _stand_in(name))
    try:
        yield
    finally:
        for name in missing:
            sys.modules.pop(name, None)


def _private_copy(name: str) -> ModuleType:
    """A fresh copy of module ``name``, run without entering ``sys.modules``."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module {name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _xlwings_udfs() -> ModuleType:
    """A private copy of xlwings' UDF module (over pywin32 stand-ins where pywin32 is missing)."""
    with _pywin32_stand_ins():
        return _private_copy("xlwings.udfs")


@contextmanager
def _real_decorators(udfs: ModuleType) -> Iterator[None]:
    """``xw.func`` and friends as on Windows, so the functions carry their ``__xlfunc__``."""
    saved = {name: getattr(xlwings, name, None) for name in _DECORATORS}
    for name, real in _DECORATORS.items():
        setattr(xlwings, name, getattr(udfs, real))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(xlwings, name)
            else:
                setattr(xlwings, name, value)


def decorated(module_name: str) -> tuple[ModuleType, ModuleType]:
    """xlwings' UDF module, and a copy of ``module_name`` whose functions carry the
    ``__xlfunc__`` that xlwings' decorators give them on Windows."""
    udfs = _xlwings_udfs()
    with _real_decorators(udfs):
        return udfs, _private_copy(module_name)


def wrappers(module_name: str, addin_name: str) -> str:
    """The VBA wrappers xlwings' Import Functions writes for ``module_name`` into the add-in
    ``addin_name`` (without the module header Import Functions writes before them)."""
    udfs, functions = decorated(module_name)
    text = io.StringIO()
    udfs.generate_vba_wrapper(module_name, functions, text, _Book(addin_name))
    return text.getvalue()
