#!/usr/bin/env bash
# lab.sh: the hole-punching lab: network namespaces with two NATs and a public segment.
#
#   lab.sh up [TAG]            create the lab (TAG: [a-z0-9]{1,8}, default random); prints TAG=...
#   lab.sh check TAG           verify the NATs (outbound works, unsolicited inbound is dropped,
#                              the public side sees the NAT's address)
#   lab.sh exec TAG NODE CMD.. run CMD in NODE's namespace (NODE: pub, ra, rb, a, b)
#   lab.sh counters TAG        the routers' drop counters and conntrack tables (for logs)
#   lab.sh down TAG            stop what runs in TAG's namespaces (by PID) and remove them
#   lab.sh list                the lab namespaces that exist now (any TAG)
#
# Topology (README.md beside this file has the picture). Every namespace is named rlyd-TAG-NODE;
# none has a link to the host's namespace, so nothing sent inside reaches any real network: the
# "public" addresses below exist only in these namespaces. They are from ranges that go-libp2p
# (manet.IsPublicAddr) and rust-libp2p treat as public, because the libraries will not hole punch
# to private or documentation addresses.
#
#   pub : bridge br0 17.0.0.1/24                          (the relay runs here)
#   ra  : out 17.0.0.10/24 (on br0), in 10.1.0.1/24     NAT A: masquerade on out, forwarding on
#   rb  : out 17.0.0.20/24 (on br0), in 10.2.0.1/24     NAT B: likewise
#   a   : eth0 10.1.0.2/24, default via 10.1.0.1         peer A (listens through the relay)
#   b   : eth0 10.2.0.2/24, default via 10.2.0.1         peer B (dials A through the relay)
#
# Each router: nftables masquerade on "out"; forward only inside->outside and replies
# (ct state established,related); input only from inside, loopback and replies. So a packet from
# outside that no inside host asked for is dropped (silently, counted in "unsolicited"), as by a
# home router; a UDP hole punch and a TCP simultaneous open get through because each side's own
# outgoing packet creates the conntrack entry the other side's packet then matches.
set -euo pipefail

RELAY_IP=17.0.0.1
NAT_A_IP=17.0.0.10
NAT_B_IP=17.0.0.20
PRIV_A_GW=10.1.0.1
PRIV_A_IP=10.1.0.2
PRIV_B_GW=10.2.0.1
PRIV_B_IP=10.2.0.2

die() { echo "lab.sh: $*" >&2; exit 1; }
ns() { echo "rlyd-$1-$2"; }
nodes=(pub ra rb a b)

need_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
    command -v ip >/dev/null || die "ip (iproute2) not found"
    command -v nft >/dev/null || die "nft not found (apt-get install nftables)"
}

check_tag() {
    [[ "${1:-}" =~ ^[a-z0-9]{1,8}$ ]] || die "bad TAG '${1:-}' (1-8 of [a-z0-9])"
}

nx() { local n=$1; shift; ip netns exec "$n" "$@"; }

# down TAG: kill (by PID) whatever still runs in the tag's namespaces, then delete them. Bounded
# (SIGTERM, up to 3 s, SIGKILL) and idempotent: a namespace that is not there is skipped.
down() {
    local tag=$1 n pids
    for node in "${nodes[@]}"; do
        n=$(ns "$tag" "$node")
        [ -e "/run/netns/$n" ] || continue
        pids=$(ip netns pids "$n" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill -TERM $pids 2>/dev/null || true
            for _ in $(seq 30); do
                pids=$(ip netns pids "$n" 2>/dev/null || true)
                [ -z "$pids" ] && break
                sleep 0.1
            done
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill -KILL $pids 2>/dev/null || true
            fi
        fi
        ip netns del "$n" 2>/dev/null || true
    done
    return 0
}

router_rules() {
    cat <<'EOF'
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "out" masquerade
    }
}
table inet filter {
    counter unsolicited { }
    chain input {
        type filter hook input priority filter; policy accept;
        iif "lo" accept
        ct state established,related accept
        iifname "in" accept
        counter name "unsolicited" drop
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
        iifname "in" oifname "out" accept
        counter name "unsolicited" drop
    }
}
EOF
}

