"""The demo's simulated hardware in one place: a printer, a magstripe reader, a scanner and an NFC card.

Everything a store has, on loopback and pseudo-terminals, so the demo goes through the same stacks as a
till: pty -> pyserial -> reader thread; virtual card -> vpcd -> a private pcscd -> pyscard; TCP 9100 ->
the printer simulator, which writes each receipt as .txt and .png. If pcscd or the vpcd driver is not
installed the rig runs without NFC and says why (`nfc_problem`).

    rig = DemoRig(workdir).start()      # rig.reader_specs(), rig.printer_spec() go into config.toml
    rig.swipe("2900000000018"); rig.scan("4006381333931"); rig.tap("2900000000025"); rig.bank_swipe()
    rig.toggle_paper(); rig.stop()
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from hw_sim import swipes
from hw_sim.nfc_card import VirtualCard
from hw_sim.pcscd import PrivatePcscd
from hw_sim.printer import PrinterSim
from hw_sim.serial_sim import SerialDeviceSim

READER_NAMES = {"magstripe": "swipe", "barcode": "scanner", "nfc": "nfc"}
LIFT_AFTER_S = 1.5  # a customer holds a card on the reader about this long


class DemoRig:
    """Start, drive and stop the simulated devices; `pcscd` may be one already running (tests)."""

    def __init__(self, workdir: str | Path, *, pcscd: PrivatePcscd | None = None, nfc: bool = True) -> None:
        self.workdir = Path(workdir).resolve()
        self.receipts_dir = self.workdir / "receipts"
        self.dev_dir = self.workdir / "dev"
        self.printer: PrinterSim | None = None
        self.msr: SerialDeviceSim | None = None
        self.scanner: SerialDeviceSim | None = None
        self.pcscd = pcscd
        self._own_pcscd = False
        self.want_nfc = nfc
        self.nfc_problem: str | None = None if nfc else "NFC switched off"
        self._cards: dict[str, VirtualCard] = {}
        self._lifts: dict[str, threading.Timer] = {}

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> DemoRig:
        self.dev_dir.mkdir(parents=True, exist_ok=True)
        self.printer = PrinterSim(port=0, out_dir=self.receipts_dir).start()
        self.msr = SerialDeviceSim("magstripe", self.dev_dir / "magstripe").start()
        self.scanner = SerialDeviceSim("barcode", self.dev_dir / "scanner").start()
        if self.want_nfc and self.pcscd is None:
            self._start_pcscd()
        return self

    def _start_pcscd(self) -> None:
        daemon = PrivatePcscd(self.workdir / "pcscd")
        try:
            daemon.start()
        except (FileNotFoundError, RuntimeError, TimeoutError, OSError) as exc:
            self.nfc_problem = f"no NFC in this demo: {exc}"
            return
        daemon.use_in_this_process()  # before this process's first PC/SC call
        self.pcscd, self._own_pcscd = daemon, True

    def stop(self) -> None:
        """Lift the cards, stop our pcscd by its pid, unplug the readers, switch the printer off."""
        for timer in self._lifts.values():
            timer.cancel()
        for card in self._cards.values():
            card.stop()
        self._cards.clear()
        if self._own_pcscd and self.pcscd is not None:
            self.pcscd.stop()
        for device in (self.msr, self.scanner):
            if device is not None:
                device.stop()
        if self.printer is not None:
            self.printer.stop()

    def __enter__(self) -> DemoRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the till's config.toml needs ------------------------------------------------------

    @property
    def nfc(self) -> bool:
        return self.pcscd is not None and self.nfc_problem is None

    def reader_specs(self) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = [
            {"kind": "serial", "url": str(self.dev_dir / "magstripe"), "role": "magstripe",
             "name": READER_NAMES["magstripe"]},
            {"kind": "serial", "url": str(self.dev_dir / "scanner"), "role": "barcode",
             "name": READER_NAMES["barcode"]},
        ]
        if self.nfc:
            specs.append({"kind": "pcsc", "reader": "Virtual PCD", "name": READER_NAMES["nfc"]})
        return specs

    def printer_spec(self) -> dict[str, Any]:
        assert self.printer is not None, "start() the rig first"
        return {"url": self.printer.url, "profile": self.printer.profile or "TM-T88V", "timeout": 3,
                "status_timeout": 1}

    # --- the demo's hands -------------------------------------------------------------------------

    def swipe(self, number: str) -> None:
        """A loyalty card's track 2 through the magstripe reader."""
        assert self.msr is not None
        self.msr.swipe(number)

    def bank_swipe(self) -> None:
        """A bank card through the magstripe reader (the test PAN 4111 1111 1111 1111): the till refuses it."""
        assert self.msr is not None
        self.msr.send(swipes.bank_swipe())

    def scan(self, code: str) -> None:
        assert self.scanner is not None
        self.scanner.send(code)

    def tap(self, loyalty_id: str, kind: str = "type4") -> bool:
        """Hold an NFC card carrying `loyalty_id` on the reader for a moment; False without NFC."""
        if not self.nfc or self.pcscd is None:
            return False
        card = self._cards.get(loyalty_id)
        if card is None:
            card = self._cards[loyalty_id] = VirtualCard(kind, uid="04A1B2C3D4E5F6", loyalty_id=loyalty_id,
                                                          port=self.pcscd.port)
        timer = self._lifts.pop(loyalty_id, None)
        if timer is not None:  # still on the reader: a second press lifts it first
            timer.cancel()
            card.lift()
        card.tap()
        timer = threading.Timer(LIFT_AFTER_S, card.lift)
        timer.daemon = True
        self._lifts[loyalty_id] = timer
        timer.start()
        return True

    def toggle_paper(self) -> bool:
        """Take the paper roll out or put it back; True when the paper is now out."""
        assert self.printer is not None
        out = not self.printer.state()["paper_out"]
        self.printer.paper_out(out)
        return out

    def receipt_files(self) -> list[Path]:
        with contextlib.suppress(FileNotFoundError):
            return sorted(self.receipts_dir.iterdir())
        return []
