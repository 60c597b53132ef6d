#!/usr/bin/env bash
# install.sh BUILD_DIR: install the relay from BUILD_DIR (run by `make install`).
#   $DESTDIR$PREFIX/bin/relay-server
#   $DESTDIR$PREFIX/lib/systemd/system/relay-server.service   (dist/, paths filled in)
#   $DESTDIR$PREFIX/share/man/man8/relay-server.8
#   $DESTDIR$SYSCONFDIR/mesh-relay/relay.toml                  (only when there is none)
# Environment: PREFIX (/usr/local), SYSCONFDIR (/etc), DESTDIR (empty: the real root).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: install.sh BUILD_DIR}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
DESTDIR=${DESTDIR:-}
bin=$DESTDIR$PREFIX/bin unit=$DESTDIR$PREFIX/lib/systemd/system man=$DESTDIR$PREFIX/share/man/man8
etc=$DESTDIR$SYSCONFDIR/mesh-relay
install -d "$bin" "$unit" "$man" "$etc"
install -m 0755 "$build/relay-server" "$bin/relay-server"
sed -e "s|@BINDIR@|$PREFIX/bin|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" dist/relay-server.service \
    >"$unit/relay-server.service"
chmod 0644 "$unit/relay-server.service"
install -m 0644 dist/relay-server.8 "$man/relay-server.8"
if [ -e "$etc/relay.toml" ]; then
    echo "install.sh: kept $etc/relay.toml"
else
    "$build/relay-server" --generate-config --config "$etc/relay.toml"
fi
