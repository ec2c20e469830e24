#!/usr/bin/env bash
# Install (or remove) the till on a Debian/Ubuntu till PC, as root. Idempotent: run it again to
# upgrade to a newer wheel; settings and the till's data are kept. Step by step: docs/install.md.
#
#   scripts/install-till.sh --wheel dist/pos_loyalty_client-0.1.0-py3-none-any.whl
#   scripts/install-till.sh --wheel WHEEL --find-links /media/usb/wheels   # offline: dependencies from a folder
#   scripts/install-till.sh --uninstall            # remove the program; the till's data stays
#   scripts/install-till.sh --uninstall --purge    # ...and the till's data (/var/lib/pos-till) and settings
#
# What it does: Debian packages (Python, pcscd, libusb, build tools for pyscard/evdev), a `pos` system
# user in the groups that own serial ports (dialout), USB printers (lp), input devices (input) and USB
# devices (plugdev), the wheel in /opt/pos-till/venv, `pos-client` in /usr/local/bin (on the till's
# home /var/lib/pos-till, 0700), udev rules, the polkit rule that lets `pos` use pcscd, and the systemd
# unit pos-till.service (the app on tty1), enabled.
#
# --root DIR writes every file under DIR instead of / and skips what changes the running system
# (apt, users, ownership, udev and systemd reloads): for packaging and for the tests.
set -euo pipefail

PREFIX=/opt/pos-till
HOME_DIR=/var/lib/pos-till
ETC_DIR=/etc/pos-till
UNIT_DIR=/etc/systemd/system
UDEV_RULE=/etc/udev/rules.d/99-pos-till.rules
POLKIT_RULE=/etc/polkit-1/rules.d/50-pos-till-pcscd.rules
BIN_LINK=/usr/local/bin/pos-client
USER_NAME=pos
GROUPS_WANTED=(dialout lp input plugdev)
DEBS=(python3 python3-venv python3-dev gcc swig pcscd libpcsclite1 libpcsclite-dev libusb-1.0-0 linux-libc-dev
      ca-certificates)

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=""
WHEEL=""
FIND_LINKS=""
PYTHON=${PYTHON:-python3}
MODE=install
PURGE=0

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "options: --wheel PATH  --find-links DIR  --python PATH  --root DIR  --uninstall [--purge]  --help"
}

