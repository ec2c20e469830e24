"""Hardware simulators used by the demo and the tests."""

import signal
import sys


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so a simulator's clean-up (links, ptys, its pcscd) runs."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
