"""Users, logins and sessions: scrypt hashes, hashed session tokens with expiry, CSRF on every form, lockout
counted in the database (a second worker sees it), one-time password links, roles and store scope."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from tests.console.conftest import PASSWORD, client_for, csrf_of, log_in, page_data


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_login_sets_an_httponly_samesite_session_stored_only_hashed(console_app, ho_store, make_user):
    make_user("olivia")
    with client_for(console_app) as client:
        response = log_in(client, "olivia")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "ho_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain http on loopback; see the TLS case below
        token = client.cookies["ho_session"]
        stored = [r[0] for r in ho_store._execute("SELECT token_hash FROM console_tokens WHERE purpose = 'session'")]
        assert stored == [_sha(token)]
        hashed = ho_store._execute("SELECT password_hash FROM console_users WHERE name = 'olivia'")[0][0]
        assert hashed.startswith("scrypt$32768$8$1$") and PASSWORD not in hashed
        page = client.get("/audit")
        assert page.status_code == 200 and "olivia" in page.text and "Log out" in page.text


def test_session_cookie_is_secure_over_tls(console_app, make_user):
    make_user("olivia")
    from starlette.testclient import TestClient

    with TestClient(console_app, base_url="https://console.example") as client:
        response = log_in(client, "olivia")
        assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]
        assert response.headers["strict-transport-security"].startswith("max-age=")


def test_wrong_password_and_unknown_user_get_the_same_answer(anon_client, make_user):
    make_user("olivia")
    wrong = log_in(anon_client, "olivia", "not the password at all")
    unknown = log_in(anon_client, "nobody", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    assert "ho_session" not in anon_client.cookies
    assert anon_client.get("/audit", follow_redirects=False).headers["location"] == "/login"


def test_repeated_failures_lock_the_account_for_every_worker(console_app, ho_store, make_user):
    make_user("olivia")
    with client_for(console_app) as client:
        for _ in range(5):
            assert log_in(client, "olivia", "guessing wrongly").status_code == 401
        locked = log_in(client, "olivia")  # even the right password now
        assert locked.status_code == 429 and "locked" in locked.text
    # a second head-office worker on the same database refuses it too: the count lives in the database
    from headoffice.app import create_app

    with client_for(create_app(ho_store)) as other:
        assert log_in(other, "olivia").status_code == 429
    rows = ho_store._execute("SELECT akey, locked_until FROM login_attempts WHERE akey = 'user:olivia'")
    assert rows and rows[0][1] is not None
    audit = ho_store.console.audit_page(None)
    assert [(a["action"], a["target"]) for a in audit] == [("user.locked", "olivia")]


def test_many_failures_from_one_address_block_it_for_every_name(anon_client, ho_store, make_user):
    make_user("olivia")
    make_user("mia", "manager", "S1")
    window = timedelta(minutes=15)
    for _ in range(29):  # 29 failures already counted for this address (TestClient's is "testclient")
        ho_store.console.login_failed("addr:testclient", 30, window, window)
    assert log_in(anon_client, "someone-else", "wrong password here").status_code == 401  # the 30th
    blocked = log_in(anon_client, "mia")  # right password, another name, same address
    assert blocked.status_code == 429 and "from here" in blocked.text and "ho_session" not in anon_client.cookies


def test_lock_expires_and_a_success_resets_the_count(ho_store, make_user):
    records = ho_store.console
    window = timedelta(minutes=15)
    assert records.login_failed("user:x", 3, window, timedelta(seconds=-1)) is None
    assert records.login_failed("user:x", 3, window, timedelta(seconds=-1)) is None
    assert records.login_failed("user:x", 3, window, timedelta(seconds=-1)) is not None  # locked ... already past
    assert records.locked_until("user:x") is None
    records.login_failed("user:y", 3, window, window)
    records.login_succeeded("user:y")
    assert ho_store._execute("SELECT COUNT(*) FROM login_attempts WHERE akey = 'user:y'")[0][0] == 0


def test_forms_without_the_csrf_token_are_refused(owner_client, anon_client, make_user):
    make_user("mia", "manager", "S1")
    no_token = anon_client.post("/login", data={"name": "mia", "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403 and "ho_session" not in anon_client.cookies
    forged = owner_client.post("/stores", data={"csrf_token": "forged", "store_id": "S1", "till_id": "T1",
                                                "reason": "new till"})
    assert forged.status_code == 403 and "Enrolment code" not in forged.text
    assert owner_client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert owner_client.get("/audit").status_code == 200  # still logged in


def test_logout_ends_the_session_server_side(console_app, ho_store, make_user):
    make_user("olivia")
    with client_for(console_app) as client:
        log_in(client, "olivia")
        token = client.cookies["ho_session"]
        out = client.post("/logout", data={"csrf_token": csrf_of(client, "/audit")}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
    with client_for(console_app) as replay:  # the old cookie, replayed, is worth nothing
        replay.cookies.set("ho_session", token)
        assert replay.get("/audit", follow_redirects=False).headers["location"] == "/login"
    assert ho_store._execute("SELECT COUNT(*) FROM console_tokens WHERE purpose = 'session'")[0][0] == 0


def test_an_expired_session_is_refused(console_app, ho_store, make_user):
    user_id = make_user("olivia")
    token = ho_store.console.start_session(user_id, hours=-1)
    with client_for(console_app) as client:
        client.cookies.set("ho_session", token)
        assert client.get("/audit", follow_redirects=False).status_code == 303


def test_login_goes_back_only_to_a_page_of_this_site(anon_client, make_user):
    make_user("olivia")
    assert log_in(anon_client, "olivia", next="/stores").headers["location"] == "/stores"
    anon_client.cookies.clear()
    assert log_in(anon_client, "olivia", next="//evil.example/x").headers["location"] == "/"


def test_user_add_prints_a_one_time_link_that_sets_the_password(tmp_path, capsys, console_app, ho_store):
    from headoffice import cli

    db = f"sqlite:///{tmp_path / 'headoffice.db'}"  # the same file ho_store opened
    assert cli.main(["user", "add", "mia", "--role", "manager", "--store", "S1", "--db", db,
                     "--url", "https://ho.example"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://ho.example/set-password?token=")
    path = link[len("https://ho.example"):]
    token = path.split("token=")[1]
    assert _sha(token) in [r[0] for r in ho_store._execute("SELECT token_hash FROM console_tokens")]
    with client_for(console_app) as client:
        page = client.get(path)
        assert page.status_code == 200 and "Set the password for mia" in page.text
        csrf = csrf_of(client, path)
        differ = client.post("/set-password", data={"csrf_token": csrf, "token": token, "password": PASSWORD,
                                                    "confirm": PASSWORD + "!"})
        assert differ.status_code == 400 and "differ" in differ.text
        weak = client.post("/set-password", data={"csrf_token": csrf, "token": token, "password": "short",
                                                  "confirm": "short"})
        assert weak.status_code == 400 and "12 characters" in weak.text
        done = client.post("/set-password", data={"csrf_token": csrf, "token": token, "password": PASSWORD,
                                                  "confirm": PASSWORD}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/login?done=1"
        assert client.get(path).status_code == 404  # one use
        assert log_in(client, "mia").status_code == 303
        assert "mia · manager of S1" in client.get("/audit").text
    actions = [(a["user_name"], a["action"]) for a in ho_store.console.audit_page("S1")]
    assert actions == [("mia", "user.password_set"), ("command line", "user.add")]  # both filed under S1


def test_an_expired_link_is_refused(anon_client, ho_store, make_user):
    user_id = make_user("mia", "manager", "S1")
    token = ho_store.console.password_link(user_id, hours=-1)
    assert anon_client.get(f"/set-password?token={token}").status_code == 404


@pytest.mark.parametrize(("argv", "message"), [
    (["user", "add", "mia", "--role", "manager"], "needs --store"),
    (["user", "add", "olivia", "--role", "owner", "--store", "S1"], "every store"),
    (["user", "add", "mia", "--role", "boss"], "invalid choice"),
])
def test_user_add_refuses_bad_input_with_exit_2(tmp_path, capsys, argv, message):
    from headoffice import cli

    assert cli.main([*argv, "--db", f"sqlite:///{tmp_path / 'ho.db'}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_user_add_takes_a_password_on_stdin_and_refuses_a_weak_one(tmp_path, capsys, monkeypatch):
    import io

    from headoffice import cli
    from headoffice.store import open_store

    db = f"sqlite:///{tmp_path / 'ho.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert cli.main(["user", "add", "olivia", "--role", "owner", "--password-stdin", "--db", db]) == 2
    assert "at least 12" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["user", "add", "olivia", "--role", "owner", "--password-stdin", "--db", db]) == 0
    assert capsys.readouterr().out == "olivia added\n"
    store = open_store(db)
    try:
        from headoffice.console import passwords

        assert passwords.verify(PASSWORD, store.console.user_by_name("olivia")["password_hash"])
    finally:
        store.close()


def test_a_manager_sees_only_their_store_and_no_users_page(owner_client, manager_client, ho_store):
    ho_store.add_till("S1", "T1")
    ho_store.add_till("S2", "T9")
    manager = manager_client("S1")
    tills = page_data(manager.get("/stores").text)
    assert "Store S1" in tills and "S2" not in tills and "T9" not in tills
    denied = manager.get("/tills/S2/T9")
    assert denied.status_code == 403 and "T9" not in page_data(denied.text)
    users = manager.get("/users")
    assert users.status_code == 403 and "olivia" not in users.text and "Users" not in users.text.split("<main")[0]
    assert "Users" in owner_client.get("/stores").text.split("<main")[0]
    owner_view = owner_client.get("/stores").text
    assert "Store S1" in owner_view and "Store S2" in owner_view


def test_owner_adds_a_user_on_the_users_page_with_a_reason(owner_client, ho_store):
    csrf = csrf_of(owner_client, "/users")
    no_reason = owner_client.post("/users", data={"csrf_token": csrf, "action": "add", "name": "mia",
                                                  "role": "manager", "store_id": "S1", "reason": ""})
    assert no_reason.status_code == 400 and "say why" in no_reason.text
    added = owner_client.post("/users", data={"csrf_token": csrf, "action": "add", "name": "mia",
                                              "role": "manager", "store_id": "S1", "reason": "new store manager"})
    assert added.status_code == 200 and "/set-password?token=" in added.text
    mia = ho_store.console.user_by_name("mia")
    assert mia["role"] == "manager" and mia["store_id"] == "S1" and mia["password_hash"] is None
    disabled = owner_client.post("/users", data={"csrf_token": csrf, "action": "disable", "user_id": mia["user_id"],
                                                 "reason": "left the company"})
    assert disabled.status_code == 200 and not ho_store.console.user_by_name("mia")["active"]
    audit = owner_client.get("/audit").text
    assert "user.add" in audit and "new store manager" in audit and "left the company" in audit


def test_console_records_contract_on_both_backends(any_store):
    """Every ConsoleRecords method on SQLite and PostgreSQL."""
    records = any_store.console
    assert records.ping()
    owner = records.add_user("olivia", "owner", None, "scrypt$x")
    with pytest.raises(ValueError, match="already"):
        records.add_user("olivia", "manager", "S1", None)
    manager = records.add_user("mia", "manager", "S1", None)
    assert [u["name"] for u in records.users()] == ["mia", "olivia"]
    token = records.start_session(owner)
    assert records.session(token)["name"] == "olivia" and records.session(token + "x") is None
    link = records.password_link(manager)
    assert records.link_user(link) == {"user_id": manager, "name": "mia", "role": "manager", "store_id": "S1"}
    assert records.use_password_link(link, "scrypt$y")["name"] == "mia" and records.link_user(link) is None
    assert records.user_by_name("mia")["password_hash"] == "scrypt$y"
    assert records.set_active(owner, False) and records.session(token) is None
    window = timedelta(minutes=15)
    assert [records.login_failed("user:z", 3, window, window) is not None for _ in range(3)] == [False, False, True]
    assert records.locked_until("user:z") is not None
    first = records.audit_add(owner, "olivia", None, "user.add", "mia", "why", "{}")
    second = records.audit_add(manager, "mia", "S1", "till.revoke", "S1/T1", "stolen", "{}")
    assert second == first + 1
    assert [a["audit_id"] for a in records.audit_page(None)] == [second, first]
    assert [a["audit_id"] for a in records.audit_page("S1")] == [second]
    assert [a["audit_id"] for a in records.audit_page(None, before=second)] == [first]
    any_store.add_till("S1", "T1")
    records.record_contact("S1", "T1", "push", pending=4, version="1.2", skew_ms=-1500, entries=3)
    records.record_contact("S1", "T1", "pull", error="pull refused (403): x")
    till = records.tills("S1")[0]
    assert (till["pending"], till["version"], till["clock_skew_ms"], till["last_error"]) == (4, "1.2", -1500,
                                                                                           "pull refused (403): x")
    assert till["last_push_at"] and till["last_pull_at"] is None and till["quarantined"] == 0
    assert records.counters("ingest_entries") == {"": 3}
    records.add_counts({("http_requests", "GET /x 200"): 2})
    records.add_counts({("http_requests", "GET /x 200"): 1})
    assert records.counters("http_requests") == {"GET /x 200": 3}
    assert records.revoke_till("S1", "T1") and not records.revoke_till("S1", "T404")
    assert records.tills("S1")[0]["active"] is False and records.tills("S1")[0]["revoked_at"]
    assert records.tills("S2") == []
