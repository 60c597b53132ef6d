package main

// dial.go: --dial PEER_ID through the relay, or --dial MULTIADDR directly; then the steps.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

// dialFailed reports a failed dial and returns the exit code: 4 when the relay refused the
// circuit with a status, 1 otherwise.
func dialFailed(err error) int {
	status, refused := circuitStatus(err)
	emit("dial_failed", map[string]any{"error": err.Error(), "status": optStr(status)})
	if refused {
		return exitRefused
	}
	return exitFail
}

// connTo returns an open connection to p, relayed or not as asked.
func connTo(h host.Host, p peer.ID, relayed bool) network.Conn {
	for _, c := range h.Network().ConnsToPeer(p) {
		if isRelayed(c.RemoteMultiaddr()) == relayed && !c.IsClosed() {
			return c
		}
	}
	return nil
}

func runDial(ctx context.Context, h host.Host, st *state, o options) int {
	serveProtocols(h)
	var target peer.ID
	var conn network.Conn
	if strings.HasPrefix(o.dial, "/") {
		ai, err := parseAddrInfo(o.dial)
		if err != nil {
			usage(fmt.Sprintf("--dial %s: %v", o.dial, err))
		}
		target = ai.ID
		if err := h.Connect(ctx, *ai); err != nil {
			return dialFailed(err)
		}
		if conn = connTo(h, target, false); conn == nil {
			emit("error", map[string]any{"error": "connected, but no direct connection is open"})
			return exitFail
		}
	} else {
		rai, err := parseAddrInfo(o.relay)
		if err != nil {
			usage(fmt.Sprintf("--relay %s: %v", o.relay, err))
		}
		target, err = peer.Decode(o.dial)
		if err != nil {
			usage(fmt.Sprintf("--dial %s: %v", o.dial, err))
		}
		h.ConnManager().Protect(rai.ID, "mesh-relay")
		var directCh chan network.Conn
		if o.holepunch {
			directCh = st.watchDirect(target)
		}
		if err := h.Connect(ctx, *rai); err != nil {
			return dialFailed(err)
		}
		if o.authToken != "" {
			authenticate(ctx, h, rai.ID, o.authToken) // a refusal shows in the CONNECT's answer
		}
		if o.holepunch {
			waitHolePunchReady(ctx, h)
		}
		circuit, err := ma.NewMultiaddr(o.relay + "/p2p-circuit")
		if err != nil {
			usage(err.Error())
		}
		h.Peerstore().AddAddr(target, circuit, peerstore.TempAddrTTL)
		cctx := network.WithAllowLimitedConn(ctx, "mesh-relay interop")
		if err := h.Connect(cctx, peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{circuit}}); err != nil {
			return dialFailed(err)
		}
		conn = connTo(h, target, true)
		if conn == nil {
			emit("error", map[string]any{"error": "connected, but no relayed connection is open"})
			return exitFail
		}
		dur, data := limits(conn)
		emit("circuit", map[string]any{"peer_id": target.String(), "addr": conn.RemoteMultiaddr().String(),
			"limit_duration": dur, "limit_data": data})
		if o.holepunch {
			t := time.NewTimer(time.Duration(o.directTimeout) * time.Second)
			select {
			case c := <-directCh:
				t.Stop()
				conn = c // the direct event was printed when it arrived (state.connected)
				requireDirect = true
			case <-t.C:
				msg := fmt.Sprintf("no direct connection within %d s", o.directTimeout)
				if !holePunchReady(h) {
					// holepunch/svc.go waitForPublicAddr: the service starts (stream handler,
					// hole puncher) only once HolePunchAddrs, which keeps public addresses
					// only (manet.IsPublicAddr), is not empty; until then nothing is traced.
					msg += " (go-libp2p's hole punching never started: it waits for a public address of this host, from the relay's identify or --announce-addr, and none came)"
				}
				emit("error", map[string]any{"error": msg})
				return exitFail
			case <-ctx.Done():
				return exitFail
			}
		}
	}
	if err := runSteps(ctx, h, st, o, target, conn); err != nil {
		emit("error", map[string]any{"error": err.Error()})
		return exitFail
	}
	return exitOK
}

// requireDirect: with --holepunch the steps must run on the direct connection; streams opened on
// a relayed one are a failure (go's swarm prefers unlimited, direct connections, swarm.go
// isBetterConn, so this should not happen).
var requireDirect bool

func checkConn(s network.Stream) error {
	if requireDirect && isRelayed(s.Conn().RemoteMultiaddr()) {
		return fmt.Errorf("stream opened on the relayed connection %s, not the direct one", s.Conn().RemoteMultiaddr())
	}
	return nil
}

func runSteps(ctx context.Context, h host.Host, st *state, o options, target peer.ID, conn network.Conn) error {
	if o.ping > 0 {
		if err := runPing(ctx, h, target, o.ping); err != nil {
			return err
		}
	}
	if o.identify {
		if err := runIdentify(ctx, h, st, conn); err != nil {
			return err
		}
	}
	if o.echoBytes > 0 {
		if err := runEcho(ctx, h, target, o.echoBytes); err != nil {
			return err
		}
	}
	if o.send > 0 {
		if err := runSend(ctx, h, target, o.send); err != nil {
			return err
		}
	}
	if o.hold {
		return runHold(ctx, h, st, target, conn)
	}
	return nil
}

