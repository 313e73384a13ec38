"""The parents' activation page on a real server: headless Chromium does what a parent does,
plain HTTP checks the refusals; on SQLite and PostgreSQL where the database is touched.

Chromium and its driver are Debian's (``apt-get install chromium chromium-driver``): Selenium is
given both paths and never downloads a browser or a driver. Without them the browser tests are
skipped, or fail under CI=true.
"""

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import uvicorn
from factories import SMALL_DISTRICT, USER_HEADERS, input_table
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import Engine, select

from backend.accounts.autocreate import Options as AutoCreateOptions
from backend.accounts.autocreate import autocreate
from backend.database.engine import make_engine, write_transaction
from backend.database.models import ActivationToken, PortalUser, utcnow
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import activation_link, issue_codes, issue_token
from backend.mail.outbox import send_pending
from backend.settings import get_settings
from server.activation_page import create_activation_app
from server.activation_texts import TEXTS, choose_language
from server.page_guards import AttemptCounter, form_token_is_valid, new_form_token

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
EN, ES = TEXTS["en"], TEXTS["es"]
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class Page:
    """A running activation page and the database behind it."""

    url: str  # the page's address, PORTAL_ACTIVATION_URL
    engine: Engine


@pytest.fixture
def page(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    """The page served by uvicorn on a free loopback port, in a thread of this process."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/activate"
    monkeypatch.setenv("PORTAL_ACTIVATION_URL", url)
    get_settings.cache_clear()
    app = create_activation_app(database_url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the page did not start"
        time.sleep(0.05)
    engine = make_engine(database_url)
    try:
        yield Page(url, engine)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()
        engine.dispose()
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    """Debian's headless Chromium, driven through Debian's chromedriver."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.exists()):
        message = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(argument)
    driver = started(options)
    try:
        yield driver
    finally:
        driver.quit()


def started(options: Options) -> WebDriver:
    """Chromium, tried three times: on a machine busy with other tests, its first start can
    outlast chromedriver's wait for it."""
    for attempt in range(3):
        try:
            driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except WebDriverException:
            if attempt == 2:
                raise
            continue
        driver.set_page_load_timeout(120)
        return driver
    raise AssertionError("unreachable")


@pytest.fixture
def browser(chromium: WebDriver) -> WebDriver:
    chromium.delete_all_cookies()
    return chromium


# --- what the tests set up ------------------------------------------------------------------


def emailed_links(engine: Engine, *, spanish: tuple[str, ...] = ()) -> dict[str, str]:
    """AutoCreate (applied) on the small district, its welcome emails sent to a local mail
    server: each new account's activation link, by address. ``spanish`` accounts are set to
    LANGUAGE Spanish (a users import) before the emails go."""
    from addin.demo.run import local_mail_server

    import_roster(engine, apply=True, **SMALL_DISTRICT.tables())
    report = autocreate(engine, AutoCreateOptions(email_template="welcome"), apply=True)
    assert report.counts["error"] == 0
    if spanish:
        rows = [[logon, "Tom", "Lee", "GUARDIAN", "Spanish"] for logon in spanish]
        table = input_table([*USER_HEADERS, "LANGUAGE"], rows, source_name="language.xlsx")
        assert import_users(engine, table, apply=True).counts["error"] == 0
    with local_mail_server() as (port, received):
        settings = replace(get_settings(), smtp_host="127.0.0.1", smtp_port=port)
        assert send_pending(engine, settings=settings).sent == 2
    return {str(message["To"]): link_in(message) for message in received}


def link_in(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+", message.get_content())
    assert found is not None, "the email carries no link"
    return found.group(0)


def user_id(engine: Engine, logon: str) -> int:
    with engine.connect() as connection:
        found: int = connection.execute(
            select(PortalUser.id).where(PortalUser.logon_id == logon)
        ).scalar_one()
    return found


def password_hash(engine: Engine, logon: str) -> str | None:
    with engine.connect() as connection:
        stored: str | None = connection.execute(
            select(PortalUser.password_hash).where(PortalUser.logon_id == logon)
        ).scalar_one()
    return stored


def expired_token(engine: Engine, logon: str) -> str:
    """A token of the account made long enough ago to have expired."""
    made = utcnow() - timedelta(hours=get_settings().activation_hours + 1)
    with write_transaction(engine) as connection:
        return issue_token(connection, user_id(engine, logon), now=made)


def letter_code(engine: Engine, logon: str) -> str:
    with write_transaction(engine) as connection:
        return issue_codes(connection, [user_id(engine, logon)])[user_id(engine, logon)]


def unused_tokens(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(
            connection.execute(
                select(ActivationToken.id).where(ActivationToken.used_at.is_(None))
            ).all()
        )


# --- in the browser -------------------------------------------------------------------------


def set_password(browser: WebDriver, link: str, password: str = PASSWORD) -> str:
    """Open ``link``, type the password twice by its labels, send; the message shown."""
    browser.get(link)
    fill_by_label(browser, {"password": password, "confirm": password})
    return submit(browser)


def submit(browser: WebDriver) -> str:
    """Press the form's button and wait for the answer: the message it shows."""
    button = browser.find_element(By.CSS_SELECTOR, "button[type=submit]")
    button.click()
    # While the answer replaces the page, chromedriver may say the button's node "does not
    # belong to the document" rather than that it is stale: ask again until it says stale.
    WebDriverWait(browser, 20, ignored_exceptions=(WebDriverException,)).until(staleness_of(button))
    return browser.find_element(By.ID, "message").text


def fill_by_label(browser: WebDriver, values: dict[str, str]) -> None:
    """Type each value into the field its <label for> names: every field must have one."""
    for name, value in values.items():
        label = browser.find_element(By.CSS_SELECTOR, f"label[for={name}]")
        assert label.text.strip()
        browser.find_element(By.ID, label.get_attribute("for") or "").send_keys(value)


def test_an_emailed_link_activates_once_and_every_bad_link_reads_alike(
    page: Page, browser: WebDriver
) -> None:
    links = emailed_links(page.engine)
    mia = links["mia@example.org"]
    assert mia.startswith(page.url + "?token=")

    browser.get(mia)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.title == EN["title"]
    for field in browser.find_elements(By.CSS_SELECTOR, "input[type=password]"):
        assert field.get_attribute("autocomplete") == "new-password"
    # The stylesheet applies, so the policy allows it by its hash.
    button = browser.find_element(By.CSS_SELECTOR, "button[type=submit]")
    assert button.value_of_css_property("background-color") == "rgba(11, 92, 173, 1)"

    done = set_password(browser, mia)
    assert done == EN["done"].format(logon="mia@example.org")
    assert PASSWORD not in browser.page_source
    stored = password_hash(page.engine, "mia@example.org")
    assert stored is not None and stored.startswith("$argon2id$")

    again = set_password(browser, mia, "another long password")
    again_page = browser.find_element(By.TAG_NAME, "main").text
    expired = set_password(browser, activation_link(expired_token(page.engine, "tom@example.org")))
    expired_page = browser.find_element(By.TAG_NAME, "main").text
    made_up = set_password(browser, activation_link("made-up-token-1234567890"))
    made_up_page = browser.find_element(By.TAG_NAME, "main").text
    assert again == expired == made_up == EN["invalid"]
    assert again_page == expired_page == made_up_page
    alert = browser.find_element(By.ID, "message")
    assert alert.get_attribute("role") == "alert"
    assert password_hash(page.engine, "mia@example.org") == stored  # the second try changed nothing
    assert password_hash(page.engine, "tom@example.org") is None


@on_sqlite
def test_a_spanish_account_gets_the_page_in_spanish(page: Page, browser: WebDriver) -> None:
    links = emailed_links(page.engine, spanish=("tom@example.org",))
    assert links["tom@example.org"].endswith("&lang=Spanish")
    assert "lang=" not in links["mia@example.org"]  # no LANGUAGE: the page's own default

    browser.get(links["tom@example.org"])
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=password]").text == ES["password"]
    assert set_password(browser, links["tom@example.org"]) == ES["done"].format(
        logon="tom@example.org"
    )
    assert (password_hash(page.engine, "tom@example.org") or "").startswith("$argon2id$")
    made_up = activation_link("made-up-token-1234567890", "Spanish")
    assert set_password(browser, links["tom@example.org"]) == ES["invalid"]
    used_page = browser.page_source
    assert set_password(browser, made_up) == ES["invalid"]
    assert browser.page_source == used_page  # nothing tells a used link from a made-up one


@on_sqlite
def test_a_letters_code_activates_through_the_code_form(page: Page, browser: WebDriver) -> None:
    import_users(
        page.engine,
        input_table(USER_HEADERS, [["cal.lee", "Cal", "Lee", "STUDENT"]], source_name="u.xlsx"),
        apply=True,
    )
    code = letter_code(page.engine, "cal.lee")

    browser.get(page.url)  # the address printed on the letter
    fill_by_label(
        browser,
        {"logon": "Cal.Lee", "code": "WRONG-CODE-0000", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert submit(browser) == EN["invalid"]
    assert browser.find_element(By.ID, "logon").get_attribute("value") == "Cal.Lee"
    assert browser.find_element(By.ID, "password").get_attribute("value") == ""  # never echoed

    fill_by_label(browser, {"code": code.lower(), "password": PASSWORD, "confirm": PASSWORD})
    assert submit(browser) == EN["done"].format(logon="cal.lee")
    assert (password_hash(page.engine, "cal.lee") or "").startswith("$argon2id$")


# --- over plain HTTP ------------------------------------------------------------------------


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form"
    return found.group(1)


def post(client: httpx.Client, url: str, fields: dict[str, str]) -> httpx.Response:
    """Open the page at ``url`` (for its form token and cookie), then send ``fields``."""
    opened = client.get(url)
    return client.post(url.split("?")[0], data={"form_token": form_token(opened.text), **fields})


def alert(response: httpx.Response) -> str:
    found = re.search(r'role="alert" id="message">([^<]*)<', response.text)
    assert found is not None, "the page shows no error"
    return found.group(1).replace("&#39;", "'")


def one_account_with_a_link(engine: Engine) -> str:
    import_users(
        engine,
        input_table(USER_HEADERS, [["ann@example.org", "Ann", "Lee", "GUARDIAN"]]),
        apply=True,
    )
    with write_transaction(engine) as connection:
        return issue_token(connection, user_id(engine, "ann@example.org"))


def test_a_post_without_this_pages_form_token_changes_nothing(page: Page) -> None:
    token = one_account_with_a_link(page.engine)
    fields = {"token": token, "password": PASSWORD, "confirm": PASSWORD}
    with httpx.Client() as client:
        refusals = [client.post(page.url, data=fields)]  # another site's form: no cookie
        opened = client.get(activation_link(token))
        refusals.append(client.post(page.url, data=fields))  # the cookie, but no field
        signed = form_token(opened.text)
        forged = signed[:-1] + ("1" if signed.endswith("0") else "0")
        refusals.append(client.post(page.url, data={**fields, "form_token": forged}))
        refusals.append(client.post(page.url, json=fields))
    with httpx.Client() as other:  # a valid field taken to another browser
        refusals.append(
            other.post(page.url, data={**fields, "form_token": form_token(opened.text)})
        )
    for refused in refusals:
        assert refused.status_code == 403
        assert alert(refused) == EN["forged"]
    assert password_hash(page.engine, "ann@example.org") is None
    assert unused_tokens(page.engine) == 1


def test_short_or_mismatched_passwords_change_nothing(page: Page) -> None:
    token = one_account_with_a_link(page.engine)
    link = activation_link(token)
    with httpx.Client() as client:
        short = post(client, link, {"token": token, "password": "short", "confirm": "short"})
        mismatched = post(
            client, link, {"token": token, "password": PASSWORD, "confirm": PASSWORD + "!"}
        )
        spanish = post(
            client, link, {"token": token, "lang": "es", "password": "x", "confirm": "x"}
        )
    assert (short.status_code, alert(short)) == (400, EN["too_short"].format(minimum=10, length=5))
    assert (mismatched.status_code, alert(mismatched)) == (400, EN["mismatch"])
    assert alert(spanish) == ES["too_short"].format(minimum=10, length=1)
    for answer in (short, mismatched):
        assert 'name="password"' in answer.text  # the form again, empty: nothing echoed
        assert PASSWORD not in answer.text and "short" not in answer.text.split("<main>")[1]
    assert password_hash(page.engine, "ann@example.org") is None
    assert unused_tokens(page.engine) == 1


def test_too_many_tries_from_one_address_are_refused(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_ACTIVATION_ATTEMPTS_PER_10_MINUTES", "3")
    get_settings.cache_clear()
    token = one_account_with_a_link(page.engine)
    wrong = {"token": "made-up-token", "password": PASSWORD, "confirm": PASSWORD}
    with httpx.Client() as client:
        answers = [post(client, page.url + "?lang=es", {**wrong, "lang": "es"}) for _ in range(3)]
        fourth = post(client, activation_link(token), {**wrong, "token": token, "lang": "es"})
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert fourth.status_code == 429
    assert alert(fourth) == ES["too_many"]
    assert '<html lang="es">' in fourth.text
    assert password_hash(page.engine, "ann@example.org") is None  # a good token, yet refused
    assert unused_tokens(page.engine) == 1


def test_used_and_made_up_tokens_get_the_very_same_page(page: Page) -> None:
    token = one_account_with_a_link(page.engine)
    fields = {"password": PASSWORD, "confirm": PASSWORD}
    with httpx.Client() as client:
        assert post(client, activation_link(token), {"token": token, **fields}).status_code == 200
        used = post(client, activation_link(token), {"token": token, **fields})
        made_up = post(client, activation_link("x" * 43), {"token": "x" * 43, **fields})
        wrong_code = post(
            client, page.url, {"logon": "ann@example.org", "code": "ABCD-EFGH-JKMN", **fields}
        )
        no_account = post(
            client, page.url, {"logon": "nobody@example.org", "code": "ABCD-EFGH-JKMN", **fields}
        )
    assert used.status_code == made_up.status_code == 400
    assert used.content == made_up.content
    assert wrong_code.status_code == no_account.status_code == 400
    assert alert(used) == alert(wrong_code) == alert(no_account) == EN["invalid"]


@on_sqlite
def test_the_page_sends_its_security_headers_and_labels_every_field(page: Page) -> None:
    with httpx.Client() as client:
        link_form = client.get(page.url + "?token=abc")
        code_form = client.get(page.url, headers={"Accept-Language": "fr, es;q=0.8, en;q=0.5"})
    for answer in (link_form, code_form):
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        cookie = answer.headers["set-cookie"].lower()
        assert "samesite=strict" in cookie and "httponly" in cookie
        fields = Fields()
        fields.feed(answer.text)
        assert fields.inputs and fields.inputs == fields.labelled
    assert '<html lang="en">' in link_form.text
    assert '<html lang="es">' in code_form.text  # the browser's first language the page has
    assert ES["code"] in code_form.text


@on_sqlite
def test_an_unusable_secret_file_gets_a_plain_answer_and_no_form(page: Page) -> None:
    Path(get_settings().activation_secret_file).write_text("not a secret")
    fields = {"token": "abc", "form_token": "1.ab", "password": PASSWORD, "confirm": PASSWORD}
    with httpx.Client() as client:
        answers = [client.get(page.url + "?token=abc"), client.post(page.url, data=fields)]
    for answer in answers:
        assert (answer.status_code, alert(answer)) == (503, EN["unavailable"])
        assert 'name="password"' not in answer.text and "set-cookie" not in answer.headers


class Fields(HTMLParser):
    """The ids of the visible inputs, and the ids that a <label for> names."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: set[str] = set()
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") != "hidden":
            self.inputs.add(values.get("id") or "(no id)")
        if tag == "label":
            self.labelled.add(values.get("for") or "(no for)")


def test_the_language_comes_from_the_link_then_the_browser() -> None:
    assert choose_language("Spanish", None) == "es"
    assert choose_language("es-MX", "en") == "es"
    assert choose_language("español", None) == "es"
    assert choose_language("English", "es") == "en"
    assert choose_language("Klingon", "de, es-419;q=0.9") == "es"  # no such page: the browser's
    assert choose_language(None, "es;q=0, en;q=0.1") == "en"
    assert choose_language(None, "fr-CA, de") == "en"
    assert choose_language("", "") == "en"


def test_the_emailed_link_names_the_accounts_language() -> None:
    base = "https://portal.example.org/activate?token=abc"
    assert activation_link("abc") == base
    assert activation_link("abc", None) == activation_link("abc", "  ") == base
    assert activation_link("abc", "Haitian Creole") == base + "&lang=Haitian%20Creole"


def test_a_form_token_signs_its_cookie_for_two_hours_only() -> None:
    secret, other_secret = b"k" * 32, b"q" * 32
    cookie, field = new_form_token(secret, now=1_000_000)
    assert form_token_is_valid(secret, cookie, field, now=1_000_000 + 2 * 3600)
    assert not form_token_is_valid(secret, cookie, field, now=1_000_000 + 2 * 3600 + 1)
    assert not form_token_is_valid(secret, cookie, field, now=1_000_000 - 1)  # from the future
    assert not form_token_is_valid(other_secret, cookie, field, now=1_000_000)
    assert not form_token_is_valid(secret, cookie + "x", field, now=1_000_000)
    assert not form_token_is_valid(secret, None, field, now=1_000_000)
    assert not form_token_is_valid(secret, cookie, "", now=1_000_000)
    later = field.replace("1000000.", "1000001.")  # the time cannot be moved without the secret
    assert not form_token_is_valid(secret, cookie, later, now=1_000_001)
    assert new_form_token(secret, nonce=cookie, now=1_000_000) == (cookie, field)


def test_tries_are_counted_per_address_over_ten_minutes() -> None:
    counter = AttemptCounter()
    assert [counter.allow("10.0.0.1", 3, now=t) for t in (0, 1, 2, 3)] == [True] * 3 + [False]
    assert counter.allow("10.0.0.2", 3, now=3)  # another address counts on its own
    assert not counter.allow("10.0.0.1", 3, now=599)
    assert counter.allow("10.0.0.1", 3, now=600.5)  # the first try has left the window
    assert not counter.allow("10.0.0.1", 3, now=600.6)
