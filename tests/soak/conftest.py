"""The soak suite's shared checks get pytest's assertion messages."""

import pytest

pytest.register_assert_rewrite("tests.soak.checks")
