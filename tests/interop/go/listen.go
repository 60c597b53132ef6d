package main

// listen.go: listening through the relay. go-libp2p's client.Reserve is one RESERVE exchange;
// refreshing before expiry and getting the reservation back after losing it are the
// application's business (autorelay does it for relays it finds itself; a static relay given on
// the command line is what we have here), so this peer does both itself.

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

const (
	connectTimeout = 10 * time.Second
	retryInterval  = time.Second
)

// refreshDelay: refresh at expire minus max(ttl/3, 2 s), and not sooner than 1 s from now.
func refreshDelay(now, expire time.Time) time.Duration {
	ttl := expire.Sub(now)
	margin := ttl / 3
	if margin < 2*time.Second {
		margin = 2 * time.Second
	}
	d := ttl - margin
	if d < time.Second {
		d = time.Second
	}
	return d
}

func emitReserved(relay string, r *client.Reservation, renewal bool) {
	addrs := make([]string, 0, len(r.Addrs))
	for _, a := range r.Addrs {
		addrs = append(addrs, a.String())
	}
	fields := map[string]any{
		"relay":   relay,
		"addrs":   addrs,
		"expire":  r.Expiration.Unix(),
		"renewal": renewal,
		// client.Reserve verified the voucher when the relay sent one (signature over the
		// envelope, signer == voucher relay, voucher peer == us) and refused the reservation
		// otherwise; true means one was sent and accepted.
		"voucher": r.Voucher != nil,
	}
	// The limit is optional in the protocol; go leaves both fields zero when none was sent.
	if r.LimitDuration != 0 || r.LimitData != 0 {
		fields["limit_duration"] = int64(r.LimitDuration / time.Second)
		fields["limit_data"] = r.LimitData
	}
	emit("reserved", fields)
}

// reserve makes one RESERVE and reports a failure; it returns the exit code the failure maps to.
func reserve(ctx context.Context, h host.Host, ai peer.AddrInfo) (*client.Reservation, int) {
	r, err := client.Reserve(ctx, h, ai)
	if err == nil {
		return r, exitOK
	}
	status, refused := reservationStatus(err)
	emit("reservation_failed", map[string]any{"error": err.Error(), "status": optStr(status)})
	if refused {
		return nil, exitRefused
	}
	return nil, exitFail
}

func connectRelay(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	err := h.Connect(cctx, ai)
	if err != nil {
		emit("dial_failed", map[string]any{"error": err.Error()})
	}
	return err
}

func runListen(ctx context.Context, h host.Host, st *state, o options) int {
	ai, err := parseAddrInfo(o.relay)
	if err != nil {
		usage(fmt.Sprintf("--relay %s: %v", o.relay, err))
	}
	h.ConnManager().Protect(ai.ID, "mesh-relay")
	serveProtocols(h)

	sub, err := h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		emit("error", map[string]any{"error": err.Error()})
		return exitFail
	}
	defer sub.Close()
	relayGone := make(chan struct{}, 1)
	go func() {
		for e := range sub.Out() {
			ev := e.(event.EvtPeerConnectednessChanged)
			if ev.Peer == ai.ID && ev.Connectedness == network.NotConnected {
				select {
				case relayGone <- struct{}{}:
				default:
				}
			}
		}
	}()

	listening := false
	renewal := false // the next RESERVE refreshes a reservation we hold
	for {
		if ctx.Err() != nil {
			return exitOK
		}
		if h.Network().Connectedness(ai.ID) != network.Connected {
			renewal = false
			// drain a stale "gone" from an earlier connection
			select {
			case <-relayGone:
			default:
			}
			// go's swarm backs off from a peer after a failed dial (5 s and more); a retry
			// every second means dialling again, so the backoff is cleared first.
			if sw, ok := h.Network().(*swarm.Swarm); ok {
				sw.Backoff().Clear(ai.ID)
			}
			if err := connectRelay(ctx, h, *ai); err != nil {
				if ctx.Err() != nil {
					return exitOK
				}
				if !o.reconnect || o.reserveOnly {
					return exitFail
				}
				sleepCtx(ctx, retryInterval)
				continue
			}
			if o.authToken != "" {
				authenticate(ctx, h, ai.ID, o.authToken) // a refusal shows in the RESERVE's answer
			}
		}
		r, code := reserve(ctx, h, *ai)
		if r == nil {
			if ctx.Err() != nil {
				return exitOK
			}
			if !o.reconnect || o.reserveOnly {
				return code
			}
			renewal = false
			sleepCtx(ctx, retryInterval)
			continue
		}
		if !renewal || o.refreshLog {
			emitReserved(o.relay, r, renewal)
		}
		if o.reserveOnly {
			return exitOK
		}
		if !listening {
			listening = true
			if o.holepunch {
				waitHolePunchReady(ctx, h)
			}
			emit("listening", map[string]any{"addr": fmt.Sprintf("%s/p2p-circuit/p2p/%s", o.relay, h.ID())})
		}
		renewal = true

		t := time.NewTimer(refreshDelay(time.Now(), r.Expiration))
		select {
		case <-ctx.Done():
			t.Stop()
			return exitOK
		case <-t.C:
		case <-relayGone:
			t.Stop()
			if h.Network().Connectedness(ai.ID) == network.Connected {
				continue // another connection to the relay is still there
			}
			if !o.reconnect {
				emit("error", map[string]any{"error": "the relay connection closed; reservation lost"})
				return exitFail
			}
			logf("relay connection closed; reconnecting every %v", retryInterval)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
