"""The ingest figures compare like with like: the raw baseline writes exactly the ledger rows and balances
head office's ingest writes for the same hash-chained entries (bench/figures/ingest.py, ingest_pg.py), and
the figure is judged by `bench.method` (interleaved rounds, halves, the claim the samples support)."""

from __future__ import annotations

import sqlite3

from bench import figures
from bench.env import BenchEnv
from bench.figures import ingest
from bench.figures.ingest import raw_batches, raw_sqlite
from bench.generate import SIZES, GenStats
from bench.stats import NOT_JUDGED
from bench.sync_measure import chained_entries, ingest_rate
from tests.parts import missing_part
from wire.protocol import LEDGER_COLUMNS


def _tables(path) -> tuple[list[tuple], list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        ledger = conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
        balances = conn.execute("SELECT member_id, points FROM balances ORDER BY member_id").fetchall()
    finally:
        conn.close()
    return ledger, balances


def test_the_raw_baseline_writes_what_the_ingest_writes(tmp_path):
    rows = chained_entries(2500, members=70)
    seconds = raw_sqlite(f"sqlite:///{tmp_path / 'raw.db'}", raw_batches(rows))
    result = ingest_rate(f"sqlite:///{tmp_path / 'ingest.db'}", rows=rows, batch=1000)
    assert seconds > 0 and result["accepted"] == len(rows)
    raw, ours = _tables(tmp_path / "raw.db"), _tables(tmp_path / "ingest.db")
    assert raw == ours and len(raw[0]) == len(rows) and len(raw[1]) == 70


def test_the_raw_copy_baseline_writes_what_the_postgres_ingest_writes(pg_url):
    import psycopg  # why: PostgreSQL's client loads only for the test that has a cluster

    from bench.figures.ingest_pg import raw_postgres

    urls = []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in ("baseline_raw", "baseline_ingest"):
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
            urls.append(pg_url.rsplit("/", 1)[0] + f"/{name}")
    rows = chained_entries(2500, members=70)
    assert raw_postgres(urls[0], raw_batches(rows)) > 0
    assert ingest_rate(urls[1], rows=rows, batch=1000)["accepted"] == len(rows)
    found = []
    for url in urls:
        with psycopg.connect(url) as conn:
            found.append((conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall(),
                          conn.execute("SELECT member_id, points FROM balances ORDER BY member_id").fetchall()))
    assert found[0] == found[1] and len(found[0][0]) == len(rows) and len(found[0][1]) == 70


def test_the_sqlite_figure_is_judged_by_the_method_and_leaves_no_database_behind(tmp_path):
    assert "bench.figures.ingest" in figures.FIGURES
    env = BenchEnv(home=tmp_path, size=SIZES["tiny"], gen=GenStats("tiny", 1), quick=True, seed=1, scratch=tmp_path)
    fig = ingest.run(env)
    assert fig.status == NOT_JUDGED  # quick mode: a few batches say nothing of the full-scale rate
    assert fig.measure is not None and fig.baseline is not None
    assert fig.measure.unit == fig.baseline.unit == "entries/s" and fig.measure.n == fig.baseline.n == 4
    assert fig.measure.tail_value <= fig.measure.median  # a rate's tail is its slow side
    judged = fig.judged
    assert judged["claim"] == "p50" and judged["samples"] == [4, 4] and len(judged["baseline_halves"]) == 2
    assert judged["would_be"] in ("PASS", "MISS") and len(fig.extra["shares"]) == 4
    last = fig.extra["last_run"]
    assert last["accepted"] == 10_000 and 0 < last["decode_s"] < last["seconds"] and last["ingest_s"] > 0
    assert not list(tmp_path.glob("headoffice-*"))  # every run's database deleted after it


def test_the_bench_entries_carry_ids_as_a_till_makes_them():
    """Real tills send UUIDv7 ids (pos_client.store.ledger.new_id): time-ordered, so the bench's rows land in
    head office's entry_id index as a till's do, not on random pages as uuid4 ids would."""
    ids = [r["entry_id"] for r in chained_entries(500, members=7)]
    assert all(len(i) == 32 and i[12] == "7" for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_the_bench_cluster_is_tuned_as_a_deployment_and_stays_durable(pg_url):
    """The ingest_pg figure's cluster: a head office's own server settings (pgcluster.SERVER_SETTINGS), with
    fsync and synchronous_commit left on (every commit still waits for its WAL on disk)."""
    import psycopg  # why: PostgreSQL's client loads only for the tests that have a cluster

    from headoffice import pgcluster

    if reason := pgcluster.available():
        missing_part(reason)
    with pgcluster.private_cluster() as url, psycopg.connect(url) as conn:
        shown = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k, _ in pgcluster.SERVER_SETTINGS}
        assert shown == dict(pgcluster.SERVER_SETTINGS)
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