up() {
    local tag=$1
    local p ra rb a b
    p=$(ns "$tag" pub); ra=$(ns "$tag" ra); rb=$(ns "$tag" rb); a=$(ns "$tag" a); b=$(ns "$tag" b)
    for node in "${nodes[@]}"; do
        [ -e "/run/netns/$(ns "$tag" "$node")" ] && die "namespace $(ns "$tag" "$node") exists (lab.sh down $tag)"
    done
    trap 'down '"$tag"'' ERR
    for n in "$p" "$ra" "$rb" "$a" "$b"; do
        ip netns add "$n"
        nx "$n" ip link set lo up
        # IPv4 only: no IPv6 link-local chatter, no DAD delays.
        nx "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        nx "$n" sysctl -qw net.ipv4.ip_forward=0
    done
    # the public segment: a bridge in pub, each router's "out" on it
    ip -n "$p" link add br0 type bridge
    ip -n "$p" addr add "$RELAY_IP/24" dev br0
    ip -n "$p" link set br0 up
    local r side nat_ip gw priv peer
    for side in a b; do
        if [ "$side" = a ]; then r=$ra; peer=$a; nat_ip=$NAT_A_IP; gw=$PRIV_A_GW; priv=$PRIV_A_IP
        else r=$rb; peer=$b; nat_ip=$NAT_B_IP; gw=$PRIV_B_GW; priv=$PRIV_B_IP; fi
        ip -n "$p" link add "r$side" type veth peer name out netns "$r"
        ip -n "$p" link set "r$side" master br0 up
        ip -n "$r" addr add "$nat_ip/24" dev out
        ip -n "$r" link set out up
        ip -n "$r" link add in type veth peer name eth0 netns "$peer"
        ip -n "$r" addr add "$gw/24" dev in
        ip -n "$r" link set in up
        ip -n "$peer" addr add "$priv/24" dev eth0
        ip -n "$peer" link set eth0 up
        ip -n "$peer" route add default via "$gw"
        nx "$r" sysctl -qw net.ipv4.ip_forward=1
        router_rules | nx "$r" nft -f -
    done
    trap - ERR
    echo "TAG=$tag"
}

# A one-shot TCP server in a namespace: accepts one connection, writes the peer's address and
# port, closes. Used by check. Prints nothing itself; exits after 8 s in any case.
ONE_SHOT_JS='
const net = require("net")
const [host, port] = [process.argv[1], Number(process.argv[2])]
const s = net.createServer(c => { c.end(c.remoteAddress + ":" + c.remotePort + "\n"); s.close() })
s.listen(port, host, () => process.stdout.write("ready\n"))
setTimeout(() => process.exit(0), 8000).unref()
'

# start_server NS HOST PORT: start ONE_SHOT_JS in NS, wait until it listens; sets SERVER_PID.
start_server() {
    local n=$1 host=$2 port=$3 fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    nx "$n" node -e "$ONE_SHOT_JS" "$host" "$port" >"$fifo" &
    SERVER_PID=$!
    local line=""
    read -r -t 5 line <"$fifo" || true
    rm -f "$fifo"
    [ "$line" = ready ] || die "check: test server in $n did not start"
}

# tcp_get NS HOST PORT: connect from NS, print what the server wrote; exit status 124 on timeout.
tcp_get() {
    # shellcheck disable=SC2016 # $0 and $1 are the inner bash's arguments
    nx "$1" timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r l <&3 && echo "$l"' "$2" "$3"
}

