"""What the ribbon XML may contain: an allow-list taken from the customUI14 schema.

The schema is MS-CUSTOMUI2 section 5.1 (namespace ``http://schemas.microsoft.com/office/2009/07/
customui``); the element types are CT_CustomUI, CT_Ribbon, CT_Tabs, CT_Tab, CT_Group (2.3.47),
CT_Button (2.3.24) and CT_Separator (2.3.67). The list holds the elements we use and the
attributes the schema gives them; it is deliberately smaller than the schema, so anything it
accepts the schema accepts. Office ignores a ribbon it cannot validate, silently: this check is
how we find out on Linux.
"""

import re
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


def custom_ui_problems(xml: str | bytes) -> list[str]:
    """Every way ``xml`` strays from the allow-list; empty when it is a ribbon Office accepts."""
    root = SafeET.fromstring(xml)
    problems: list[str] = []
    ids: set[str] = set()

    def visit(element: Element, parent: str | None) -> None:
        namespace, _, name = element.tag[1:].partition("}")
        if not element.tag.startswith("{") or namespace != NAMESPACE:
            problems.append(f"<{element.tag}> is not in the customUI14 namespace")
            return
        if name not in ALLOWED_ATTRIBUTES:
            problems.append(f"<{name}> is not an allowed element")
            return
        if parent is not None and name not in ALLOWED_CHILDREN[parent]:
            problems.append(f"<{name}> may not be inside <{parent}>")
        for attribute, value in element.attrib.items():
            if attribute not in ALLOWED_ATTRIBUTES[name]:
                problems.append(f"<{name}> has no attribute {attribute!r}")
            elif not 1 <= len(value) <= _MAX_STRING:
                problems.append(f"<{name} {attribute}> must be 1 to {_MAX_STRING} characters")
            elif attribute in _BOOLEANS and value not in _BOOLEAN:
                problems.append(f"<{name} {attribute}={value!r}> is not a boolean")
            elif attribute == "size" and value not in _SIZES:
                problems.append(f"<{name} size={value!r}> is not normal or large")
            elif attribute == "keytip" and len(value) > _MAX_KEYTIP:
                problems.append(f"<{name} keytip={value!r}> is longer than {_MAX_KEYTIP}")
            elif attribute in ("id", "idMso", "imageMso") and not _NCNAME.match(value):
                problems.append(f"<{name} {attribute}={value!r}> is not an XML name")
        if "id" in element.attrib:
            if element.attrib["id"] in ids:
                problems.append(f"id {element.attrib['id']!r} is used twice")
            ids.add(element.attrib["id"])
        if name in ("tab", "group", "button"):
            given = [a for a in ("id", "idQ", "idMso") if a in element.attrib]
            if len(given) != 1:
                problems.append(f"<{name}> needs exactly one of id, idQ, idMso")
        for child in element:
            visit(child, name)

    visit(root, None)
    if root.tag != f"{{{NAMESPACE}}}customUI":
        problems.append("the root element is not customUI")
    return problems
