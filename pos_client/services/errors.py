"""Every error a cashier or a script is shown as a message (never a traceback), by family.

The till's own errors (`PosError`), the device layer's (`DeviceError`) and the card parser's
(`CardRefused`) each carry an `exit_code`; the CLI and the screens catch this tuple.
"""

from __future__ import annotations

from cardread import CardRefused
from drivers.errors import DeviceError
from pos_client.domain.errors import PosError

USER_ERRORS: tuple[type[Exception], ...] = (PosError, DeviceError, CardRefused)
