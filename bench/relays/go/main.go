// go-relay: the go-libp2p Circuit Relay v2 server `make bench` compares our relay with
// (bench/relays/README.md says how it is configured and why).
//
//	go-relay [--listen MULTIADDR]...
//
// A go-libp2p host (TCP and QUIC v1 only; go's default security set, TLS 1.3 and Noise, and
// muxer, Yamux; identify and ping as a default host has them) running go's circuit v2 relay
// service (p2p/protocol/circuitv2/relay) with every limit that would cap a benchmark lifted:
// no per-circuit data or duration limit, reservation and circuit counts far above what a
// benchmark opens, no resource manager limits, and a connection manager that never trims.
// Listens on 127.0.0.1 TCP and QUIC port 0 unless --listen is given.
//
// Prints "Listening on: <multiaddr>/p2p/<id>" once per listen address on stdout, then runs until
// SIGTERM or SIGINT and exits 0. Logs only errors, on stderr (GOLOG_LOG_LEVEL: more).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/gologshim"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Far above anything the benchmark opens (it holds at most tens of thousands of connections).
const lots = 1 << 30

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var listen listFlag
	flag.Var(&listen, "listen", "listen multiaddr (repeatable; default 127.0.0.1 TCP and QUIC v1, port 0)")
	flag.Parse()
	if len(listen) == 0 {
		listen = listFlag{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}

	// Quiet: errors only, on stderr (go-libp2p logs through this handler from its first log on),
	// unless GOLOG_LOG_LEVEL asks for more (go-libp2p's own handler then reads it).
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		gologshim.SetDefaultHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}

	h, err := libp2p.New(
		// Only the two transports the benchmark uses (the default set adds WebSocket,
		// WebTransport and WebRTC). Security, muxers, identify, ping: go's defaults.
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ListenAddrStrings(listen...),
		// The default resource manager caps connections and streams by memory; the default
		// connection manager trims to 160 connections once 192 are open.
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
		// This host serves the relay; it is no relay client (no circuit transport).
		libp2p.DisableRelay(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-relay:", err)
		os.Exit(1)
	}

	rc := relayv2.DefaultResources() // ReservationTTL 1 h, BufferSize 2048: go's defaults
	rc.Limit = nil                   // no per-circuit data or duration limit
	rc.MaxReservations = lots
	rc.MaxCircuits = lots
	rc.MaxReservationsPerPeer = lots
	rc.MaxReservationsPerIP = lots
	rc.MaxReservationsPerASN = lots
	r, err := relayv2.New(h, relayv2.WithResources(rc),
		// Reservations list the relay's addresses as ours do (go's default keeps public ones only,
		// none on loopback).
		relayv2.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-relay:", err)
		os.Exit(1)
	}

	for _, a := range h.Network().ListenAddresses() {
		fmt.Printf("Listening on: %s/p2p/%s\n", a, h.ID())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	done := make(chan struct{})
	go func() {
		r.Close()
		h.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "go-relay: closing took over 10 s; exiting")
	}
	os.Exit(0)
}
