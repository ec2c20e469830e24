"""Safe on the internet: security headers on every answer, autoescaping, no inline script or style, request size
limits, no stack trace in any response (console or API), 403 with no data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console.conftest import csrf_of, log_in, page_data

TEMPLATES = Path(__file__).resolve().parents[2] / "headoffice" / "console" / "templates"
HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


def assert_secured(response) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/console.css", "/no-such-page", "/v1/health",
                                  "/v1/no-such-route"])
def test_every_answer_carries_the_security_headers(anon_client, path):
    assert_secured(anon_client.get(path))


def test_logged_in_pages_carry_them_and_are_not_cached(owner_client):
    for path in ("/stores", "/audit", "/users"):
        page = owner_client.get(path)
        assert page.status_code == 200
        assert_secured(page)
        assert page.headers["cache-control"] == "no-store"


def test_no_template_has_inline_script_or_style():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\sstyle\s*=", text) and "<style" not in text, template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # no onclick= and friends
        assert "|safe" not in text and "autoescape false" not in text, template.name


def test_what_users_type_is_escaped_on_every_page(owner_client, ho_store):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = owner_client.post("/stores", data={"csrf_token": csrf_of(owner_client, "/stores"), "store_id": "S1",
                                              "till_id": "T1", "reason": attack})
    assert page.status_code == 200
    audit = owner_client.get("/audit").text
    assert attack not in audit and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in audit
    failed = log_in(owner_client, attack)  # echoed back into the login form's name field
    assert attack not in failed.text


def test_a_manager_asking_for_another_store_gets_403_with_no_data(manager_client, ho_store):
    ho_store.add_till("S2", "SECRET-TILL")
    manager = manager_client("S1")
    for path in ("/tills/S2/SECRET-TILL", "/users"):
        denied = manager.get(path)
        assert denied.status_code == 403
        assert "SECRET-TILL" not in page_data(denied.text) and "S2" not in page_data(denied.text)
        assert_secured(denied)


def test_an_oversized_form_is_refused_before_it_is_read(anon_client):
    big = anon_client.post("/login", content=b"name=" + b"a" * (2 * 1024 * 1024),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "too large" in big.text
    assert_secured(big)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"a" * 65536

    streamed = anon_client.post("/login", content=chunks(),
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413


def test_an_oversized_api_body_is_refused_without_reading_it(anon_client):
    refused = anon_client.post("/v1/push", content=b"{}", headers={"content-length": str(200 * 1024 * 1024),
                                                                   "content-type": "application/json"})
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("application/json")


def test_a_failure_inside_answers_500_without_a_trace(owner_client, anon_client, ho_store, make_user, caplog):
    code = ho_store.add_till("S1", "T1")
    token, _ = ho_store.register(code)
    ho_store.close()  # the database goes away under the running app
    csrf = csrf_of(anon_client)  # the login form itself needs no database
    for path, page in (("/stores", owner_client.get("/stores")), ("/audit", owner_client.get("/audit")),
                       ("/login", anon_client.post("/login", data={"csrf_token": csrf, "name": "olivia",
                                                                   "password": "whatever it is"}))):
        assert page.status_code == 500, path
        assert page.headers["content-type"].startswith("text/html")
        for leak in ("Traceback", "sqlite3", "ProgrammingError", 'File "', ".py"):
            assert leak not in page.text, (path, leak)
        assert "something went wrong" in page.text.lower() or "logged" in page.text
        assert_secured(page)
    api = anon_client.get("/v1/pull", params={"cursor": 0}, headers={"authorization": f"Bearer {token}"})
    assert api.status_code == 500 and api.json()["error"] and "Traceback" not in api.text and "sqlite" not in api.text
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)  # logged server-side


def test_methods_and_unknown_pages_answer_plain_pages(anon_client):
    missing = anon_client.get("/definitely/not/here")
    assert missing.status_code == 404 and "There is no such page." in missing.text
    wrong = anon_client.delete("/login")
    assert wrong.status_code == 405 and "Traceback" not in wrong.text
    assert anon_client.get("/v1/nothing").json()["error"] == "no such route"


def test_pages_need_a_login(anon_client):
    for path in ("/stores", "/audit", "/users", "/tills/S1/T1"):
        answer = anon_client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path


@pytest.fixture
def phone(chromium):
    """Debian's chromium, headless, emulating a 390 px wide phone; its console log kept for CSP reports."""
    driver = chromium()
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    return driver


def test_pages_work_at_phone_width_under_the_csp(phone, ho_store, make_user):
    from selenium.webdriver.common.by import By

    from headoffice.server import ServerThread
    from tests.console.conftest import browser_log_in

    make_user("olivia")
    for i in range(3):
        ho_store.add_till("STORE-WITH-A-LONG-NAME", f"TILL-{i}-AT-THE-BACK-DOOR")
    server = ServerThread(ho_store).start()
    try:
        phone.get(f"{server.url}/stores")  # not logged in: sent to the login form
        assert phone.current_url.endswith("/login")
        browser_log_in(phone, server.url, "olivia", go=False)  # on the login form it was sent to
        for path in ("/stores", "/audit", "/users"):
            phone.get(server.url + path)
            assert "Log out" in phone.find_element(By.CSS_SELECTOR, ".who").text, path
            assert "olivia" in phone.find_element(By.CSS_SELECTOR, ".who").text
            if path == "/stores":  # long ids in a table, stacked as label/value rows on a phone
                assert "TILL-2-AT-THE-BACK-DOOR" in phone.find_element(By.CSS_SELECTOR, "main").text
            overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
            # the stylesheet applied (a CSP refusal would leave the page unstyled)
            assert phone.execute_script("return getComputedStyle(document.body).backgroundColor") == \
                "rgb(246, 247, 249)"
        violations = [e["message"] for e in phone.get_log("browser") if "Content Security Policy" in e["message"]]
        assert violations == []
    finally:
        server.stop()
