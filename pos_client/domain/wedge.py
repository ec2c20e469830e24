"""Telling a keyboard-wedge reader from a person typing, by timing alone.

Cheap barcode scanners and magstripe readers "type" their data as key presses ending with
Enter, far faster than any cashier (a few ms between keys versus 80 ms and more). The
detector sees every key with its monotonic time and reports a completed burst when Enter
closes a run of at least `min_length` keys, each following the previous within `max_gap`
seconds. Pure logic over (char, time): no Textual, no clock of its own, easy to test.

Speed alone cannot tell a fast typist from a scanner: `stays_typed` keeps a burst as typed input
when it landed in an input field and has the form that field expects and no scanner sends (an
amount with its decimal separator or its category in the item slot). The reliable way is to read
the scanner as its own input device (`drivers.evdev_reader`), so scans and typing never mix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cardread.router import strip_controls

DEFAULT_MAX_GAP = 0.035
DEFAULT_MIN_LENGTH = 4

# What a person keys into a field, in forms no barcode, track or coupon ever has: a decimal separator
# between digits, a space before a word, a quantity star, a sign. Digits alone stay ambiguous (a scan).
_CATEGORY = r"(?:\s+[A-Za-z_][A-Za-z_ ]*)"
TYPED_FORMS: Mapping[str, re.Pattern[str]] = {
    # the item slot: 12.50, 12,5, 12.50 grocery, 12 grocery, 3*4006381333931
    "amount": re.compile(rf"^(?:\d{{1,9}}[.,]\d{{1,2}}{_CATEGORY}?|\d{{1,9}}{_CATEGORY}"
                         rf"|\d{{1,3}}\s*[*xX]\s*\d{{8,14}})$"),
    # manager mode's adjustment: +50 goodwill, -20 correction
    "adjustment": re.compile(r"^[+-]\d{1,7}\s+\w+$"),
    # names, e-mail addresses, search text: a space, an @ or a letter no scanner's code has
    "text": re.compile(r"^.*(?:\S\s+\S|@|[^\x00-\x7f]).*$"),
}


@dataclass
class WedgeDetector:
    """Accumulates the current fast run of keys; `enter()` says whether it was a scan."""

    max_gap: float = DEFAULT_MAX_GAP
    min_length: int = DEFAULT_MIN_LENGTH
    _chars: list[str] = field(default_factory=list, repr=False)
    _last: float | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> WedgeDetector:
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


def stays_typed(burst: str, expects: str | None) -> bool:
    """True when a fast burst has the form the focused field expects (`TYPED_FORMS`): keep it as typed input.

    `expects` is the field's kind ("amount", "adjustment", "text"); None (a card slot, a field that takes
    scans) keeps every burst a scan.
    """
    form = TYPED_FORMS.get(expects or "")
    return form is not None and form.match(burst.strip()) is not None
