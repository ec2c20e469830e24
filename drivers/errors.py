"""Errors the device layer raises; each carries the CLI exit code the till reports it with.

The drivers know nothing of the till: the till's CLI and screens catch these beside their own
errors (`pos_client.domain.errors`), matching on `exit_code` only.
"""

from __future__ import annotations


class DeviceError(Exception):
    """A device could not be reached or did not do what was asked."""

    exit_code = 1


class DeviceConfigError(DeviceError, ValueError):
    """A device setting in config.toml is wrong (bad URL, unknown profile, unknown reader kind)."""

    exit_code = 2
