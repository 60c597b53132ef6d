#!/usr/bin/env bash
# Which listen addresses the relay announces without external_addrs (issue 12): the public ones
# when there are any, else the private ones, loopback only when that is all there is, with a
# warning naming external_addrs unless public addresses are announced. The relay listens on
# 0.0.0.0 inside a network namespace of the test's own (unshare -n, or -rn when not root:
# loopback plus a veth pair with the addresses each case needs), so nothing outside sees it.
. "$(dirname "$0")/lib.sh"
CLIENT="$RLY_BUILD_DIR/test_client"

if [ "${RLY_IN_NETNS:-}" != 1 ]; then
    # As root a network namespace alone (a chroot, as scripts/fresh-machine.sh runs make test
    # in, refuses user namespaces); otherwise inside a user namespace of our own.
    ns=(unshare -rn)
    [ "$(id -u)" -eq 0 ] && ns=(unshare -n)
    if ! command -v ip >/dev/null || ! "${ns[@]}" true 2>/dev/null; then
        echo "ok - # SKIP needs ip (iproute2) and ${ns[*]} (a network namespace of its own)"
        exit 0
    fi
    # The namespace goes with this process; lib.sh's cleanup there stops the relays.
    RLY_IN_NETNS=1 exec "${ns[@]}" bash "$0" "$@"
fi

ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up
check "the namespace has an interface of its own" [ $? -eq 0 ]
H=$(new_home)
O=$TMP_ROOT/o
C=$TMP_ROOT/relay.toml
printf '[network]\ntcp_listen_addr = "/ip4/0.0.0.0/tcp/0"\ntcp_listen_addr_v6 = ""\nquic_listen_addr = ""\nquic_listen_addr_v6 = ""\n[logging]\nlevel = "info"\n' >"$C"

# identify_addrs: start the relay, identify it over loopback, print its listen_addrs field.
identify_addrs() {
    start_relay "$H" "$O" --config "$C" || return 1
    local port
    port=$(sed -n 's|^Listening on: /ip4/127.0.0.1/tcp/\([0-9]*\)/p2p/.*|\1|p' "$O.out" | head -n 1)
    timeout -k 5 20 "$CLIENT" --dial "/ip4/127.0.0.1/tcp/$port/p2p/$(peer_id_of "$O")" --identify \
        >"$TMP_ROOT/c.out" 2>"$TMP_ROOT/c.err"
    sed -n 's/^identify .* listen_addrs=\([^ ]*\) .*/\1/p' "$TMP_ROOT/c.out"
    stop_relay "$RELAY_PID" TERM
}

A=$(identify_addrs)
check "loopback only: loopback is announced" grep -qE '^/ip4/127\.0\.0\.1/tcp/[0-9]+$' <<<"$A"
check "with a warning naming external_addrs" \
    grep -qE 'WARN .*No public address to announce.*external_addrs.* announcing=loopback' "$O.err"

ip addr add 10.20.30.40/24 dev d0 && ip addr add 192.0.2.9/24 dev d0
A=$(identify_addrs)
check "private addresses: they are announced, loopback is not" \
    eval '[[ "$A" == *"/ip4/10.20.30.40/tcp/"* && "$A" == *"/ip4/192.0.2.9/tcp/"* && "$A" != *127.0.0.1* ]]'
check "with the warning (announcing=private)" \
    grep -qE 'WARN .*No public address to announce.*external_addrs.* announcing=private' "$O.err"
check "the banner says what is announced" grep -q '^Announcing: /ip4/10.20.30.40/tcp/' "$O.out"
check "and still lists every listen address" grep -q '^Listening on: /ip4/127.0.0.1/tcp/' "$O.out"

ip addr add 5.6.7.8/32 dev d0
A=$(identify_addrs)
check "a public address: only it is announced" grep -qE '^/ip4/5\.6\.7\.8/tcp/[0-9]+$' <<<"$A"
check "and no warning" eval '! grep -q "No public address" "$O.err"'
finish
