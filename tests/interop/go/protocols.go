package main

// protocols.go: /mesh-relay/echo/1.0.0 and /mesh-relay/sink/1.0.0, both sides.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const (
	echoProto protocol.ID = "/mesh-relay/echo/1.0.0"
	sinkProto protocol.ID = "/mesh-relay/sink/1.0.0"
)

// serveProtocols registers the echo and sink handlers. Stream handlers in go-libp2p run on
// limited (relayed) connections too: the limited-connection check is made when a stream is
// opened (swarm_conn.go NewStream), not when one is accepted.
func serveProtocols(h host.Host) {
	h.SetStreamHandler(echoProto, handleEcho)
	h.SetStreamHandler(sinkProto, handleSink)
}

// handleEcho writes back everything read, and half-closes after the peer's half-close.
func handleEcho(s network.Stream) {
	if _, err := io.Copy(s, s); err != nil {
		logf("echo from %s: %v", s.Conn().RemotePeer(), err)
		s.Reset()
		return
	}
	s.CloseWrite()
	s.Close()
}

// handleSink reads until the peer's half-close, then writes the 8-byte big-endian count.
func handleSink(s network.Stream) {
	n, err := io.Copy(io.Discard, s)
	if err != nil {
		logf("sink from %s: %v after %d bytes", s.Conn().RemotePeer(), err, n)
		s.Reset()
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	if _, err := s.Write(b[:]); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// openStream opens a stream to p on the best connection, relayed (limited) ones allowed, no new
// dial. It returns the stream; the caller checks which connection it is on.
func openStream(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID) (network.Stream, error) {
	ctx = network.WithAllowLimitedConn(ctx, "mesh-relay interop")
	ctx = network.WithNoDial(ctx, "steps run on the open connection")
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, err
	}
	if err := checkConn(s); err != nil {
		s.Reset()
		return nil, err
	}
	return s, nil
}

// runEcho sends n pseudo-random bytes, half-closes, reads all back and compares.
func runEcho(ctx context.Context, h host.Host, p peer.ID, n int) error {
	s, err := openStream(ctx, h, p, echoProto)
	if err != nil {
		return fmt.Errorf("open echo stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	data := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(time.Now().UnixNano())})
	rng.Read(data)

	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(s)
	if err := <-werr; err != nil {
		s.Reset()
		emit("echo", map[string]any{"bytes": len(got), "ok": false})
		return fmt.Errorf("echo write: %w", err)
	}
	if rerr != nil {
		s.Reset()
		emit("echo", map[string]any{"bytes": len(got), "ok": false})
		return fmt.Errorf("echo read after %d bytes: %w", len(got), rerr)
	}
	ok := bytes.Equal(got, data)
	emit("echo", map[string]any{"bytes": len(got), "ok": ok})
	if !ok {
		return fmt.Errorf("echo: sent %d bytes, got %d bytes back, not equal", n, len(got))
	}
	return nil
}

// runSend pushes n bytes on the sink, half-closes, reads the 8-byte count and compares.
func runSend(ctx context.Context, h host.Host, p peer.ID, n int64) error {
	s, err := openStream(ctx, h, p, sinkProto)
	if err != nil {
		return fmt.Errorf("open sink stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	buf := make([]byte, 64*1024)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var sent int64
	for sent < n {
		chunk := buf
		if rem := n - sent; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		w, err := s.Write(chunk)
		sent += int64(w)
		if err != nil {
			s.Reset()
			emit("sent", map[string]any{"bytes": sent, "ok": false})
			return fmt.Errorf("sink write after %d bytes: %w", sent, err)
		}
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		emit("sent", map[string]any{"bytes": sent, "ok": false})
		return fmt.Errorf("sink half-close: %w", err)
	}
	var b [8]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		s.Reset()
		emit("sent", map[string]any{"bytes": sent, "ok": false})
		return fmt.Errorf("sink count: %w", err)
	}
	count := binary.BigEndian.Uint64(b[:])
	ok := count == uint64(n)
	emit("sent", map[string]any{"bytes": sent, "count": count, "ok": ok})
	if !ok {
		return errors.New(fmt.Sprintf("sink counted %d bytes, sent %d", count, n))
	}
	return nil
}
