#!/usr/bin/env bash
# Operating system integration: scripts/install.sh (what `make install` runs) lays out the
# binary, the systemd unit with its paths filled in, the man page and a default config, and keeps
# an existing config; the unit passes `systemd-analyze verify` (when installed) but for the
# binary and man page not being on this machine's real paths; the relay tells $NOTIFY_SOCKET
# READY=1 and then STOPPING=1, raises its open-file soft limit to the hard one, and survives
# SIGHUP.
. "$(dirname "$0")/lib.sh"
O=$TMP_ROOT
D=$O/dest

DESTDIR=$D PREFIX=/usr SYSCONFDIR=/etc "$RLY_SOURCE_DIR/scripts/install.sh" "$RLY_BUILD_DIR" \
    >"$O/i1.out" 2>&1
check "install.sh exits 0" [ $? -eq 0 ]
check "the binary, mode 0755" eval '[ "$(stat -c %a "$D/usr/bin/relay-server")" = 755 ]'
U=$D/usr/lib/systemd/system/relay-server.service
check "the unit, paths filled in" grep -qx 'ExecStart=/usr/bin/relay-server --config /etc/mesh-relay/relay.toml' "$U"
check "Type=notify and LimitNOFILE" eval 'grep -qx Type=notify "$U" && grep -q "^LimitNOFILE=" "$U"'
check "no placeholder left" eval '! grep -qE "@(BINDIR|SYSCONFDIR)@" "$U"'
check "the man page" [ -s "$D/usr/share/man/man8/relay-server.8" ]
check "the sysusers entry for the unit's user" \
    eval 'grep -q "^User=mesh-relay" "$U" && grep -q "^u mesh-relay " "$D/usr/lib/sysusers.d/mesh-relay.conf"'
check "a default config, 0600" eval '[ "$(stat -c %a "$D/etc/mesh-relay/relay.toml")" = 600 ]'
echo "# the operator's" >>"$D/etc/mesh-relay/relay.toml"
DESTDIR=$D PREFIX=/usr SYSCONFDIR=/etc "$RLY_SOURCE_DIR/scripts/install.sh" "$RLY_BUILD_DIR" \
    >"$O/i2.out" 2>&1
check "a second install keeps the config" grep -qx "# the operator's" "$D/etc/mesh-relay/relay.toml"
check "the installed config is valid" \
    "$D/usr/bin/relay-server" --check-config --config "$D/etc/mesh-relay/relay.toml"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$U" >"$O/verify" 2>&1
    check "systemd-analyze verify: nothing but the absent binary and man page" \
        eval '! grep -v -e "is not executable" -e "man relay-server(8)" "$O/verify" | grep -q .'
fi
if command -v man >/dev/null && command -v groff >/dev/null; then
    check "the man page renders" eval 'MANWIDTH=80 man -l "$D/usr/share/man/man8/relay-server.8" 2>/dev/null | grep -q "Circuit Relay v2"'
fi

# sd_notify: a datagram socket of our own stands in for systemd.
SOCK=$O/notify.sock
python3 - "$SOCK" >"$O/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
seen = []
try:
    while not any(m.startswith("STOPPING=1") for m in seen):
        seen.append(s.recv(4096).decode())
        print(seen[-1].replace("\n", "|"), flush=True)
except socket.timeout:
    pass
PY
PY_PID=$!
STARTED_PIDS+=("$PY_PID")
for i in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
H=$(new_home)
loopback_config "$O/r.toml"
(ulimit -Sn 1024 && HOME=$H NOTIFY_SOCKET=$SOCK exec "$RELAY" --config "$O/r.toml") >"$O/r.out" 2>"$O/r.err" &
RELAY_PID=$!
STARTED_PIDS+=("$RELAY_PID")
wait_line() { for i in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "systemd hears READY=1" wait_line "$O/notify.out" '^READY=1'
check "the open-file soft limit went up to the hard limit" \
    grep -qE "Raised the open-file limit from=1024 to=$(ulimit -Hn)" "$O/r.err"
check "/proc agrees" eval 'awk "/Max open files/ {exit !(\$4 == \$5)}" /proc/$RELAY_PID/limits'
kill -HUP "$RELAY_PID"
check "SIGHUP reloads the configuration" wait_line "$O/r.err" "Configuration reloaded"
check "and the relay keeps running" kill -0 "$RELAY_PID"
stop_relay "$RELAY_PID" TERM
check "the relay stops with 0" [ "$STOP_RC" = 0 ]
check "systemd hears STOPPING=1" wait_line "$O/notify.out" '^STOPPING=1'
wait "$PY_PID" 2>/dev/null
[ "$FAILED" -eq 0 ] || show "$O"/*.out "$O"/*.err "$O/verify"
finish