die() { echo "install-till: $*" >&2; exit 2; }
say() { echo "install-till: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) [ $# -ge 2 ] || die "--wheel needs a path"; WHEEL=$2; shift 2 ;;
    --find-links) [ $# -ge 2 ] || die "--find-links needs a directory"; FIND_LINKS=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=${2%/}; shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != "/" ] || ROOT=""
fi
LIVE=1                      # 1: this machine (apt, users, systemd); 0: files under --root only
[ -z "$ROOT" ] || LIVE=0
if [ "$LIVE" = 1 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo $0 ...), or with --root DIR to write the files under DIR"
fi
[ "$PURGE" = 0 ] || [ "$MODE" = uninstall ] || die "--purge goes with --uninstall"

systemd_running() { [ "$LIVE" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# Copy a file only when it differs, so a second run changes nothing (and says so).
put() {  # put SRC DEST MODE
  local dest="$ROOT$2"
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$1" "$dest"; then
    return 0
  fi
  install -m "$3" "$1" "$dest"
  say "wrote $2"
  CHANGED=1
}

install_debs() {
  local missing=() p
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_user() {
  local g
  getent group plugdev >/dev/null || groupadd --system plugdev
  if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --system --user-group --home-dir "$HOME_DIR" --no-create-home --shell /usr/sbin/nologin \
      --comment "Loyalty till" "$USER_NAME"
    say "created the system user $USER_NAME"
  fi
  for g in "${GROUPS_WANTED[@]}"; do
    id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$g" || { usermod -aG "$g" "$USER_NAME"; say "$USER_NAME joins $g"; }
  done
}

install_wheel() {
  local venv="$ROOT$PREFIX/venv" pip_opts=(--disable-pip-version-check -q)
  [ -z "$FIND_LINKS" ] || pip_opts+=(--no-index --find-links "$FIND_LINKS")
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $PREFIX/venv"
    "$PYTHON" -m venv "$venv"
  fi
  say "installing $(basename "$WHEEL") and its dependencies"
  "$venv/bin/python" -m pip install "${pip_opts[@]}" "$WHEEL"
  # the same version rebuilt (a fix on site) replaces the installed one; its dependencies stay
  "$venv/bin/python" -m pip install "${pip_opts[@]}" --no-deps --force-reinstall "$WHEEL"
}

write_wrapper() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
#!/bin/sh
# pos-client on this till's home (installed by install-till.sh). As the till's user: sudo -u $USER_NAME pos-client ...
if [ -z "\${POS_CLIENT_HOME:-}" ]; then
  POS_CLIENT_HOME=$HOME_DIR
  [ ! -r $ETC_DIR/env ] || . $ETC_DIR/env
  export POS_CLIENT_HOME
fi
exec $PREFIX/venv/bin/pos-client "\$@"
EOF
  put "$tmp" "$BIN_LINK" 0755
  rm -f "$tmp"
}

write_env() {
  # written once: what an administrator changes here survives every re-install
  [ ! -e "$ROOT$ETC_DIR/env" ] || return 0
  mkdir -p "$ROOT$ETC_DIR"
  printf '%s\n' "# Environment of pos-till.service and of /usr/local/bin/pos-client (KEY=value lines)." \
    "POS_CLIENT_HOME=$HOME_DIR" >"$ROOT$ETC_DIR/env"
  chmod 0644 "$ROOT$ETC_DIR/env"
  say "wrote $ETC_DIR/env"
  CHANGED=1
}

do_install() {
  [ -n "$WHEEL" ] || [ -x "$ROOT$PREFIX/venv/bin/pos-client" ] || [ "$LIVE" = 0 ] \
    || die "no till installed yet: give --wheel PATH (python -m build --wheel makes it)"
  [ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "no such wheel: $WHEEL"
  [ -z "$FIND_LINKS" ] || [ -d "$FIND_LINKS" ] || die "no such directory: $FIND_LINKS"
  CHANGED=0
  if [ "$LIVE" = 1 ]; then
    install_debs
    ensure_user
  fi
  mkdir -p "$ROOT$HOME_DIR"
  chmod 0700 "$ROOT$HOME_DIR"
  [ "$LIVE" = 0 ] || chown "$USER_NAME:$USER_NAME" "$ROOT$HOME_DIR"
  [ -z "$WHEEL" ] || install_wheel
  put "$SRC/docs/install.md" "$PREFIX/share/install.md" 0644
  write_env
  write_wrapper
  put "$SRC/deploy/udev/99-pos-till.rules" "$UDEV_RULE" 0644
  put "$SRC/deploy/polkit/50-pos-till-pcscd.rules" "$POLKIT_RULE" 0644
  put "$SRC/deploy/systemd/pos-till.service" "$UNIT_DIR/pos-till.service" 0644
  if [ "$LIVE" = 1 ] && command -v udevadm >/dev/null; then
    udevadm control --reload-rules && udevadm trigger --subsystem-match=usb --subsystem-match=tty || true
  fi
  if systemd_running; then
    systemctl daemon-reload
    systemctl enable pos-till.service >/dev/null 2>&1
    say "pos-till.service enabled: it starts the till on tty1 at boot"
    if systemctl is-active --quiet pos-till.service; then
      systemctl restart pos-till.service
      say "pos-till.service restarted on the new version"
    fi
  elif [ "$LIVE" = 1 ]; then
    say "systemd is not running here: enable the service on the till with \`systemctl enable pos-till\`"
  fi
  [ "$CHANGED" = 1 ] || say "files already up to date"
  say "done. Next, as the till's user:"
  say "  sudo -u $USER_NAME pos-client setup      # store, till, head office, devices"
  say "  sudo -u $USER_NAME pos-client doctor     # checks the devices and head office"
  say "  systemctl start pos-till                # the till on tty1 (Ctrl+Alt+F1)"
}

# Remove a file and the directories it leaves empty (up to, not including, the root's own dirs).
remove() {
  local path="$ROOT$1"
  if [ -e "$path" ] || [ -L "$path" ]; then
    rm -rf "$path"
    say "removed $1"
  fi
}

prune_empty() {  # prune_empty DIR...: remove the directories if empty, deepest first
  local d
  for d in "$@"; do
    [ -d "$ROOT$d" ] && rmdir --ignore-fail-on-non-empty "$ROOT$d" 2>/dev/null || true
  done
}

do_uninstall() {
  if systemd_running; then
    systemctl disable --now pos-till.service >/dev/null 2>&1 || true
  fi
  remove "$UNIT_DIR/pos-till.service"
  remove "$UDEV_RULE"
  remove "$POLKIT_RULE"
  remove "$BIN_LINK"
  remove "$PREFIX"
  if systemd_running; then
    systemctl daemon-reload
  fi
  if [ "$LIVE" = 1 ] && command -v udevadm >/dev/null; then
    udevadm control --reload-rules || true
  fi
  if [ "$PURGE" = 1 ]; then
    remove "$HOME_DIR"
    remove "$ETC_DIR"
    if [ "$LIVE" = 1 ] && getent passwd "$USER_NAME" >/dev/null; then
      userdel "$USER_NAME" && say "removed the user $USER_NAME"
    fi
  else
    [ ! -d "$ROOT$HOME_DIR" ] || say "kept the till's data in $HOME_DIR and $ETC_DIR (--purge removes them)"
  fi
  if [ "$LIVE" = 0 ]; then  # only under --root: the directories this script made for its files
    prune_empty /etc/systemd/system /etc/systemd /etc/udev/rules.d /etc/udev /etc/polkit-1/rules.d /etc/polkit-1 \
      /usr/local/bin /usr/local /usr /opt /var/lib /var /etc
  fi
  say "uninstalled"
}

if [ "$MODE" = install ]; then do_install; else do_uninstall; fi
