#!/usr/bin/env bash
# Install edgecast on a sensor box as a systemd service (idempotent).
#
#   sudo deploy/install.sh                 install or upgrade, enable and start the service
#   sudo deploy/install.sh --uninstall     remove the service and program; keep config and state;
#                                          delete the Home Assistant entities (if the broker answers)
#   sudo deploy/install.sh --uninstall --purge   also delete /etc/edgecast and /var/lib/edgecast
#   deploy/install.sh --root /tmp/box      install into a directory tree (testing, images)
#
# The box gets only the device extra (LiteRT, numpy, paho-mqtt, click): never TensorFlow.
# Set EDGECAST_EXTRA=device-legacy for tflite-runtime 2.14 on older boards.
set -euo pipefail

ROOT=""
MODE=install
PURGE=0
SOURCE="$(cd "$(dirname "$0")/.." && pwd)"
EXTRA="${EDGECAST_EXTRA:-device}"
PYTHON="${PYTHON:-python3}"

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2%/}"; shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

PREFIX="$ROOT/opt/edgecast"
CONF_DIR="$ROOT/etc/edgecast"
UNIT="$ROOT/etc/systemd/system/edgecast.service"
STATE_DIR="$ROOT/var/lib/edgecast"
# Only touch the running systemd when installing into the real root.
use_systemctl() { [ -z "$ROOT" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }
say() { echo "edgecast install: $*"; }

if [ "$MODE" = uninstall ]; then
  if use_systemctl; then systemctl disable --now edgecast.service 2>/dev/null || true; fi
  # Stopped first (a running daemon republishes discovery when Home Assistant restarts),
  # then the entities go while the program is still here. Best effort: a broker that does
  # not answer must not stop the uninstall.
  if [ -x "$PREFIX/venv/bin/edgecast" ] && [ -e "$CONF_DIR/edgecast.toml" ]; then
    timeout 60 "$PREFIX/venv/bin/edgecast" discovery remove --config "$CONF_DIR/edgecast.toml" \
      || say "Home Assistant entities not removed (broker unreachable?); delete the retained" \
             "homeassistant/sensor/edgecast_*/config topics by hand"
  fi
  rm -f "$UNIT"
  if use_systemctl; then systemctl daemon-reload; fi
  rm -rf "$PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$CONF_DIR" "$STATE_DIR" "$ROOT/var/lib/private/edgecast"
    say "removed program, unit, config and state"
  else
    say "removed program and unit; kept $CONF_DIR and the state (use --purge to delete them)"
  fi
  exit 0
fi

say "virtualenv $PREFIX/venv with edgecast[$EXTRA]"
mkdir -p "$PREFIX"
[ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
"$PREFIX/venv/bin/pip" install -q --upgrade "$SOURCE[$EXTRA]"
cp "$SOURCE/README.md" "$PREFIX/README.md"

mkdir -p "$CONF_DIR"
if [ -e "$CONF_DIR/edgecast.toml" ]; then
  if ! cmp -s "$SOURCE/deploy/edgecast.toml" "$CONF_DIR/edgecast.toml"; then
    cp "$SOURCE/deploy/edgecast.toml" "$CONF_DIR/edgecast.toml.new"
    say "kept your $CONF_DIR/edgecast.toml; the shipped example is edgecast.toml.new"
  fi
else
  install -m 0644 "$SOURCE/deploy/edgecast.toml" "$CONF_DIR/edgecast.toml"
  say "wrote $CONF_DIR/edgecast.toml — edit [mqtt] and [station], then: systemctl restart edgecast"
fi
# Check the config now rather than in a restart loop.
"$PREFIX/venv/bin/edgecast" config check --config "$CONF_DIR/edgecast.toml"

mkdir -p "$(dirname "$UNIT")"
install -m 0644 "$SOURCE/deploy/edgecast.service" "$UNIT"
if use_systemctl; then
  systemctl daemon-reload
  systemctl enable edgecast.service
  systemctl restart edgecast.service
  say "service enabled and started: journalctl -u edgecast -f"
else
  say "unit installed at $UNIT (systemd not managed for --root installs)"
fi
