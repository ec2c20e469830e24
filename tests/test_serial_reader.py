"""Serial readers end to end: hw_sim's pty device -> pyserial -> SerialReader -> events."""

from __future__ import annotations

import logging
import time

import pytest

from cardread.barcode import with_check_digit
from cardread.read import PAYMENT_CARD_MESSAGE
from drivers.events import CardEvent, DeviceState, ProductEvent, ReaderError, event_to_json
from drivers.serial_reader import SerialReader, parse_terminator
from hw_sim import swipes
from hw_sim.serial_sim import SerialDeviceSim
from tests.eventlog import EventLog

LOYALTY = with_check_digit("290000000001")
PRODUCT = with_check_digit("400638133393")  # an EAN-13 outside the loyalty prefix


@pytest.fixture
def device(tmp_path):
    def make(kind: str = "magstripe", **kw) -> tuple[SerialDeviceSim, SerialReader, EventLog]:
        sim = SerialDeviceSim(kind, tmp_path / f"tty{kind}", **{k: v for k, v in kw.items() if k in ("terminator",
                                                                                                      "pace")})
        sim.start()
        log = EventLog()
        reader = SerialReader(str(sim.link), log, role=kind, name=kind, frame_timeout=0.15,
                              **{k: v for k, v in kw.items() if k in ("terminator", "max_frame")})
        reader.start()
        made.append((sim, reader))
        connected = log.wait_for(lambda e: isinstance(e, DeviceState) and e.state == "connected")
        assert connected.source == kind
        return sim, reader, log

    made: list = []
    yield make
    for sim, reader in made:
        reader.stop()
        sim.stop()
        assert not reader.is_alive()


def test_loyalty_swipe_is_a_card_event(device):
    sim, _, log = device("magstripe")
    sim.swipe(LOYALTY, "0001", with_lrc=True)
    event = log.kind("card")
    assert isinstance(event, CardEvent) and event.read.ok
    assert event.read.card_number == LOYALTY and event.read.source == "magstripe"
    assert event_to_json(event) == {"source": "magstripe", "kind": "card", "card": LOYALTY, "via": "magstripe"}


def test_paced_crlf_swipe_at_9600_baud(device):
    sim, _, log = device("magstripe", terminator="\\r\\n", pace=True)
    frame = swipes.track2(LOYALTY)
    start = time.perf_counter()
    sim.send(frame)
    sent = time.perf_counter()
    event = log.kind("card")
    assert event.read.card_number == LOYALTY
    # pacing really happened: len+2 bytes at 1.04 ms each (a lower bound only; no upper bound on a busy box)
    assert sent - start >= (len(frame) + 2) * 10 / 9600 * 0.9


def test_barcode_product_and_loyalty_card(device):
    sim, _, log = device("barcode")
    sim.send(PRODUCT)
    sim.send(LOYALTY)
    product = log.kind("product")
    assert isinstance(product, ProductEvent) and product.ean == PRODUCT
    card = log.kind("card")
    assert card.read.card_number == LOYALTY and card.read.source == "barcode"


def test_bad_check_digit_is_scan_again(device):
    sim, _, log = device("barcode")
    sim.send(LOYALTY[:-1] + str((int(LOYALTY[-1]) + 1) % 10))
    error = log.kind("error")
    assert isinstance(error, ReaderError) and "check digit" in error.message


@pytest.mark.parametrize(
    "payload,terminate",
    [(swipes.garbage(30, seed=1), True), (b";29000000", False), (b";" + b"2" * 2000 + b"?", True)],
    ids=["garbage", "half-frame", "over-long"],
)
def test_unreadable_frames_then_a_good_swipe(device, payload, terminate):
    sim, reader, log = device("magstripe", max_frame=256)
    sim.send(payload, terminate=terminate)
    error = log.kind("error")
    assert isinstance(error, ReaderError) and error.message.startswith("unreadable")
    if not terminate:
        time.sleep(0.2)  # the half frame is only declared dead after frame_timeout of silence
    sim.swipe(LOYALTY)
    assert log.kind("card").read.card_number == LOYALTY
    assert reader.is_alive()
    assert [e.kind for e in log.events].count("error") == 1


