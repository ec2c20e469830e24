#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine (run as root): Debian packages the till needs
# (PC/SC daemon, the vsmartcard virtual reader driver, PostgreSQL for the head-office contract
# tests), then a project virtualenv with the pinned Python packages. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(pcscd vsmartcard-vpcd libpcsclite-dev pcsc-tools postgresql swig tmux linux-libc-dev  # linux-libc-dev: evdev builds against <linux/input.h>
      chromium chromium-driver  # the head-office console's end-to-end tests (a real browser)
      systemd libusb-1.0-0)  # systemd-analyze verifies the units in deploy/; libusb for the USB printer transport
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The system pcscd would grab the vpcd port; the tests and the demo run a private one.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop pcscd.socket pcscd.service >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
stamp=.venv/.lock-stamp
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  echo "setup: installing pinned Python packages"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
    || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  cp requirements.lock "$stamp"
fi