check() {
    local tag=$1 p a b rb got rc
    p=$(ns "$tag" pub); a=$(ns "$tag" a); b=$(ns "$tag" b); rb=$(ns "$tag" rb)
    command -v node >/dev/null || die "check needs node"
    # 1. A reaches the public segment, which sees NAT A's public address (masquerade).
    start_server "$p" "$RELAY_IP" 7001
    got=$(tcp_get "$a" "$RELAY_IP" 7001) || die "check: A cannot reach $RELAY_IP:7001 through NAT A"
    wait "$SERVER_PID" || true
    [[ "$got" == "$NAT_A_IP:"* ]] || die "check: the public side saw A as '$got', not $NAT_A_IP (NAT A does not masquerade)"
    echo "check: A -> $RELAY_IP:7001 seen as $got (NAT A's address)"
    start_server "$p" "$RELAY_IP" 7002
    got=$(tcp_get "$b" "$RELAY_IP" 7002) || die "check: B cannot reach $RELAY_IP:7002 through NAT B"
    wait "$SERVER_PID" || true
    [[ "$got" == "$NAT_B_IP:"* ]] || die "check: the public side saw B as '$got', not $NAT_B_IP"
    echo "check: B -> $RELAY_IP:7002 seen as $got (NAT B's address)"
    # 2. unsolicited inbound is dropped: from the public side (pub, and from behind NAT B) to NAT
    # A's public address times out (dropped), it is not refused (RST) and not forwarded to A.
    start_server "$a" 0.0.0.0 7003
    rc=0; got=$(tcp_get "$p" "$NAT_A_IP" 7003) || rc=$?
    [ "$rc" -eq 124 ] || die "check: pub -> $NAT_A_IP:7003 was not dropped (exit $rc, got '$got')"
    rc=0; got=$(tcp_get "$b" "$NAT_A_IP" 7003) || rc=$?
    [ "$rc" -eq 124 ] || die "check: B -> $NAT_A_IP:7003 was not dropped (exit $rc, got '$got')"
    # A's private address is not routed from outside at all
    rc=0; got=$(tcp_get "$p" "$PRIV_A_IP" 7003 2>/dev/null) || rc=$?
    [ "$rc" -ne 0 ] || die "check: pub reached A's private address $PRIV_A_IP"
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    echo "check: unsolicited TCP to $NAT_A_IP:7003 dropped (from pub and from behind NAT B); $PRIV_A_IP unreachable from pub"
    # 3. B's NAT also drops what A did not ask for (same rules): its counter counts them.
    local before after
    before=$(nx "$rb" nft list counter inet filter unsolicited | awk '/packets/ {print $2}')
    rc=0; tcp_get "$a" "$NAT_B_IP" 7004 >/dev/null || rc=$?
    after=$(nx "$rb" nft list counter inet filter unsolicited | awk '/packets/ {print $2}')
    if [ "$rc" -ne 124 ] || [ "$after" -le "$before" ]; then
        die "check: A -> $NAT_B_IP:7004 not dropped by NAT B (exit $rc, counter $before -> $after)"
    fi
    echo "check: NAT B dropped $((after - before)) unsolicited packets from A; NAT ok"
}

counters() {
    local tag=$1 r
    for r in ra rb; do
        echo "== $(ns "$tag" $r): unsolicited drops"
        nx "$(ns "$tag" $r)" nft list counter inet filter unsolicited 2>&1 | awk '/packets/'
        echo "== $(ns "$tag" $r): conntrack"
        nx "$(ns "$tag" $r)" cat /proc/net/nf_conntrack 2>/dev/null ||
            nx "$(ns "$tag" $r)" conntrack -L 2>&1 || true
    done
}

cmd=${1:-}
case "$cmd" in
up)
    need_root
    tag=${2:-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')}
    check_tag "$tag"
    up "$tag"
    ;;
check) need_root; check_tag "${2:-}"; check "$2" ;;
exec)
    need_root; check_tag "${2:-}"
    node=${3:-}
    [[ " ${nodes[*]} " == *" $node "* ]] || die "exec: NODE must be one of ${nodes[*]}"
    tag=$2
    shift 3
    exec ip netns exec "$(ns "$tag" "$node")" "$@"
    ;;
counters) need_root; check_tag "${2:-}"; counters "$2" ;;
down) need_root; check_tag "${2:-}"; down "$2" ;;
list) ip netns list | awk '{print $1}' | grep '^rlyd-' || true ;;
*)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