def test_bank_swipe_refused_and_pan_nowhere(device, caplog):
    caplog.set_level(logging.DEBUG)
    sim, _, log = device("magstripe")
    sim.send(swipes.bank_swipe())
    sim.send(";" + swipes.TEST_PAN + "=30121010000000000?")  # track 2 alone
    for _ in range(2):
        event = log.kind("card")
        assert event.refused and event.read.payment_card and event.read.error == PAYMENT_CARD_MESSAGE
        assert event.read.card_number is None and event.read.raw == ""
    everything = repr(log.events) + str([event_to_json(e) for e in log.events]) + caplog.text
    assert swipes.TEST_PAN not in everything and "41111111" not in everything


def test_unplug_replug_reconnects_and_reads(device):
    sim, reader, log = device("magstripe")
    sim.unplug()
    lost = log.wait_for(lambda e: isinstance(e, DeviceState))
    assert lost.state == "disconnected"
    sim.start()  # replug: a new pty behind the same link
    back = log.wait_for(lambda e: isinstance(e, DeviceState))
    assert back.state == "connected"
    sim.swipe(LOYALTY)
    assert log.kind("card").read.card_number == LOYALTY
    assert reader.is_alive()


def test_missing_port_waits_then_connects(tmp_path):
    log = EventLog()
    link = tmp_path / "ttyLATE"
    reader = SerialReader(str(link), log, role="barcode", name="late")
    reader.start()
    try:
        waiting = log.kind("state")
        assert waiting.state == "waiting"
        with SerialDeviceSim("barcode", link) as sim:
            assert log.kind("state").state == "connected"
            sim.send(PRODUCT)
            assert log.kind("product").ean == PRODUCT
    finally:
        reader.stop()


def test_backoff_doubles_to_its_cap_and_stop_cuts_the_wait(tmp_path, monkeypatch):
    """Reconnect attempts wait retry[0], twice that, ... up to retry[1]; stop() does not wait the delay out."""
    naps: list[float] = []
    monkeypatch.setattr(SerialReader, "_nap", lambda self, s: (naps.append(s), self._halt.wait(0.01)))
    reader = SerialReader(str(tmp_path / "ttyNONE"), EventLog(), retry=(0.05, 0.3))
    reader.start()
    deadline = time.monotonic() + 5
    while len(naps) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    reader.stop()
    assert naps[:6] == [0.05, 0.1, 0.2, 0.3, 0.3, 0.3]
    assert not reader.is_alive()
    slow = SerialReader(str(tmp_path / "ttyNONE"), EventLog(), retry=(30.0, 30.0))
    slow.start()
    time.sleep(0.1)  # now in its first 30 s wait
    t0 = time.monotonic()
    slow.stop()
    assert not slow.is_alive() and time.monotonic() - t0 < 1


def test_socket_url_is_accepted(tmp_path):
    """serial_for_url: a `socket://` device (a serial-to-Ethernet adapter) works the same way."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    log = EventLog()
    reader = SerialReader(f"socket://127.0.0.1:{port}", log, role="barcode", name="net")
    reader.start()
    try:
        conn, _ = server.accept()
        assert log.kind("state").state == "connected"
        conn.sendall(PRODUCT.encode() + b"\r")
        assert log.kind("product").ean == PRODUCT
        conn.close()
    finally:
        reader.stop()
        server.close()


def test_terminator_from_config_text():
    assert parse_terminator("\\r\\n") == b"\r\n"
    assert parse_terminator("\r") == b"\r"
    assert parse_terminator(None) == b"\r"
    assert parse_terminator("\\x03") == b"\x03"
