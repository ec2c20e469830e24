"""How big a soak run is: `SOAK_SCALE=small` (default, inside `make test`) or `full` (`make soak`)."""

from __future__ import annotations

import os
from typing import NamedTuple


class Scale(NamedTuple):
    """The counts of one run; `full` repeats the adversarial run of issue 11."""

    name: str
    sale_kills: int
    headoffice_kills: int
    serial_frames: int
    tills: int
    sales_per_till: int


SCALES = {
    "small": Scale("small", sale_kills=15, headoffice_kills=5, serial_frames=100, tills=5, sales_per_till=20),
    "full": Scale("full", sale_kills=230, headoffice_kills=40, serial_frames=1200, tills=50, sales_per_till=100),
}


def scale() -> Scale:
    """The scale named by SOAK_SCALE; an unknown name is an error, not a silent default."""
    name = os.environ.get("SOAK_SCALE", "small").strip().lower() or "small"
    if name not in SCALES:
        raise ValueError(f"SOAK_SCALE must be one of {', '.join(SCALES)}, not {name!r}")
    return SCALES[name]
