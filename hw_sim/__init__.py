"""Hardware simulators used by the demo and the tests."""


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so a simulator's clean-up (links, ptys, its pcscd) runs."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
