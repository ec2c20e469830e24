"""No port races: servers bind their own port (or retry on a taken one) and say which.

A port picked by binding 0 and closing is free for anyone until the server binds it; on a busy CI machine
another test's server takes it now and then. These tests take the port first, on purpose, and show the
start still succeeds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg
import pytest

from headoffice import pgcluster
from headoffice.portfile import LINE, wait_for_port
from headoffice.server import ServerThread
from hw_sim import pcscd
from tests.parts import missing_part
from tests.ports import refusing_port, start_headoffice

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _serve(db: Path) -> list[str]:
    return [sys.executable, "-m", "headoffice", "serve", "--no-upkeep", "--db", f"sqlite:///{db}"]


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def test_port_0_two_servers_started_at_once_each_bind_their_own_and_say_which(tmp_path):
    files = [tmp_path / "a.port", tmp_path / "b.port"]
    procs = [subprocess.Popen([*_serve(tmp_path / f"{i}.db"), "--port", "0", "--port-file", str(f)], cwd=ROOT,
                              env=ENV, stdout=subprocess.PIPE, text=True) for i, f in enumerate(files)]
    try:
        ports = [wait_for_port(f, p) for f, p in zip(files, procs, strict=True)]
        assert len(set(ports)) == 2
        for port, proc in zip(ports, procs, strict=True):
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == LINE.format(host="127.0.0.1", port=port)
            assert httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=30).status_code == 200
    finally:
        for proc in procs:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def test_a_held_port_stays_ours_between_a_stop_and_the_next_start(tmp_path):
    """The tills know head office's address: it starts again on the same port, which nobody took meanwhile."""
    with refusing_port() as port:
        first, got = start_headoffice(_serve(tmp_path / "ho.db"), port=port, cwd=ROOT, env=ENV)
        assert got == port
        _stop(first)
        with socket.socket() as other:  # another process asking for this very port cannot have it
            try:
                other.bind(("127.0.0.1", port))
                taken = True
            except OSError:
                taken = False
        assert not taken
        again, got = start_headoffice(_serve(tmp_path / "ho.db"), port=port, cwd=ROOT, env=ENV)
        try:
            assert got == port
        finally:
            _stop(again)


def test_start_helper_many_at_once(tmp_path):
    """Four head offices started by the tests' helper at the same moment: four ports, all answering."""
    started: list[tuple[subprocess.Popen, int]] = []
    guard = threading.Lock()

    def one(i: int) -> None:
        got = start_headoffice(_serve(tmp_path / f"{i}.db"), cwd=ROOT, env=ENV)
        with guard:
            started.append(got)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert len({port for _, port in started}) == 4
    finally:
        for proc, _ in started:
            _stop(proc)


def test_postgresql_on_a_taken_port_starts_on_another():
    """The port the cluster would pick is taken (a listening socket of another process): it starts on the next."""
    if reason := pgcluster.available():
        missing_part(reason)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pgcluster.private_cluster(durable=False, prefix="ho-ports-", settings=(), port=taken) as url:
            assert f":{taken}/" not in url
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)


def _vpcd_installed() -> None:
    try:
        pcscd.pcscd_binary(), pcscd.vpcd_driver()
    except FileNotFoundError as exc:
        missing_part(str(exc))


def test_vpcd_on_a_taken_port_starts_on_another_pair(tmp_path, monkeypatch):
    """Another process took the pair the daemon was about to use (simulated by handing it that pair first):
    vpcd says the address is in use, the daemon starts again on another pair, and the listeners it waits
    for are its own, not the intruder's."""
    _vpcd_installed()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken])
        real = pcscd.free_port_pair
        monkeypatch.setattr(pcscd, "free_port_pair", lambda: next(picks, None) or real())
        with pcscd.PrivatePcscd(tmp_path / "pcscd") as daemon:
            assert daemon.port != taken and daemon.pid is not None
            assert pcscd._listening(daemon.port, daemon.pid) and pcscd._listening(daemon.port + 1, daemon.pid)
            assert not pcscd._listening(taken, daemon.pid)
            assert pcscd.PORT_TAKEN in Path(daemon.log).read_bytes()  # it did meet the taken port first
            assert daemon.restart().port == daemon.port  # the card knows this port: a restart keeps it


def test_vpcd_on_a_taken_port_that_was_asked_for_is_a_clear_error(tmp_path):
    _vpcd_installed()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        daemon = pcscd.PrivatePcscd(tmp_path / "pcscd", port=taken)
        with pytest.raises(RuntimeError, match=f"vpcd port {taken} or {taken + 1} is taken"):
            daemon.start()
        assert daemon.pid is None


def test_an_in_process_head_office_keeps_its_port_while_it_is_stopped(ho_store):
    """ServerThread stop() then start(): the tills' address is refused meanwhile, taken by no one, and served again."""
    server = ServerThread(ho_store).start()
    port = server.port
    server.stop()
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v1/health", timeout=5)
    server.start()
    try:
        assert server.port == port and httpx.get(f"{server.url}/v1/health", timeout=30).status_code == 200
    finally:
        server.stop()
