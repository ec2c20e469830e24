"""`pos-client demo`: the till on simulated hardware, so a newcomer can try a whole checkout alone.

No configuration needed: a demo home is made (`$POS_CLIENT_HOME` if set, else a fresh directory under
./demo-home), the simulated printer, readers and NFC card are started (`hw_sim.demo_rig`), products and
members are seeded, config.toml points the till at the simulators, and the app opens with demo keys
that drive the simulators (so every event goes through the real stacks). Everything is stopped on exit.
The demo's own side lives here, without Textual: its home, its config and seed, what each demo key
does to the simulators. The keys are bound in `pos_client.app.demo_app`; `pos-client demo`
(`pos_client.cli.demo`) starts the rig and the app.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pos_client.domain.errors import UsageError
from pos_client.services import demo_seed
from pos_client.store.config import write_config
from pos_client.store.home import config_path
from pos_client.till import open_till

if TYPE_CHECKING:
    from hw_sim.demo_rig import DemoRig
    from pos_client.store.context import TillContext

HOME_ENV = "POS_CLIENT_HOME"
DEMO_MARK = {"demo": {"home": True}}


def demo_home(env: dict[str, str] | None = None, cwd: Path | None = None) -> Path:
    """$POS_CLIENT_HOME if set, else a fresh ./demo-home/run-<time>, else a temporary directory."""
    env = dict(os.environ) if env is None else env
    if env.get(HOME_ENV):
        home = Path(env[HOME_ENV]).resolve()
    else:
        base = (cwd or Path.cwd()) / "demo-home"
        try:
            base.mkdir(exist_ok=True)
            home = Path(tempfile.mkdtemp(prefix=datetime.now().strftime("run-%Y%m%d-%H%M%S-"), dir=base))
        except OSError:
            home = Path(tempfile.mkdtemp(prefix="pos-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    cfg = config_path(home)
    if cfg.exists() and "[demo]" not in cfg.read_text(encoding="utf-8"):
        raise UsageError(f"{home} holds a till that is not a demo: the demo would point its devices at simulators."
                         f" Unset {HOME_ENV} or point it at an empty directory.")
    return home


def prepare(home: Path, rig: DemoRig) -> TillContext:
    """Write the demo's config (devices on the simulators), open the till, seed it once."""
    # no offer control group in the demo: every first purchase shows its welcome coupon
    write_config(home, {**DEMO_MARK, "store_name": "Olive & Co", "devices": {"readers": rig.reader_specs()},
                        "printer": rig.printer_spec(), "receipt": {"footer": ["Thank you! Merci !"]},
                        "program": {"holdout_pct": 0,  # the demo's new cards: the program's range (issue 11)
                                    "card_ranges": ["2100000000000-2100000999999"]}})
    ctx = open_till(home)
    if not ctx.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]:
        demo_seed.seed(ctx)
    demo_seed.ensure_manager(ctx)  # a demo home from before the demo had a manager
    return ctx


class DemoKeys:
    """What each demo key does to the simulators; returns a line for the cashier (never a card number)."""
    def __init__(self, rig: DemoRig) -> None:
        self.rig = rig
        self.cards = demo_seed.CARDS
        shelf = [(p.ean, p.name) for p in demo_seed.PRODUCTS if p.category != "gift_card" and p.ean]
        self._products = itertools.cycle(shelf)  # (ean, name): a product without a barcode cannot be scanned

    def swipe_ana(self) -> str:
        self.rig.swipe(self.cards["ana"])
        return "demo: Ana's card swiped on the magstripe reader"

    def scan_product(self) -> str:
        ean, name = next(self._products)
        self.rig.scan(ean)
        return f"demo: {name} scanned on the barcode scanner"

    def tap_bjorn(self) -> str:
        if not self.rig.tap(self.cards["bjorn"]):
            return f"demo: {self.rig.nfc_problem or 'no NFC reader'}"
        return "demo: Bjørn's card held on the NFC reader"

    def swipe_bank_card(self) -> str:
        self.rig.bank_swipe()
        return "demo: a bank card swiped (the till must refuse it)"

    def toggle_paper(self) -> str:
        if self.rig.toggle_paper():
            return "demo: printer paper roll taken out (ctrl+o puts it back)"
        return "demo: new paper roll loaded (ctrl+r prints what waits)"
