"""Telling a keyboard-wedge reader from a person typing, by timing alone.

Cheap barcode scanners and magstripe readers "type" their data as key presses ending with
Enter, far faster than any cashier (a few ms between keys versus 80 ms and more). The
detector sees every key with its monotonic time and reports a completed burst when Enter
closes a run of at least `min_length` keys, each following the previous within `max_gap`
seconds. Pure logic over (char, time): no Textual, no clock of its own, easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cardread.router import strip_controls

DEFAULT_MAX_GAP = 0.035
DEFAULT_MIN_LENGTH = 4


@dataclass
class WedgeDetector:
    """Accumulates the current fast run of keys; `enter()` says whether it was a scan."""

    max_gap: float = DEFAULT_MAX_GAP
    min_length: int = DEFAULT_MIN_LENGTH
    _chars: list[str] = field(default_factory=list, repr=False)
    _last: float | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, section: dict) -> WedgeDetector:
        """Build from the `[wedge]` config section (max_gap_ms, min_length)."""
        return cls(max_gap=int(section.get("max_gap_ms", DEFAULT_MAX_GAP * 1000)) / 1000,
                   min_length=int(section.get("min_length", DEFAULT_MIN_LENGTH)))

    def _fast(self, t: float) -> bool:
        return self._last is not None and 0 <= t - self._last <= self.max_gap

    def feed(self, char: str, t: float) -> None:
        """A key with a character arrived at time t: extend the fast run or start a new one."""
        if not self._fast(t):
            self._chars.clear()
        self._chars.append(char)
        self._last = t

    @property
    def run_length(self) -> int:
        """Keys in the current fast run (1 right after a slow key: a run may be starting)."""
        return len(self._chars)

    def enter(self, t: float) -> str | None:
        """Enter arrived: the burst's text (control characters stripped) when it was a scan, else None."""
        burst = "".join(self._chars) if self._fast(t) and len(self._chars) >= self.min_length else None
        self.reset()
        if burst is None:
            return None
        text = strip_controls(burst).strip()
        return text or None

    def reset(self) -> None:
        """Any other key (arrows, Tab, function keys) ends whatever run was going on."""
        self._chars.clear()
        self._last = None
