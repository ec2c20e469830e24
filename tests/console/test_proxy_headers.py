"""Behind the TLS proxy (deploy/nginx/headoffice.conf): the real server on loopback believes X-Forwarded-Proto
and X-Forwarded-For from its trusted proxies only. From a trusted proxy the session cookie is Secure, links it
prints are https and the login throttle counts the browser's address; from anyone else the same headers change
nothing (a client can claim neither https nor another address)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest

from headoffice.server import ServerThread
from tests.console.conftest import PASSWORD

FORWARDED = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        out.update({name: jar for name in jar})
    return out


def _log_in(url: str, name: str, password: str) -> tuple[httpx.Response, dict[str, SimpleCookie], SimpleCookie]:
    """GET the login form and POST it as a browser behind the proxy would (cookies sent back by hand: httpx
    keeps a Secure cookie off a plain-HTTP connection, the proxy's side of the TLS)."""
    with httpx.Client(base_url=url, headers=FORWARDED, follow_redirects=False) as client:
        form = client.get("/login")
        csrf = _CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        cookie = _cookies(form)["ho_login_csrf"]["ho_login_csrf"].value
        client.cookies.clear()
        answer = client.post("/login", data={"csrf_token": csrf, "name": name, "password": password},
                             headers={"cookie": f"ho_login_csrf={cookie}"})
        return answer, _cookies(answer), _cookies(form)["ho_login_csrf"]


@pytest.fixture
def server(request, ho_store, make_user):
    make_user("olivia", "owner")
    s = ServerThread(ho_store, trusted_proxies=request.param).start()
    yield s
    s.stop()


@pytest.mark.parametrize("server", [("127.0.0.1",)], indirect=True)
def test_from_the_trusted_proxy_the_session_is_secure_and_links_are_https(server, ho_store):
    answer, cookies, form_cookie = _log_in(server.url, "olivia", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    session = cookies["ho_session"]["ho_session"]
    assert session["secure"] and session["httponly"] and session["samesite"].lower() == "lax"
    assert form_cookie["ho_login_csrf"]["secure"]
    with httpx.Client(base_url=server.url, headers={**FORWARDED, "cookie": f"ho_session={session.value}"}) as client:
        form = client.get("/users")
        added = client.post("/users", data={"csrf_token": _CSRF.search(form.text).group(1), "action": "add",
                                            "name": "mia", "role": "manager", "store_id": "S1", "reason": "new"})
    assert added.status_code == 200
    link = re.search(r"(https?://[^\s<\"]+/set-password\?token=[^\s<\"]+)", added.text)
    assert link and link.group(1).startswith("https://"), added.text[:2000]
    _log_in(server.url, "olivia", "wrong password")
    addresses = {r[0] for r in ho_store._execute("SELECT akey FROM login_attempts")}
    assert "addr:203.0.113.7" in addresses and "addr:127.0.0.1" not in addresses


@pytest.mark.parametrize("server", [("10.9.9.9",), ()], indirect=True, ids=["another-proxy", "none"])
def test_from_anyone_else_the_headers_change_nothing(server, ho_store):
    answer, cookies, form_cookie = _log_in(server.url, "olivia", PASSWORD)
    assert answer.status_code == 303
    assert not cookies["ho_session"]["ho_session"]["secure"] and not form_cookie["ho_login_csrf"]["secure"]
    _log_in(server.url, "olivia", "wrong password")
    addresses = {r[0] for r in ho_store._execute("SELECT akey FROM login_attempts")}
    assert "addr:127.0.0.1" in addresses and "addr:203.0.113.7" not in addresses
