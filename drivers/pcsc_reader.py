"""NFC cards through PC/SC (pyscard): a watcher thread that reports readers, taps and the service.

One thread per configured PC/SC reader set, with a stop event (the toolong pattern): it holds a
PC/SC context, lists readers matching the configured name fragment, and waits on
SCardGetStatusChange with a short timeout so stop() is honoured within a fraction of a second.
A newly present card is read once (see `drivers.nfc_tags`) and reported as a CardEvent or a
ReaderError; the next read needs a new tap.

Failures are states, never crashes: pcscd not running or restarted (the context is re-established
with backoff), a reader removed, a card lifted mid-read, error status words. Nothing read from a
card is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tenacity import RetryCallState, RetryError, retry_if_result

from cardread.router import DEFAULT_LOYALTY_PREFIXES
from drivers.events import DeviceState, EventSink, ReaderError, State, nfc_event
from drivers.nfc_tags import TagReadError, identify
from drivers.reader_thread import ReaderThread

log = logging.getLogger(__name__)

LIFTED = "card lifted before it was read, tap again"
READER_LOST = "reader or PC/SC service lost during the read, tap again"
NO_SERVICE = "PC/SC service (pcscd) not running"
SERVICE_LOST = "PC/SC service stopped"
NO_READER = "no NFC reader connected"


class CardGone(Exception):
    """The card (or its reader) went away in the middle of a read."""


class PcscReader(ReaderThread):
    """Watch PC/SC readers whose name contains `reader` (all readers when empty)."""

    def __init__(
        self,
        on_event: EventSink,
        *,
        reader: str = "",
        name: str = "nfc",
        loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
        poll_ms: int = 200,
        retry: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        super().__init__(f"pcsc-{name}", on_event, retry)
        self.reader_filter, self.source = reader, name
        self.loyalty_prefixes = tuple(loyalty_prefixes)
        self.poll_ms = poll_ms
        self._last_report: tuple[str, str] | None = None

    # plumbing ----------------------------------------------------------------------------
    def _state(self, state: State, detail: str = "") -> None:
        """Once per change of state OR detail: which reader is connected matters to the cashier."""
        if self._last_report != (state, detail):
            self._last_report = (state, detail)
            self._emit(DeviceState(self.source, state, detail))

    def run(self) -> None:
        try:
            from smartcard import scard  # why: heavy, and libpcsclite may be missing (reported as a state)
        except (ImportError, OSError) as exc:  # pyscard or libpcsclite missing: say so, do not crash
            self._state("disconnected", f"PC/SC unavailable: {exc}")
            return

        ever_connected = False
        while not self._halt.is_set():
            ctx = self._establish(scard, ever_connected)
            if ctx is None:
                return
            try:
                ever_connected = self._watch(scard, ctx) or ever_connected
            except Exception:  # broad on purpose: pyscard raises SystemError (and worse) on dead handles, and a
                # reader thread that dies leaves the till without NFC until restarted; logged, then start over
                log.exception("PC/SC watcher failed; re-establishing the context")
                self._halt.wait(self.retry[0])
            finally:
                scard.SCardReleaseContext(ctx)
            if not self._halt.is_set():
                self._state("disconnected", SERVICE_LOST)

    def _establish(self, scard: Any, ever_connected: bool) -> int | None:
        """A PC/SC context once pcscd answers, each failure reported as a state; None when stopped first."""

        def failed(_: RetryCallState) -> None:
            self._state("disconnected" if ever_connected else "waiting", NO_SERVICE)

        def not_yet(result: tuple[int, int]) -> bool:
            return result[0] != scard.SCARD_S_SUCCESS

        try:
            _, ctx = self._reconnecting(retry_if_result(not_yet), failed)(
                scard.SCardEstablishContext, scard.SCARD_SCOPE_USER)
        except RetryError:  # stopped while pcscd was away
            return None
        return int(ctx)

    def _list(self, scard: Any, ctx: int) -> list[str] | None:
        hr, names = scard.SCardListReaders(ctx, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != scard.SCARD_S_SUCCESS:
            return None
        return [n for n in names if self.reader_filter.lower() in n.lower()]

    def _watch(self, scard: Any, ctx: int) -> bool:
        """Follow readers and cards until stopped or the service goes away. True once a reader was seen."""
        known: dict[str, int] = {}
        seen = False
        while not self._halt.is_set():
            names = self._list(scard, ctx)
            if names is None:
                return seen
            for gone in set(known) - set(names):
                del known[gone]
            for new in names:
                known.setdefault(new, scard.SCARD_STATE_UNAWARE)
            if not names:
                self._state("waiting", NO_READER)
                self._halt.wait(0.25)
                continue
            seen = True
            self._state("connected", ", ".join(sorted(names)))
            hr, states = scard.SCardGetStatusChange(ctx, self.poll_ms, [(n, known[n]) for n in names])
            if hr == scard.SCARD_E_TIMEOUT:
                continue
            if hr in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
                self._halt.wait(0.05)
                continue  # a reader went away while we waited: list again
            if hr != scard.SCARD_S_SUCCESS:
                return seen
            for name, event_state, atr in states:
                present = bool(event_state & scard.SCARD_STATE_PRESENT) and not event_state & scard.SCARD_STATE_MUTE
                before = known.get(name, 0)
                # pcsc-lite counts card events in the high word: a lift and a tap between two
                # waits shows as a new count with the card still present.
                new_tap = not before & scard.SCARD_STATE_PRESENT or (event_state >> 16) != (before >> 16)
                known[name] = event_state & ~scard.SCARD_STATE_CHANGED
                if present and new_tap and not self._halt.is_set():
                    self._read(scard, ctx, name, bytes(atr or b""))
        return seen

    # one tap -----------------------------------------------------------------------------
    def _read(self, scard: Any, ctx: int, reader: str, atr: bytes) -> None:
        hr, hcard, proto = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hr != scard.SCARD_S_SUCCESS:
            log.info("tap on %s not read: %s", reader, scard.SCardGetErrorMessage(hr))
            self._emit(ReaderError(self.source, LIFTED))
            return
        pci = scard.SCARD_PCI_T1 if proto == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        lost_codes = {
            scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_READER_UNAVAILABLE,
            scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_INVALID_HANDLE, scard.SCARD_E_NO_READERS_AVAILABLE,
        }

        def transmit(apdu: bytes) -> tuple[bytes, int]:
            try:
                hr, resp = scard.SCardTransmit(hcard, pci, list(apdu))
            except SystemError as exc:  # pyscard on a handle the daemon already dropped
                raise CardGone(READER_LOST) from exc
            if hr != scard.SCARD_S_SUCCESS:
                raise CardGone(READER_LOST if hr in lost_codes else LIFTED)
            if len(resp) < 2:  # vpcd's answer when the card left during the command
                raise CardGone(LIFTED)
            return bytes(resp[:-2]), (resp[-2] << 8) | resp[-1]

        try:
            info = identify(transmit, atr)
        except CardGone as exc:
            log.info("read on %s interrupted: %s", reader, exc)
            self._emit(ReaderError(self.source, str(exc)))
        except TagReadError as exc:
            log.info("card on %s unreadable: %s", reader, exc)
            self._emit(ReaderError(self.source, str(exc)))
        else:
            self._emit(
                nfc_event(
                    self.source,
                    uid=info.uid,
                    loyalty_ids=info.loyalty_ids,
                    payment=info.payment,
                    loyalty_prefixes=self.loyalty_prefixes,
                )
            )
        finally:
            try:
                scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
            except SystemError:
                pass
