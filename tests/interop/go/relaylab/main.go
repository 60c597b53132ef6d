// relaylab: two small go-libp2p v0.52.0 programs for tests/interop/peers/clients (issue 12,
// items 3 and 5), in the go peer's module (same go.mod / go.sum pins), built apart from the peer
// (tests/interop/go/relaylab/build.sh) so the peer's binary and its build stamp stay as they are.
// JSON events on stdout as tests/interop/PEERS.md, diagnostics on stderr.
//
//	relaylab relay [--max-circuit-bytes N] [--max-circuit-duration SECS] [--reservation-ttl SECS]
//	    go-libp2p's own circuit v2 relay (circuitv2/relay.New with these Resources) on
//	    127.0.0.1 TCP and QUIC, port 0; prints started, then listen_addr per address (with
//	    /p2p/ID), runs until SIGTERM. Reservation addresses: all (loopback included; go's default
//	    filter keeps only public ones).
//
//	relaylab two-conn --relay-a MULTIADDR --relay-b MULTIADDR --steps STEP,STEP...
//	    One identity on two connections to the same relay: host "a" (its own transport set)
//	    connects to --relay-a and reserves (client.Reserve); host "b" (the same private key)
//	    connects to --relay-b and does not reserve. Both serve incoming relayed connections
//	    (go's circuit client transport, ping). Then, at each SIGUSR1, the next step:
//	      refresh-b  client.Reserve over b (a refresh over the other connection)
//	      refresh-a  client.Reserve over a
//	      drop-a     close host a (its connection to the relay closes)
//	      drop-b     close host b
//	    Events carry "conn": "a" or "b": started, connected, reserved, reservation_failed,
//	    incoming (a relayed connection arrived on that host), closed (conn: the host closed),
//	    step (the step done), ready (waiting for the next SIGUSR1). Exits 0 on SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

var outMu sync.Mutex

