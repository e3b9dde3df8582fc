#!/bin/sh
# Install rayleigh as a systemd service on a Debian-family board (Raspberry Pi OS, Jetson L4T).
#   sudo systemd/install.sh [--no-start] [--broker HOST]...
# --broker HOST allows IP traffic to that MQTT broker (and this board's DNS resolvers) in a drop-in;
# the unit otherwise allows loopback only (IPAddressDeny=any).
# Re-running upgrades the code in /opt/rayleigh and keeps /etc/rayleigh and /var/lib/rayleigh.
set -eu

PREFIX=/opt/rayleigh
CONF_DIR=/etc/rayleigh
STATE_DIR=/var/lib/rayleigh
UNIT=/etc/systemd/system/rayleigh.service
SVC_USER=rayleigh
START=yes
BROKERS=

while [ $# -gt 0 ]; do
  case "$1" in
    --no-start) START=no ;;
    --broker)
      [ $# -ge 2 ] || { echo "install.sh: --broker needs a host" >&2; exit 2; }
      BROKERS="$BROKERS $2"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi

src=$(cd "$(dirname "$0")/.." && pwd)

# The unit runs /usr/bin/node; Node 20 or newer is required.
if [ ! -x /usr/bin/node ]; then
  echo "install.sh: /usr/bin/node not found; install Node.js >= 20 first" >&2
  exit 1
fi
node_major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js $node_major found, >= 20 required" >&2
  exit 1
fi

# Groups the unit's SupplementaryGroups= names; Raspberry Pi OS has them, other images may not.
for g in i2c gpio video dialout; do
  getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! id "$SVC_USER" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "rayleigh daemon" "$SVC_USER"
fi
usermod -a -G i2c,gpio,video,dialout "$SVC_USER"

# Code: owned by root so the service user cannot modify what it runs.
mkdir -p "$PREFIX"
tar -C "$src" \
  --exclude=./node_modules --exclude=./.git --exclude=./dist --exclude=./training \
  --exclude=./state --exclude=./bench/results \
  -cf - . | tar -C "$PREFIX" -xf -
cd "$PREFIX"
# The TypeScript build needs the dev dependencies; they are pruned right after.
npm ci --no-audit --no-fund
npm run build
mkdir -p dist/web
rm -rf dist/web/static
cp -R src/web/static dist/web/static
npm prune --omit=dev --no-audit --no-fund
chown -R root:root "$PREFIX"
chmod -R go-w "$PREFIX"

# Configuration: never overwrite what the operator edited.
install -d -m 0750 -o root -g "$SVC_USER" "$CONF_DIR"
if [ ! -f "$CONF_DIR/config.yaml" ]; then
  # device ids allow letters, digits, _ and - only
  device_id=$(hostname | tr -c 'A-Za-z0-9_\n-' '-' | cut -c1-64)
  sed "s/__DEVICE_ID__/${device_id:-rayleigh}/" "$src/systemd/config.example.yaml" > "$CONF_DIR/config.yaml"
  chown root:"$SVC_USER" "$CONF_DIR/config.yaml"
  chmod 0640 "$CONF_DIR/config.yaml"
fi
if [ ! -f "$CONF_DIR/env" ]; then
  printf '# secrets for rayleigh, e.g.\n# RAYLEIGH_MQTT__PASSWORD=...\n# RAYLEIGH_WEB__TOKEN=...\n' > "$CONF_DIR/env"
  chown root:root "$CONF_DIR/env"
  chmod 0600 "$CONF_DIR/env"
fi

install -m 0644 "$src/systemd/rayleigh.service" "$UNIT"
if [ -n "$BROKERS" ]; then
  # addresses resolved now; re-run install.sh when the broker moves
  allow=
  for h in $BROKERS; do
    addrs=$(getent ahosts "$h" | awk '{print $1}' | sort -u | tr '\n' ' ')
    [ -n "$addrs" ] || { echo "install.sh: cannot resolve broker $h" >&2; exit 1; }
    allow="$allow $addrs"
  done
  resolvers=$(awk '$1 == "nameserver" {print $2}' /etc/resolv.conf 2>/dev/null | tr '\n' ' ')
  install -d -m 0755 "$UNIT.d"
  printf '[Service]\n# written by install.sh --broker:%s\nIPAddressAllow=%s %s\n' "$BROKERS" "$allow" "$resolvers" > "$UNIT.d/broker.conf"
fi
systemctl daemon-reload
if [ "$START" = yes ]; then
  systemctl enable --now rayleigh.service
  systemctl --no-pager --lines=5 status rayleigh.service || true
else
  systemctl enable rayleigh.service
fi
echo "rayleigh installed: $PREFIX, config $CONF_DIR/config.yaml, state $STATE_DIR"
