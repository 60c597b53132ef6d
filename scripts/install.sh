#!/usr/bin/env bash
# install.sh BUILD_DIR: install the relay from BUILD_DIR (run by `make install`).
#   $DESTDIR$PREFIX/bin/relay-server
#   $DESTDIR$PREFIX/lib/systemd/system/relay-server.service   (dist/, paths filled in)
#   $DESTDIR$PREFIX/share/man/man8/relay-server.8
#   $DESTDIR$PREFIX/lib/sysusers.d/mesh-relay.conf             (the mesh-relay user)
#   $DESTDIR$SYSCONFDIR/mesh-relay/relay.toml                  (only when there is none)
# Installing for real (no DESTDIR) as root also creates the user (systemd-sysusers) and gives
# the config to it: root:mesh-relay 0640.
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
install -d "$DESTDIR$PREFIX/lib/sysusers.d"
install -m 0644 dist/mesh-relay.sysusers "$DESTDIR$PREFIX/lib/sysusers.d/mesh-relay.conf"
if [ -e "$etc/relay.toml" ]; then
    echo "install.sh: kept $etc/relay.toml"
else
    "$build/relay-server" --generate-config --config "$etc/relay.toml"
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$PREFIX/lib/sysusers.d/mesh-relay.conf"
    fi
    if getent group mesh-relay >/dev/null; then
        chgrp mesh-relay "$etc/relay.toml" && chmod 0640 "$etc/relay.toml"
    else
        echo "install.sh: create the mesh-relay user, then: chgrp mesh-relay $etc/relay.toml; chmod 0640 $etc/relay.toml" >&2
    fi
fi