func emit(event string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = event
	b, err := json.Marshal(fields)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"error","error":%q}`, err.Error()))
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func fail(msg string, code int) {
	emit("error", map[string]any{"error": msg})
	os.Exit(code)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: relaylab relay|two-conn [options]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "relay":
		runRelay(os.Args[2:])
	case "two-conn":
		runTwoConn(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "relaylab: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func terminated() <-chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	return c
}

// ---- relay ----------------------------------------------------------------------------------

func runRelay(args []string) {
	fs := flag.NewFlagSet("relaylab relay", flag.ExitOnError)
	data := fs.Int64("max-circuit-bytes", 1<<17, "Limit.Data (bytes per direction)")
	dur := fs.Int("max-circuit-duration", 120, "Limit.Duration (seconds)")
	ttl := fs.Int("reservation-ttl", 3600, "ReservationTTL (seconds)")
	fs.Parse(args)

	h, err := libp2p.New(
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.UserAgent("mesh-relay-interop-go-relaylab"),
		libp2p.DisableRelay(),
	)
	if err != nil {
		fail(err.Error(), 1)
	}
	rc := relayv2.DefaultResources()
	rc.Limit = &relayv2.RelayLimit{Duration: time.Duration(*dur) * time.Second, Data: *data}
	rc.ReservationTTL = time.Duration(*ttl) * time.Second
	r, err := relayv2.New(h, relayv2.WithResources(rc),
		relayv2.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
	if err != nil {
		fail(err.Error(), 1)
	}
	emit("started", map[string]any{"peer_id": h.ID().String(), "impl": "go-relay"})
	for _, a := range h.Addrs() {
		emit("listen_addr", map[string]any{"addr": fmt.Sprintf("%s/p2p/%s", a, h.ID())})
	}
	<-terminated()
	r.Close()
	h.Close()
	os.Exit(0)
}

// ---- two-conn ---------------------------------------------------------------------------------

type side struct {
	name string
	h    host.Host
}

func newSide(name string, key crypto.PrivKey, addr ma.Multiaddr) (*side, error) {
	var tpt libp2p.Option
	if _, err := addr.ValueForProtocol(ma.P_QUIC_V1); err == nil {
		tpt = libp2p.Transport(quic.NewTransport)
	} else {
		tpt = libp2p.Transport(tcp.NewTCPTransport)
	}
	h, err := libp2p.New(libp2p.Identity(key), tpt, libp2p.NoListenAddrs, libp2p.EnableRelay(),
		libp2p.UserAgent("mesh-relay-interop-go-relaylab"))
	if err != nil {
		return nil, err
	}
	s := &side{name: name, h: h}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
				return
			}
			emit("incoming", map[string]any{"conn": name, "peer_id": c.RemotePeer().String(),
				"addr": c.RemoteMultiaddr().String()})
		},
	})
	return s, nil
}

func (s *side) reserve(ctx context.Context, ai peer.AddrInfo, renewal bool) bool {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := client.Reserve(rctx, s.h, ai)
	if err != nil {
		f := map[string]any{"conn": s.name, "error": err.Error()}
		var re client.ReservationError
		if ok := asReservationError(err, &re); ok {
			f["status"] = re.Status.String()
		}
		emit("reservation_failed", f)
		return false
	}
	f := map[string]any{"conn": s.name, "expire": r.Expiration.Unix(), "renewal": renewal,
		"voucher": r.Voucher != nil}
	if r.LimitDuration != 0 || r.LimitData != 0 {
		f["limit_duration"] = int64(r.LimitDuration / time.Second)
		f["limit_data"] = r.LimitData
	}
	emit("reserved", f)
	return true
}

func asReservationError(err error, out *client.ReservationError) bool {
	if re, ok := err.(client.ReservationError); ok {
		*out = re
		return true
	}
	return false
}

func runTwoConn(args []string) {
	fs := flag.NewFlagSet("relaylab two-conn", flag.ExitOnError)
	relayA := fs.String("relay-a", "", "the relay's address for host a (reserves first)")
	relayB := fs.String("relay-b", "", "the relay's address for host b (same identity)")
	steps := fs.String("steps", "", "comma-separated steps, one per SIGUSR1")
	fs.Parse(args)
	if *relayA == "" || *relayB == "" {
		fmt.Fprintln(os.Stderr, "relaylab two-conn: --relay-a and --relay-b are required")
		os.Exit(2)
	}
	aiA, err := peer.AddrInfoFromString(*relayA)
	if err != nil {
		fail("--relay-a: "+err.Error(), 2)
	}
	aiB, err := peer.AddrInfoFromString(*relayB)
	if err != nil {
		fail("--relay-b: "+err.Error(), 2)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		fail(err.Error(), 1)
	}
	a, err := newSide("a", key, aiA.Addrs[0])
	if err != nil {
		fail(err.Error(), 1)
	}
	b, err := newSide("b", key, aiB.Addrs[0])
	if err != nil {
		fail(err.Error(), 1)
	}
	emit("started", map[string]any{"peer_id": a.h.ID().String(), "impl": "go-relaylab"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term := terminated()
	usr := make(chan os.Signal, 4)
	signal.Notify(usr, syscall.SIGUSR1)

	for _, s := range []struct {
		sd *side
		ai *peer.AddrInfo
	}{{a, aiA}, {b, aiB}} {
		cctx, cc := context.WithTimeout(ctx, 10*time.Second)
		err := s.sd.h.Connect(cctx, *s.ai)
		cc()
		if err != nil {
			fail(fmt.Sprintf("conn %s: connect: %v", s.sd.name, err), 1)
		}
		emit("connected", map[string]any{"conn": s.sd.name, "addr": s.ai.Addrs[0].String()})
		if s.sd == a && !a.reserve(ctx, *aiA, false) {
			os.Exit(4)
		}
	}
	reserved := map[string]bool{"a": true}
	var todo []string
	if *steps != "" {
		todo = strings.Split(*steps, ",")
	}
	for {
		emit("ready", map[string]any{"next": strings.Join(todo, ",")})
		select {
		case <-term:
			a.h.Close()
			b.h.Close()
			os.Exit(0)
		case <-usr:
		}
		if len(todo) == 0 {
			continue
		}
		step := todo[0]
		todo = todo[1:]
		switch step {
		case "refresh-a", "refresh-b":
			sd, ai := a, aiA
			if step == "refresh-b" {
				sd, ai = b, aiB
			}
			ok := sd.reserve(ctx, *ai, reserved["a"] || reserved["b"])
			reserved[sd.name] = ok
		case "drop-a", "drop-b":
			sd := a
			if step == "drop-b" {
				sd = b
			}
			sd.h.Close()
			emit("closed", map[string]any{"conn": sd.name})
		default:
			fail("unknown step "+step, 2)
		}
		emit("step", map[string]any{"step": step})
	}
}
