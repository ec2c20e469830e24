"""Domain errors, each mapped to one CLI exit code so scripts can branch on them."""

from __future__ import annotations


class PosError(Exception):
    """Base for errors the cashier or a script should see as a clear message."""

    exit_code = 1


class UsageError(PosError):
    """The request itself is malformed (bad amount, unknown option value)."""

    exit_code = 2


class RefusedInput(PosError):
    """Input that must be refused: payment card, bad check digit, garbled swipe, blocked card."""

    exit_code = 3


class NotFound(PosError):
    """A card, member, product or sale that the till does not know."""

    exit_code = 4


class Conflict(RefusedInput):
    """A replay whose content differs from what was recorded under the same id."""


class StorageFault(PosError):
    """The till's storage failed (disk full, read-only, file-size limit, a damaged database): what was being
    written was not recorded. Exit 5, so a script tells a broken disk from a refused request."""

    exit_code = 5


class StoppedWriting(StorageFault):
    """The till found its database damaged and refuses every write until it is restored (exit 5)."""
