"""`python -m bench.ho_profile OUT headoffice-args...`: head office under cProfile in every thread.

Why: `python -m cProfile` sees only the event loop's thread, and a push's ingest runs in the thread pool.
Each thread started after this takes a profiler of its own at its first call (`threading.setprofile`);
when the server stops (SIGINT) their stats are merged and written to OUT for `bench/figures/push.py`.
SIGUSR1 clears what was gathered so far (the bench sends it once the till is set up, right before the
push it measures: start-up and setup would otherwise fill the profile). Bench only: head office itself
never profiles.
"""

from __future__ import annotations

import cProfile
import pstats
import signal
import sys
import threading
from typing import Any

from headoffice.cli import main as headoffice_main


def _profiled(argv: list[str]) -> list[cProfile.Profile]:
    """Run head office with `argv`, every thread profiled; the profiles once it stopped."""
    profiles: list[cProfile.Profile] = []
    guard = threading.Lock()

    def start(*_: Any) -> None:  # a new thread's first profile event: hand the thread its own profiler
        sys.setprofile(None)
        profile = cProfile.Profile()
        with guard:
            profiles.append(profile)
        profile.enable()

    def clear(*_: Any) -> None:
        with guard:
            for profile in profiles:
                profile.clear()

    signal.signal(signal.SIGUSR1, clear)
    threading.setprofile(start)
    main = cProfile.Profile()
    profiles.append(main)
    main.enable()
    try:
        headoffice_main(argv)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it stopped on
        pass
    finally:
        main.disable()
        threading.setprofile(None)
    return profiles


def write(profiles: list[cProfile.Profile], out: str) -> None:
    """The profiles merged into one stats file (threads still running are read as they stand)."""
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    stats.dump_stats(out)


if __name__ == "__main__":
    write(_profiled(sys.argv[2:]), sys.argv[1])