func runPing(ctx context.Context, h host.Host, target peer.ID, n int) error {
	pctx, cancel := context.WithCancel(network.WithNoDial(ctx, "ping on the open connection"))
	defer cancel()
	// ping.Ping opens its stream with network.WithAllowLimitedConn (p2p/protocol/ping/ping.go).
	results := ping.Ping(pctx, h, target)
	for i := 0; i < n; i++ {
		r, ok := <-results
		if !ok {
			return errors.New("ping: results channel closed")
		}
		if r.Error != nil {
			return fmt.Errorf("ping %d: %w", i+1, r.Error)
		}
		emit("ping", map[string]any{"rtt_ms": float64(r.RTT.Microseconds()) / 1000})
	}
	return nil
}

func runIdentify(ctx context.Context, h host.Host, st *state, conn network.Conn) error {
	ider, ok := h.(interface{ IDService() identify.IDService })
	if !ok {
		return errors.New("identify: the host has no identify service")
	}
	select {
	case <-ider.IDService().IdentifyWait(conn):
	case <-ctx.Done():
		return ctx.Err()
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, ok := st.identifyResult(conn, wait.Done())
	if !ok {
		return errors.New("identify: no identification result for the connection (identify failed?)")
	}
	protos := make([]string, 0, len(ev.Protocols))
	for _, p := range ev.Protocols {
		protos = append(protos, string(p))
	}
	addrs := make([]string, 0, len(ev.ListenAddrs))
	for _, a := range ev.ListenAddrs {
		addrs = append(addrs, a.String())
	}
	logf("identify: this connection is %s -> %s", conn.LocalMultiaddr(), conn.RemoteMultiaddr())
	var observed any
	if ev.ObservedAddr != nil {
		observed = ev.ObservedAddr.String()
	}
	emit("identify", map[string]any{
		"peer_id":          ev.Peer.String(),
		"agent":            ev.AgentVersion,
		"protocol_version": ev.ProtocolVersion,
		"protocols":        protos,
		"listen_addrs":     addrs,
		"observed_addr":    observed,
		// identify.go consumeMessage: the envelope's signature was checked (record.ConsumeEnvelope)
		// and the record's peer matched the connection's peer, else it is nil. go-libp2p v0.52 does
		// not store it in the certified address book ("Don't put the signed peer record into the
		// peer store"), so the event is where acceptance shows.
		"signed_peer_record": ev.SignedPeerRecord != nil,
	})
	return nil
}

// runHold keeps conn until it closes and prints closed with the library's reason: go's swarm
// does not keep the reason a connection ended, so a stream is held open on it (echo, nothing
// written) and the error its read ends with is the reason. A peer without echo (the relay) gives
// no stream and then no reason.
func runHold(ctx context.Context, h host.Host, st *state, target peer.ID, conn network.Conn) error {
	st.hold(conn)
	closed, opened := st.closedChan(conn)
	if closed == nil {
		return errors.New("hold: the connection is already closed")
	}
	reason := make(chan string, 1)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := openStream(hctx, h, target, echoProto)
	cancel()
	switch {
	case err != nil:
		logf("hold: no echo stream to hold (no reason will be known): %v", err)
	case s.Conn() != conn:
		logf("hold: the echo stream is on another connection (%s); no reason will be known", s.Conn().RemoteMultiaddr())
		s.Close()
	default:
		go func() {
			// Nothing is written; the read ends when the connection does (a lazy multistream
			// stream sends its header on the first read).
			_, err := io.Copy(io.Discard, s)
			if err == nil {
				err = io.EOF
			}
			reason <- err.Error()
		}()
	}
	select {
	case <-closed:
	case <-ctx.Done():
		return nil // SIGTERM or SIGINT ends a hold: exit 0, as a listener does
	}
	fields := map[string]any{
		"peer_id":  target.String(),
		"relayed":  isRelayed(conn.RemoteMultiaddr()),
		"addr":     conn.RemoteMultiaddr().String(),
		"after_ms": time.Since(opened).Milliseconds(),
	}
	select {
	case r := <-reason:
		fields["reason"] = r
	case <-time.After(2 * time.Second):
	}
	emit("closed", fields)
	return nil
}

// holePunchReady: go-libp2p's hole punching service registers /libp2p/dcutr only once the host
// has a public address (holepunch/svc.go waitForPublicAddr, polled every 250 ms for 5 s after
// start): until then a relayed connection gets no hole punch, from either side.
func holePunchReady(h host.Host) bool {
	for _, p := range h.Mux().Protocols() {
		if p == holepunch.Protocol {
			return true
		}
	}
	return false
}

// waitHolePunchReady waits (10 s at most) for holePunchReady, as a long-running node has long
// passed that point when a peer dials it; the relay's identify brings the observed address.
func waitHolePunchReady(ctx context.Context, h host.Host) {
	for i := 0; i < 100 && !holePunchReady(h); i++ {
		sleepCtx(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return
		}
	}
	if !holePunchReady(h) {
		logf("hole punching is not ready after 10 s (no public address of this host yet)")
	}
}
