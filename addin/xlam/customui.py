"""What the ribbon XML may contain: an allow-list taken from the customUI14 schema.

The schema is MS-CUSTOMUI2 section 5.1 (namespace ``http://schemas.microsoft.com/office/2009/07/
customui``); the element types are CT_CustomUI, CT_Ribbon, CT_Tabs, CT_Tab, CT_Group (2.3.47),
CT_Button (2.3.24) and CT_Separator (2.3.67). The list holds the elements we use and the
attributes the schema gives them; it is deliberately smaller than the schema, so anything it
accepts the schema accepts. Office ignores a ribbon it cannot validate, silently: this check is
how we find out on Linux.
"""

import re
from collections.abc import Callable
from typing import NamedTuple
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

NAMESPACE = "http://schemas.microsoft.com/office/2009/07/customui"

_ID = ("id", "idQ", "idMso", "tag")
_POSITION = ("insertAfterMso", "insertBeforeMso", "insertAfterQ", "insertBeforeQ")
_LABEL = ("label", "getLabel")
_IMAGE = ("image", "imageMso", "getImage")
_TIPS = ("screentip", "getScreentip", "supertip", "getSupertip")
_VISIBLE = ("visible", "getVisible")
_KEYTIP = ("keytip", "getKeytip")

ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "customUI": frozenset({"onLoad", "loadImage"}),
    "ribbon": frozenset({"startFromScratch"}),
    "tabs": frozenset(),
    "tab": frozenset({*_ID, *_LABEL, *_POSITION, *_VISIBLE, *_KEYTIP}),
    "group": frozenset({*_ID, *_LABEL, *_IMAGE, *_POSITION, *_TIPS, *_VISIBLE, *_KEYTIP}),
    "button": frozenset(
        {
            *_ID,
            *_POSITION,
            *_LABEL,
            *_IMAGE,
            *_TIPS,
            *_VISIBLE,
            *_KEYTIP,
            "size",
            "getSize",
            "onAction",
            "enabled",
            "getEnabled",
            "description",
            "getDescription",
            "showLabel",
            "getShowLabel",
            "showImage",
            "getShowImage",
        }
    ),
    "separator": frozenset({"id", "idQ", "tag", *_POSITION, *_VISIBLE}),
}
"""Element name -> the attributes the schema defines for it."""

ALLOWED_CHILDREN: dict[str, frozenset[str]] = {
    "customUI": frozenset({"ribbon"}),
    "ribbon": frozenset({"tabs"}),
    "tabs": frozenset({"tab"}),
    "tab": frozenset({"group"}),
    "group": frozenset({"button", "separator"}),
    "button": frozenset(),
    "separator": frozenset(),
}
"""Element name -> the child elements the schema allows in it (those we use)."""

_BOOLEAN = frozenset({"true", "false", "1", "0"})
_BOOLEANS = frozenset({"visible", "enabled", "showLabel", "showImage", "startFromScratch"})
_SIZES = frozenset({"normal", "large"})
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_MAX_STRING = 1024
_MAX_KEYTIP = 3


class _ValueRule(NamedTuple):
    attributes: frozenset[str]
    valid: Callable[[str], bool]
    problem: str
    """Formatted with ``name``, ``attribute`` and ``value``."""


_VALUE_RULES = (
    _ValueRule(
        _BOOLEANS, lambda v: v in _BOOLEAN, "<{name} {attribute}={value!r}> is not a boolean"
    ),
    _ValueRule(
        frozenset({"size"}), lambda v: v in _SIZES, "<{name} size={value!r}> is not normal or large"
    ),
    _ValueRule(
        frozenset({"keytip"}),
        lambda v: len(v) <= _MAX_KEYTIP,
        "<{name} keytip={value!r}> is longer than " + str(_MAX_KEYTIP),
    ),
    _ValueRule(
        frozenset({"id", "idMso", "imageMso"}),
        lambda v: _NCNAME.match(v) is not None,
        "<{name} {attribute}={value!r}> is not an XML name",
    ),
)
"""What the schema's simple types ask of particular attributes' values."""

_NEEDS_ONE_ID = ("tab", "group", "button")


def custom_ui_problems(xml: str | bytes) -> list[str]:
    """Every way ``xml`` strays from the allow-list; empty when it is a ribbon Office accepts."""
    root = SafeET.fromstring(xml)
    problems: list[str] = []
    _check_element(root, None, set(), problems)
    if root.tag != f"{{{NAMESPACE}}}customUI":
        problems.append("the root element is not customUI")
    return problems


def _check_element(
    element: Element, parent: str | None, ids: set[str], problems: list[str]
) -> None:
    """Add the problems of ``element`` and, when it is an allowed element, of its children."""
    unknown = _unknown_element(element)
    if unknown is not None:
        problems.append(unknown)
        return
    name = element.tag.partition("}")[2]
    if parent is not None and name not in ALLOWED_CHILDREN[parent]:
        problems.append(f"<{name}> may not be inside <{parent}>")
    for attribute, value in element.attrib.items():
        problem = _attribute_problem(name, attribute, value)
        if problem is not None:
            problems.append(problem)
    problems.extend(_id_problems(name, element.attrib, ids))
    for child in element:
        _check_element(child, name, ids, problems)


def _unknown_element(element: Element) -> str | None:
    """Why ``element`` is not an allowed customUI14 element, or None when it is."""
    namespace, _, name = element.tag[1:].partition("}")
    if not element.tag.startswith("{") or namespace != NAMESPACE:
        return f"<{element.tag}> is not in the customUI14 namespace"
    if name not in ALLOWED_ATTRIBUTES:
        return f"<{name}> is not an allowed element"
    return None


def _attribute_problem(name: str, attribute: str, value: str) -> str | None:
    """What is wrong with one attribute of an allowed element, or None."""
    if attribute not in ALLOWED_ATTRIBUTES[name]:
        return f"<{name}> has no attribute {attribute!r}"
    if not 1 <= len(value) <= _MAX_STRING:
        return f"<{name} {attribute}> must be 1 to {_MAX_STRING} characters"
    for rule in _VALUE_RULES:
        if attribute in rule.attributes and not rule.valid(value):
            return rule.problem.format(name=name, attribute=attribute, value=value)
    return None


def _id_problems(name: str, attributes: dict[str, str], ids: set[str]) -> list[str]:
    """An id used twice in the ribbon; a tab, group or button without exactly one id."""
    problems = []
    if "id" in attributes:
        if attributes["id"] in ids:
            problems.append(f"id {attributes['id']!r} is used twice")
        ids.add(attributes["id"])
    if name in _NEEDS_ONE_ID and sum(a in attributes for a in ("id", "idQ", "idMso")) != 1:
        problems.append(f"<{name}> needs exactly one of id, idQ, idMso")
    return problems
