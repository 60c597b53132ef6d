// go-peer: the go-libp2p interop test peer of Mesh Relay (tests/interop/PEERS.md).
//
//	go-peer --relay MULTIADDR                     listen through the relay (reserve, serve)
//	go-peer --relay MULTIADDR --dial PEER_ID ...  dial PEER_ID through the relay, then the steps
//	go-peer --dial MULTIADDR ...                  dial directly, then the steps
//	go-peer --relay MULTIADDR --reserve-only      reserve once, print the reservation, exit
//
// One JSON object per line on stdout per event; diagnostics on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	relay         string
	dial          string
	listenAddrs   listFlag
	announceAddrs listFlag
	holepunch     bool
	directTimeout int
	ping          int
	identify      bool
	echoBytes     int
	send          int64
	hold          bool
	refreshLog    bool
	timeout       int
	reconnect     bool
	reserveOnly   bool
	identity      string
	authToken     string
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "go-peer: %s (see tests/interop/PEERS.md)\n", msg)
	exit(exitUsage)
}

func parseOptions() options {
	var o options
	fs := flag.NewFlagSet("go-peer", flag.ContinueOnError)
	fs.StringVar(&o.relay, "relay", "", "the relay multiaddr (ending in /p2p/ID)")
	fs.StringVar(&o.dial, "dial", "", "PEER_ID (through --relay) or MULTIADDR (direct)")
	fs.Var(&o.listenAddrs, "listen-addr", "also listen here (repeatable)")
	fs.Var(&o.announceAddrs, "announce-addr", "also announce this address (repeatable; e.g. a NAT's public address in a lab)")
	fs.BoolVar(&o.holepunch, "holepunch", false, "enable DCUtR")
	fs.IntVar(&o.directTimeout, "direct-timeout", 20, "with --holepunch --dial: seconds to wait for a direct connection")
	fs.IntVar(&o.ping, "ping", 0, "N pings")
	fs.BoolVar(&o.identify, "identify", false, "print the peer's identify record")
	fs.IntVar(&o.echoBytes, "echo-bytes", 0, "echo N pseudo-random bytes")
	fs.Int64Var(&o.send, "send", 0, "push N bytes into the sink")
	fs.BoolVar(&o.hold, "hold", false, "after the steps keep the connection until it closes")
	fs.BoolVar(&o.refreshLog, "refresh-log", false, "listening: print every refresh")
	fs.IntVar(&o.timeout, "timeout", -1, "give up after SECS (exit 3)")
	fs.BoolVar(&o.reconnect, "reconnect", false, "listening: get the reservation back when lost")
	fs.BoolVar(&o.reserveOnly, "reserve-only", false, "reserve once, print, exit")
	fs.StringVar(&o.identity, "identity", "", "FILE: the peer's key (a libp2p PrivateKey protobuf)")
	fs.StringVar(&o.authToken, "auth-token", "", "TOKEN: authenticate on the relay connection first (/meshnet/relay-auth/1.0.0)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		exit(exitUsage)
	}
	if fs.NArg() > 0 {
		usage("unexpected argument " + fs.Arg(0))
	}
	if o.relay == "" && o.dial == "" {
		usage("--relay or --dial is required")
	}
	if o.dial != "" && strings.HasPrefix(o.dial, "/") && o.relay != "" {
		usage("--dial MULTIADDR is a direct dial; --relay goes with --dial PEER_ID")
	}
	if o.dial != "" && !strings.HasPrefix(o.dial, "/") && o.relay == "" {
		usage("--dial PEER_ID needs --relay")
	}
	if o.authToken != "" && o.relay == "" {
		usage("--auth-token needs --relay (it authenticates on the relay connection)")
	}
	if o.reserveOnly && (o.relay == "" || o.dial != "") {
		usage("--reserve-only needs --relay and no --dial")
	}
	if o.ping < 0 || o.echoBytes < 0 || o.send < 0 || o.directTimeout <= 0 {
		usage("negative count")
	}
	if o.timeout < 0 {
		o.timeout = 0
		if o.dial != "" || o.reserveOnly {
			o.timeout = 30
		}
	}
	return o
}

// libp2pVersion is the go-libp2p module version this binary was built with (from go.sum's pin).
func libp2pVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/libp2p/go-libp2p" {
				return m.Version
			}
		}
	}
	return ""
}

func newHost(o options, st *state) (host.Host, error) {
	opts := []libp2p.Option{
		// TCP and QUIC; go's default security (Noise and TLS) and muxer (Yamux) are kept.
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.UserAgent("mesh-relay-interop-go/" + libp2pVersion()),
	}
	if o.identity != "" {
		b, err := os.ReadFile(o.identity)
		if err != nil {
			usage(fmt.Sprintf("--identity: %v", err))
		}
		key, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			usage(fmt.Sprintf("--identity %s: %v", o.identity, err))
		}
		opts = append(opts, libp2p.Identity(key))
	}
	if len(o.listenAddrs) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(o.listenAddrs...))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	// The circuit v2 client transport is on by default, but NoListenAddrs turns it off
	// (options.go: "It also disables relay, unless the user explicitly specifies"); the option
	// after it turns it back on.
	opts = append(opts, libp2p.EnableRelay())
	if len(o.announceAddrs) > 0 {
		extra := make([]ma.Multiaddr, 0, len(o.announceAddrs))
		for _, s := range o.announceAddrs {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				usage(fmt.Sprintf("--announce-addr %s: %v", s, err))
			}
			extra = append(extra, a)
		}
		// The host's addresses, and with them the addresses go's hole punching sends
		// (addrs_manager.go HolePunchAddrs: the AddrsFactory applied to the listen addresses,
		// plus observed addresses), get these too.
		opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
			return append(addrs, extra...)
		}))
	}
	if o.holepunch {
		opts = append(opts, libp2p.EnableHolePunching(holepunch.WithTracer(st)))
	}
	return libp2p.New(opts...)
}

func main() {
	o := parseOptions()
	st := newState(o)
	h, err := newHost(o, st)
	if err != nil {
		emit("error", map[string]any{"error": err.Error()})
		exit(exitFail)
	}
	st.attach(h)
	emit("started", map[string]any{"peer_id": h.ID().String(), "impl": "go", "version": optStr(libp2pVersion())})
	for _, a := range h.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		emit("listen_addr", map[string]any{"addr": a.String()})
	}

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		cancel()
	}()
	if o.timeout > 0 {
		time.AfterFunc(time.Duration(o.timeout)*time.Second, func() {
			emit("error", map[string]any{"error": fmt.Sprintf("timeout after %d s", o.timeout)})
			exit(exitTimeout)
		})
	}

	var code int
	switch {
	case o.dial != "":
		code = runDial(ctx, h, st, o)
	default:
		code = runListen(ctx, h, st, o)
	}
	st.shutdown()
	h.Close()
	exit(code)
}

// parseRelay returns the relay's AddrInfo (its multiaddr must end in /p2p/ID).
func parseAddrInfo(s string) (*peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	return peer.AddrInfoFromP2pAddr(a)
}
