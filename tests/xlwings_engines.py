"""What xlwings' desktop engines really implement, read from their source.

xlwings' public classes (``xlwings.main``) hand each call to an engine object (``self.impl``):
``_xlwindows`` on Windows, ``_xlmac`` on macOS. A member an engine leaves out falls back to
``base_classes``, which raises ``NotImplementedError`` on a staff desk although the public class
has it. So the public classes are no proof; the engines are. The modules are read as text (they
import COM or AppleScript libraries that exist only on their own platform).
"""

import ast
from functools import cache
from importlib.util import find_spec
from pathlib import Path

ENGINES = ("_xlwindows", "_xlmac")


def _source(module: str) -> ast.Module:
    spec = find_spec("xlwings")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    return ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))


def _class_members(tree: ast.Module) -> dict[str, set[str]]:
    """Class name -> the names its own body defines (methods, properties, attributes)."""
    members: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = members.setdefault(node.name, set())
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return members


@cache
def engine_members(engine: str) -> dict[str, set[str]]:
    return _class_members(_source(engine))


@cache
def impl_calls() -> dict[tuple[str, str], set[str]]:
    """(public class, member) -> the engine members it reaches through ``<something>.impl.X``."""
    calls: dict[tuple[str, str], set[str]] = {}
    for node in _source("main").body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            reached = calls.setdefault((node.name, item.name), set())
            for inner in ast.walk(item):
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Attribute)
                    and inner.value.attr == "impl"
                ):
                    reached.add(inner.attr)
    return calls


def missing_in_engines(public_class: str, member: str) -> list[str]:
    """Where a public member would fail on a desk: 'engine: name' for each engine member it
    reaches that the engine does not implement (in its class of that name, if it has one)."""
    missing = []
    for engine in ENGINES:
        classes = engine_members(engine)
        for name in sorted(impl_calls().get((public_class, member), set())):
            if public_class in classes:
                found = name in classes[public_class]
            else:  # a public wrapper whose engine object is another class's member
                found = any(name in members for members in classes.values())
            if not found:
                missing.append(f"{engine}: {name}")
    return missing
