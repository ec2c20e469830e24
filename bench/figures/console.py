"""Console page latency at scale: every page an owner or manager opens, served by the real head-office server
on loopback to a logged-in owner, p50/p99 over >= 200 requests per page.

Pages: the dashboard chain-wide for each preset period and for a store, member search by phone, by name and by
card, a member's page, the tills page (/stores), the audit page and the program page. `/healthz` is timed too, as
the floor every page pays (connection, routing, middleware), and shown apart.

The head office is built from the generated dataset by SQL, once, cached beside it (`headoffice.db`:
members, cards, the whole ledger, balances, member sales), then given what a running chain's console has: the
dataset's tills registered with what they last reported, quarantined records and an audit trail (`seed`, once;
both in `console_data`).
The marketing snapshot is `reports.chain_db` (the chain's members and sales in the till schema) with the ledger
added and the meta a refresh writes, copied to scratch so each run starts without the figures computed.

A page never computes figures: the first dashboard request after a snapshot build answers "being computed" (timed:
`cold`) and head office computes that set away from the page; the bench waits for it, then computes the other
preset sets as the scheduled refresh's warm-up does (`warm`), and only then times the pages.

Baseline, in the same run and interleaved request by request (bench/method.py: page then raw query on even
rounds, raw query then page on odd ones; each page judged on its own, its baseline's halves compared): the raw
query each page cannot do without, on its own sqlite3 connection (the dashboard: its figures' row in the cache
beside the snapshot; the searches: the indexed lookup; the member page: the member, their cards, balance and
latest ledger rows; tills: tills with their reports and quarantine counts; audit: the newest 100 records;
program: the rules and where each till stands).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from bench.env import BenchEnv
from bench.figures.console_data import THROUGH, ho_db, seed, snapshot
from bench.method import Rounds, Verdict, judge
from bench.stats import MISS, NOISY, NOT_JUDGED, PASS, Figure, Measure
from headoffice.console import figures
from headoffice.console.web import SESSION_COOKIE
from headoffice.server import ServerThread
from headoffice.store import open_store
from headoffice.upkeep import utc_now

KEY = "console"
TITLE = "Console pages (dashboard, member search, member, tills, audit, program) over loopback"
TARGET = "p99 < 200 ms per page"
LIMIT_S = 0.2
PERIODS = ("30d", "90d", "365d")
COLD_WAIT_S = 3600  # how long the bench waits for head office to compute the first figure set


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _raw_dashboard(cache: sqlite3.Connection, built_at: str, key: tuple[str, str, str]) -> Any:
    return json.loads(cache.execute("SELECT payload FROM figures WHERE built_at = ? AND scope = ? AND start = ?"
                                    " AND end = ?", (built_at, *key)).fetchone()[0])


_RESULT = "SELECT m.member_id, m.store_id, m.name, m.phone, m.status, m.merged_into FROM members m"


def _raw_search_phone(ro: sqlite3.Connection, phone: str) -> Any:
    return ro.execute(f"{_RESULT} WHERE m.phone = ? ORDER BY m.member_id LIMIT 50", (phone,)).fetchall()


def _raw_search_name(ro: sqlite3.Connection, name: str) -> Any:
    low = name.lower()
    return ro.execute(f"{_RESULT} WHERE lower(m.name) >= ? AND lower(m.name) < ? ORDER BY lower(m.name),"
                      " m.member_id LIMIT 50", (low, low + "\U0010ffff")).fetchall()


def _raw_search_card(ro: sqlite3.Connection, card: str) -> Any:
    return ro.execute(f"{_RESULT} JOIN cards c ON c.member_id = m.member_id WHERE c.card_number = ?",
                      (card,)).fetchall()


def _raw_member(ro: sqlite3.Connection, member_id: str) -> Any:
    return (ro.execute("SELECT * FROM members WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT * FROM cards WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT points FROM balances WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT * FROM ledger WHERE member_id = ? ORDER BY server_seq DESC LIMIT 50",
                       (member_id,)).fetchall())


def _raw_tills(ro: sqlite3.Connection) -> Any:
    return ro.execute("SELECT t.store_id, t.till_id, r.last_contact_at, r.pending, (SELECT COUNT(*) FROM rejects q"
                      " WHERE q.store_id = t.store_id AND q.till_id = t.till_id) FROM tills t LEFT JOIN till_reports r"
                      " ON r.store_id = t.store_id AND r.till_id = t.till_id WHERE t.role = 'till'"
                      " ORDER BY t.store_id, t.till_id").fetchall()


def _raw_audit(ro: sqlite3.Connection) -> Any:
    return ro.execute("SELECT audit_id, at, user_name, store_id, action, target, reason, detail FROM audit"
                      " ORDER BY audit_id DESC LIMIT 100").fetchall()


def _raw_program(ro: sqlite3.Connection) -> Any:
    return (ro.execute("SELECT key, value FROM rules ORDER BY key").fetchall(),
            ro.execute("SELECT COALESCE(MAX(server_seq), 0) FROM feed WHERE entity = 'rule'").fetchall(),
            ro.execute("SELECT t.store_id, t.till_id, p.acked FROM tills t LEFT JOIN till_pulls p ON p.store_id ="
                       " t.store_id AND p.till_id = t.till_id WHERE t.role = 'till' ORDER BY t.store_id,"
                       " t.till_id").fetchall())


def _people(ro: sqlite3.Connection) -> list[tuple[str, str, str, str, str]]:
    """(member_id, phone, store, name, card) of members picked at random rowids (no scan of a million rows)."""
    rows = ro.execute(
        "SELECT m.member_id, m.phone, m.store_id, m.name, (SELECT c.card_number FROM cards c WHERE c.member_id ="
        " m.member_id LIMIT 1) FROM members m WHERE m.phone IS NOT NULL AND m.name IS NOT NULL AND m.rowid IN"
        " (SELECT abs(random()) % (SELECT MAX(rowid) FROM members) + 1 FROM members LIMIT 400)").fetchall()
    return [r for r in rows if r[4] is not None]


def _wait_computed(client: httpx.Client, params: dict[str, str], limit_s: float) -> tuple[float, int]:
    """Reload the page as its refresh would until the figures are there: (seconds, pages answered meanwhile)."""
    t0 = time.perf_counter()
    polls = 0
    while time.perf_counter() - t0 < limit_s:
        resp = client.get("/", params=params)
        polls += 1
        if resp.status_code == 200 and "data-figure" in resp.text:
            return time.perf_counter() - t0, polls
        time.sleep(2)
    raise TimeoutError(f"head office did not compute the dashboard's figures within {limit_s:.0f} s")


def run(env: BenchEnv) -> Figure:
    n = env.samples(300, 200)
    db = ho_db(env)
    seed(db)
    snap_path = snapshot(env, env.scratch / "headoffice.marketing.db")
    store = open_store(f"sqlite:///{db}")
    server = ServerThread(store, snapshot=snap_path).start()
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    wrong: list[str] = []
    load = [os.getloadavg()[0]]
    rounds: dict[str, Rounds] = {}
    try:
        owner = store.console.add_user(f"bench-{time.time_ns()}", "owner", None, None)
        token = store.console.start_session(owner)
        rng = env.rng(KEY)
        people = _people(ro)
        stores = sorted({p[2] for p in people})[:3]
        state = figures.snapshot_state(snap_path, utc_now())
        assert state is not None and state.usable
        with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: token}, timeout=60) as client:
            cold_s, resp = _timed(partial(client.get, "/", params={"period": PERIODS[0]}))
            if resp.status_code != 200 or "figures-computing" not in resp.text or "data-figure" in resp.text:
                wrong.append(f"cold dashboard: {resp.status_code}, not 'being computed'")
            first_s, polls = _wait_computed(client, {"period": PERIODS[0]}, COLD_WAIT_S)
            warm_s, done = _timed(lambda: figures.warm(state, [None, *stores], PERIODS))
            cache = sqlite3.connect(f"file:{figures.cache_path(snap_path)}?mode=ro", uri=True)
            built = str(state.built_at)

            def page(name: str, path: str, params: dict[str, str], must: str, raw: Callable[[], Any]) -> None:
                half = 0 if i < n // 2 else 1
                if i % 2:  # A/B, then B/A: neither the page nor its raw query always goes first
                    rounds.setdefault(name, Rounds()).baseline[half].append(_timed(raw)[0])
                t, resp = _timed(partial(client.get, path, params=params))
                rounds.setdefault(name, Rounds()).measured[half].append(t)
                if resp.status_code != 200 or must not in resp.text:
                    wrong.append(f"{name} {path} {params}: {resp.status_code}, {must!r} not in the page")
                if not i % 2:
                    rounds[name].baseline[half].append(_timed(raw)[0])

            for i in range(n):
                member_id, phone, _home, name, card = people[rng.randrange(len(people))]
                for key in PERIODS:
                    period = figures.parse_period({"period": key}, THROUGH)
                    dash = ("*", period.start.isoformat(), period.end.isoformat())
                    page(f"dashboard {key}", "/", {"period": key}, "data-figure",
                         partial(_raw_dashboard, cache, built, dash))
                scope = stores[i % len(stores)]
                period = figures.parse_period({"period": PERIODS[i % len(PERIODS)]}, THROUGH)
                page("dashboard store", "/", {"period": period.key, "store": scope}, "data-figure",
                     partial(_raw_dashboard, cache, built, (f"store:{scope}", period.start.isoformat(),
                                                            period.end.isoformat())))
                page("search phone", "/members", {"q": phone}, member_id, partial(_raw_search_phone, ro, phone))
                page("search name", "/members", {"q": name}, "/members/", partial(_raw_search_name, ro, name))
                page("search card", "/members", {"q": card}, member_id, partial(_raw_search_card, ro, card))
                page("member", f"/members/{member_id}", {}, member_id, partial(_raw_member, ro, member_id))
                page("tills", "/stores", {}, stores[0], partial(_raw_tills, ro))
                page("audit", "/audit", {}, "member.adjust", partial(_raw_audit, ro))
                page("program", "/program", {}, "csrf_token", partial(_raw_program, ro))
                page("floor", "/healthz", {}, "ok", partial(ro.execute, "SELECT 1"))
            cache.close()
    finally:
        load.append(os.getloadavg()[0])
        ro.close()
        server.stop()
        store.close()
    floor = Measure.of("GET /healthz over loopback", "s", rounds.pop("floor").all_measured)
    judged = {k: judge(r, lambda m, _b: m.tail_value < LIMIT_S, measured=f"GET {k} page over loopback",
                       baseline=f"raw query of the {k} page (sqlite3)", unit="s", at_this_scale=env.size.name == "full")
              for k, r in rounds.items()}
    extra = {k: (f"{v.status}: p50 {v.measure.median * 1000:.1f} ms, p{v.measure.claim}"
                 f" {v.measure.tail_value * 1000:.1f} ms; raw p50 {v.baseline.median * 1000:.2f} ms,"
                 f" p{v.baseline.claim} {v.baseline.tail_value * 1000:.2f} ms"
                 + (f" ({v.judged['why']})" if v.judged.get("why") and v.status != NOT_JUDGED else ""))
             for k, v in judged.items()}
    extra["floor"] = f"/healthz p50 {floor.median * 1000:.1f} ms, p{floor.claim} {floor.tail_value * 1000:.1f} ms"
    extra["cold"] = (f"first dashboard request after the snapshot build answered 'being computed' in"
                     f" {cold_s * 1000:.1f} ms; head office computed that set off the page in {first_s:.1f} s"
                     f" ({polls} page loads meanwhile)")
    extra["warm"] = (f"{done} dashboard figure sets (chain + {len(stores)} stores x {len(PERIODS)} periods)"
                     f" in {warm_s:.1f} s, as the scheduled refresh's warm-up computes them")
    notes = [f"{n} requests per page, interleaved with their raw queries (A/B, B/A); dataset {env.size.name}",
             f"load average (1 min) {load[0]:.2f} at the start, {load[-1]:.2f} at the end (2 cores, shared)",
             "a page never computes figures: see `cold` and `warm`",
             "the verdict is the worst page's: MISS if any page misses on clean numbers, else NOISY if any page's"
             " baseline moved or its halves disagree, else PASS"]
    worst_key = _worst(judged)
    worst = judged[worst_key]
    verdict_of = dict(worst.judged, page=worst_key, pages={k: v.status for k, v in judged.items()})
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=worst.measure, baseline=worst.baseline,
                      reason="; ".join(wrong[:5]), notes=notes, extra=extra)
    return Figure(KEY, TITLE, TARGET, worst.status, measure=worst.measure, baseline=worst.baseline,
                  notes=notes, extra=extra, judged=verdict_of)


_RANK = {MISS: 0, NOISY: 1, NOT_JUDGED: 2, PASS: 3}


def _worst(judged: dict[str, Verdict]) -> str:
    """The page that decides the figure: the lowest verdict, then the slowest tail."""
    return min(judged, key=lambda k: (_RANK.get(judged[k].status, 0), -judged[k].measure.tail_value))
