"""Email templates: the activation-link check reads what a template renders, and each
account's LANGUAGE picks a template's variant, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import Engine

from backend.errors import InputError
from backend.mail.templates import (
    Template,
    check,
    for_language,
    language_suffixes,
    list_templates,
    set_template,
    variants,
)

NO_LINK = "has no {{ activation_link }}: a new account cannot be used without it"


@pytest.mark.parametrize(
    "body",
    [
        "Set it here: {{ activation_link }}",
        "Set it here: {{activation_link}}",
        "Set it here: {{activation_link }}",
        "Set it here: {{ activation_link | trim }}",
        "Set it here: {{- activation_link -}}.",
        "{% if activation_link %}Set it here: {{ activation_link }}{% endif %}",
    ],
)
def test_a_template_whose_message_carries_the_link_is_accepted(body: str) -> None:
    check(Template("welcome", "Hello {{ guardian_name }}", body))


@pytest.mark.parametrize(
    "body",
    [
        "Set it here: {# {{ activation_link }} #}",
        "Set it here: activation_link",
        "{% if false %}{{ activation_link }}{% endif %}Welcome",
        "Set it here: {{ activation_link | upper }}",
        "Set it here: {{ activation_link[:10] }}",
    ],
)
def test_a_template_whose_message_lacks_the_link_is_refused(body: str) -> None:
    with pytest.raises(InputError) as caught:
        check(Template("welcome", "Hello", body))
    assert str(caught.value) == f"The email template 'welcome' {NO_LINK}"


def test_a_refused_template_is_not_saved(engine: Engine) -> None:
    with pytest.raises(InputError, match="has no"):
        set_template(engine, "welcome.es", "Hola", "Enlace: {# {{ activation_link }} #}")
    assert list_templates(engine) == []


@pytest.mark.parametrize(
    ("language", "suffixes"),
    [
        ("Spanish", ["spanish", "es"]),
        ("  español ", ["español", "es"]),
        ("es-MX", ["es-mx", "es"]),
        ("es_mx", ["es-mx", "es"]),
        ("Haitian  Creole", ["haitian creole", "ht"]),
        ("", []),
        (None, []),
    ],
)
def test_language_suffixes(language: str | None, suffixes: list[str]) -> None:
    assert language_suffixes(language) == suffixes


def test_the_language_picks_a_variant_else_the_template(engine: Engine) -> None:
    set_template(engine, "welcome.es", "Hola", "Enlace: {{ activation_link }}")
    set_template(engine, "welcome.vietnamese", "Xin chào", "{{ activation_link }}")
    set_template(engine, "welcomes", "Not a variant", "{{ activation_link }}")
    found = variants(engine, "Welcome")
    assert sorted(found) == ["welcome", "welcome.es", "welcome.vietnamese"]
    picked = {
        language: for_language(found, "welcome", language).name
        for language in ("Spanish", "es-419", "Vietnamese", "English", "French", None)
    }
    assert picked == {
        "Spanish": "welcome.es",
        "es-419": "welcome.es",
        "Vietnamese": "welcome.vietnamese",
        "English": "welcome",  # no variant: the base template (built in here)
        "French": "welcome",
        None: "welcome",
    }
