"""Pytest fixtures for NFC tests: a private pcscd with the vpcd driver, and virtual cards on it.

The pcscd runs for the whole session on its own socket (PCSCLITE_CSOCK_NAME is set in this process
before pyscard's first call) and is stopped by its pid. Start/stop logic lives in hw_sim.pcscd.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

from hw_sim.nfc_card import VirtualCard
from hw_sim.pcscd import SOCKET_ENV, PrivatePcscd, pcscd_binary, vpcd_driver
from tests.parts import missing_part

_WORKDIR: str | None = None
_PREVIOUS: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point this process's libpcsclite at the private pcscd before anything can call PC/SC.

    libpcsclite reads PCSCLITE_CSOCK_NAME once, at its first call: set it before any test (ours or
    another capability's) touches pyscard, so no test ever talks to a system pcscd.
    """
    global _WORKDIR, _PREVIOUS
    _WORKDIR = tempfile.mkdtemp(prefix="pos-pcscd-")
    _PREVIOUS = os.environ.get(SOCKET_ENV)
    os.environ[SOCKET_ENV] = os.path.join(_WORKDIR, "pcscd.comm")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS is None:
        os.environ.pop(SOCKET_ENV, None)
    else:
        os.environ[SOCKET_ENV] = _PREVIOUS
    if _WORKDIR:
        shutil.rmtree(_WORKDIR, ignore_errors=True)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PrivatePcscd]:
    try:
        pcscd_binary(), vpcd_driver()
    except FileNotFoundError as exc:  # scripts/setup.sh installs both; say so rather than fail obscurely
        missing_part(str(exc))
    assert _WORKDIR is not None
    daemon = PrivatePcscd(_WORKDIR)
    assert daemon.socket_path == os.environ[SOCKET_ENV]
    daemon.start()
    yield daemon
    daemon.stop()


def wait_reader_empty(timeout: float = 3.0) -> None:
    """Wait until pcscd has noticed that no card is on the vpcd readers (it polls every 0.4 s)."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hr, names = scard.SCardListReaders(ctx, [])
            if hr != scard.SCARD_S_SUCCESS:
                return
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names])
            if hr == scard.SCARD_S_SUCCESS and not any(s[1] & scard.SCARD_STATE_PRESENT for s in states):
                return
            time.sleep(0.05)
    finally:
        scard.SCardReleaseContext(ctx)


@pytest.fixture
def vcard(pcscd: PrivatePcscd) -> Iterator:
    """Factory for virtual cards on the private pcscd's reader; every card is lifted afterwards."""
    cards: list[VirtualCard] = []

    def make(kind: str = "uid", **kw) -> VirtualCard:
        card = VirtualCard(kind, port=pcscd.port, **kw)
        cards.append(card)
        return card

    yield make
    for card in cards:
        card.stop()
    if pcscd.pid:
        wait_reader_empty()
