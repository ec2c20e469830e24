"""What to do when a real part (pcscd, vpcd, PostgreSQL) is not installed.

On a developer's machine the tests that need it are skipped with the reason; under CI (CI=true),
where scripts/setup.sh has installed everything, a missing part is a failure: a skip there would
hide a broken set-up behind a green run.
"""

from __future__ import annotations

import os

import pytest


def missing_part(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: scripts/setup.sh installs it)")
    pytest.skip(reason)
