"""How the app starts: `pos-client` with no command and the start-up probe go through here, the same way.

Both hold the garbage collector through the start (`pos_client.app.collector`: the app releases it once its
first screen is up), then import the app: the probe measures the till's own start (bench `cold_start`).
"""

from __future__ import annotations

from pos_client.app import collector


def start(home: str | None) -> int:
    """`pos-client` (cli.main): the app on the till at `home`, the collector held through its start."""
    collector.hold()
    from pos_client.app.run import run_app  # lazy: the Textual app (~0.5 s), only when the app starts

    return run_app(home)


def probe(home: str) -> None:
    """The start-up probe's child (`startup_probe`): started as `start` starts the till, headless, reporting
    when the first screen was ready and what had loaded by then."""
    collector.hold()
    from pos_client.app.run import _probe_child  # lazy: as `start`

    _probe_child(home)
