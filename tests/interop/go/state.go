package main

// state.go: what the peer learns from go-libp2p's notifications: connections opened and closed
// (network.Notifiee), identify results (event.EvtPeerIdentificationCompleted), hole punch
// outcomes (holepunch.EventTracer).

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
)

type connInfo struct {
	opened time.Time
	closed chan struct{}
}

type state struct {
	o options
	h host.Host

	mu         sync.Mutex
	conns      map[network.Conn]*connInfo
	identified map[network.Conn]event.EvtPeerIdentificationCompleted
	idSignal   chan struct{} // closed and replaced on every identify event
	direct     map[peer.ID]chan network.Conn
	held       map[network.Conn]bool // the --hold logic reports these itself
	quiet      bool                  // shutting down: no more closed events
}

func newState(o options) *state {
	return &state{
		o:          o,
		conns:      map[network.Conn]*connInfo{},
		identified: map[network.Conn]event.EvtPeerIdentificationCompleted{},
		idSignal:   make(chan struct{}),
		direct:     map[peer.ID]chan network.Conn{},
		held:       map[network.Conn]bool{},
	}
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// limits returns the relay's limit of a relayed connection (go marks such a connection Limited
// and keeps the values in ConnStats.Extra, p2p/protocol/circuitv2/client/dial.go and
// handlers.go); nil values (no Limit sent) are left out of the events.
func limits(c network.Conn) (any, any) {
	st := c.Stat()
	if !st.Limited || st.Extra == nil {
		return nil, nil
	}
	var dur, data any
	if d, ok := st.Extra[client.StatLimitDuration].(time.Duration); ok {
		dur = int64(d / time.Second)
	}
	if n, ok := st.Extra[client.StatLimitData].(uint64); ok {
		data = n
	}
	return dur, data
}

func (s *state) attach(h host.Host) {
	s.h = h
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		logf("identify subscription: %v", err)
	} else {
		go func() {
			for e := range sub.Out() {
				ev := e.(event.EvtPeerIdentificationCompleted)
				s.mu.Lock()
				s.identified[ev.Conn] = ev
				close(s.idSignal)
				s.idSignal = make(chan struct{})
				s.mu.Unlock()
			}
		}()
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    s.connected,
		DisconnectedF: s.disconnected,
	})
}

func (s *state) connected(_ network.Network, c network.Conn) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		s.mu.Unlock()
		return
	}
	s.conns[c] = &connInfo{opened: time.Now(), closed: make(chan struct{})}
	relayed := isRelayed(c.RemoteMultiaddr())
	var hadRelayed bool
	for other := range s.conns {
		if other != c && other.RemotePeer() == c.RemotePeer() && isRelayed(other.RemoteMultiaddr()) {
			hadRelayed = true
		}
	}
	directCh := s.direct[c.RemotePeer()]
	s.mu.Unlock()

	rp := c.RemotePeer().String()
	emit("connected", map[string]any{"peer_id": rp, "addr": c.RemoteMultiaddr().String(), "relayed": relayed})
	if relayed && c.Stat().Direction == network.DirInbound {
		dur, data := limits(c)
		emit("incoming", map[string]any{"peer_id": rp, "addr": c.RemoteMultiaddr().String(),
			"limit_duration": dur, "limit_data": data})
	}
	if !relayed && hadRelayed && s.o.holepunch {
		emit("direct", map[string]any{"peer_id": rp, "addr": c.RemoteMultiaddr().String()})
		if directCh != nil {
			select {
			case directCh <- c:
			default:
			}
		}
	}
}

func (s *state) disconnected(_ network.Network, c network.Conn) {
	s.mu.Lock()
	ci := s.conns[c]
	delete(s.conns, c)
	delete(s.identified, c)
	quiet := s.quiet || s.held[c]
	s.mu.Unlock()
	if ci == nil {
		return
	}
	defer close(ci.closed)
	if quiet {
		return
	}
	fields := map[string]any{
		"peer_id":  c.RemotePeer().String(),
		"relayed":  isRelayed(c.RemoteMultiaddr()),
		"after_ms": time.Since(ci.opened).Milliseconds(),
		"addr":     c.RemoteMultiaddr().String(),
	}
	emit("closed", fields)
}

// closedChan returns a channel closed when c is reported disconnected (nil if c is unknown).
func (s *state) closedChan(c network.Conn) (chan struct{}, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ci := s.conns[c]; ci != nil {
		return ci.closed, ci.opened
	}
	return nil, time.Time{}
}

// hold marks c as reported by the --hold logic (its closed event carries the reason).
func (s *state) hold(c network.Conn) {
	s.mu.Lock()
	s.held[c] = true
	s.mu.Unlock()
}

// shutdown silences the closed events of our own h.Close().
func (s *state) shutdown() {
	s.mu.Lock()
	s.quiet = true
	s.mu.Unlock()
}

// watchDirect returns a channel that receives the first direct connection to p that arrives
// while a relayed one exists.
func (s *state) watchDirect(p peer.ID) chan network.Conn {
	ch := make(chan network.Conn, 1)
	s.mu.Lock()
	s.direct[p] = ch
	s.mu.Unlock()
	return ch
}

// identifyResult waits (bounded by done) for the identify event of connection c.
func (s *state) identifyResult(c network.Conn, done <-chan struct{}) (event.EvtPeerIdentificationCompleted, bool) {
	for {
		s.mu.Lock()
		ev, ok := s.identified[c]
		sig := s.idSignal
		s.mu.Unlock()
		if ok {
			return ev, true
		}
		select {
		case <-sig:
		case <-done:
			return ev, false
		}
	}
}

// Trace implements holepunch.EventTracer: failed hole punches and protocol errors become
// holepunch_failed; the rest goes to stderr.
func (s *state) Trace(evt *holepunch.Event) {
	switch e := evt.Evt.(type) {
	case *holepunch.EndHolePunchEvt:
		if !e.Success {
			emit("holepunch_failed", map[string]any{"peer_id": evt.Remote.String(), "error": e.Error})
		} else {
			logf("holepunch with %s succeeded after %v", evt.Remote, e.EllapsedTime)
		}
	case *holepunch.ProtocolErrorEvt:
		emit("holepunch_failed", map[string]any{"peer_id": evt.Remote.String(), "error": e.Error})
	case *holepunch.DirectDialEvt:
		logf("holepunch direct dial to %s: success=%v %s", evt.Remote, e.Success, e.Error)
	case *holepunch.StartHolePunchEvt:
		logf("holepunch with %s starting: their addrs %v, rtt %v", evt.Remote, e.RemoteAddrs, e.RTT)
	default:
		logf("holepunch %s %s: %s", evt.Type, evt.Remote, fmt.Sprint(evt.Evt))
	}
}
