"""Console fixtures: a head office on SQLite in tmp, its app, and logged-in clients for an owner and for a
store's manager (real logins through /login: scrypt, CSRF cookie, session cookie)."""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from tests.parts import missing_part

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/login") -> str:
    """The CSRF token of the form on `path` (the session's once logged in)."""
    response = client.get(path)
    found = _CSRF.search(response.text)
    assert found, f"no form with a csrf_token on {path} ({response.status_code})"
    return found.group(1)


def page_data(text: str) -> str:
    """A page's text with its random CSRF tokens blanked, so a check that a store or till id is absent is not
    tripped by a token that happens to contain those letters (a 43-character token holds "S2" about 1 time in 100)."""
    return _CSRF.sub('name="csrf_token" value=""', text)


def log_in(client, name: str, password: str = PASSWORD, **extra):
    """Post the login form as a browser would; the response (303 to / on success)."""
    return client.post("/login", data={"csrf_token": csrf_of(client), "name": name, "password": password, **extra},
                       follow_redirects=False)


def client_for(app):
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def console_app(ho_store):
    """The whole head-office app (API + console) over `ho_store`."""
    from headoffice.app import create_app

    return create_app(ho_store)


@pytest.fixture
def make_user(ho_store):
    """Add a console user with PASSWORD: make_user(name, role="owner", store_id=None) -> user_id."""
    from headoffice.console import accounts

    def make(name: str, role: str = "owner", store_id: str | None = None) -> str:
        return accounts.add_user(ho_store, name, role, store_id, PASSWORD)[0]
    return make


@pytest.fixture
def anon_client(console_app):
    """A client with no session."""
    with client_for(console_app) as client:
        yield client


@pytest.fixture
def owner_client(console_app, make_user):
    """A client logged in as the owner "olivia" (every store)."""
    make_user("olivia", "owner")
    with client_for(console_app) as client:
        assert log_in(client, "olivia").status_code == 303
        yield client


@pytest.fixture
def manager_client(console_app, make_user):
    """manager_client(store_id) -> a client logged in as that store's manager ("manager-<store>")."""
    clients = []

    def make(store_id: str):
        make_user(f"manager-{store_id}", "manager", store_id)
        client = client_for(console_app).__enter__()
        clients.append(client)
        assert log_in(client, f"manager-{store_id}").status_code == 303
        return client
    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def pg_url():
    """A private PostgreSQL cluster (fsync off) for the console store's contract on both backends."""
    from headoffice import pgcluster

    if reason := pgcluster.available():
        missing_part(reason)
    with pgcluster.private_cluster(durable=False) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path):
    """A head-office store on each backend (PostgreSQL reset to an empty schema)."""
    from headoffice.store import open_store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ho.db'}"
    else:
        import psycopg

        url = request.getfixturevalue("pg_url")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def chromium(tmp_path):
    """chromium(width=1280, height=900) -> a WebDriver for Debian's chromium, headless, through Debian's
    chromedriver (no browser download), its console log kept (CSP reports); every one made is quit after."""
    import shutil

    from selenium import webdriver

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        missing_part("chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    drivers = []

    def make(width: int = 1280, height: int = 900):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or ""
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", f"--window-size={width},{height}",
                    f"--user-data-dir={tmp_path / f'chromium-{len(drivers)}'}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
        drivers.append(driver)
        return driver
    yield make
    for driver in drivers:
        driver.quit()


def browser_log_in(driver, base: str, name: str, password: str = PASSWORD, *, go: bool = True) -> None:
    """Log `name` in through the login form in a real browser and wait for the login's redirect (`go`: open
    the login page first; else the browser is already on it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if go:
        driver.get(base + "/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 15).until(lambda d: not d.current_url.endswith("/login"))


def screenshot(driver, shots, name: str, max_height: int = 4000):
    """The whole page as `shots/<name>.png` (the window stretched to the page, up to `max_height`); also copied to
    $CONSOLE_SCREENSHOTS when set (how docs/console-dashboard.png is refreshed)."""
    shots.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(900, height), max_height))
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path))
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["CONSOLE_SCREENSHOTS"]) / f"console-{name}.png")
    return path
