package main

// auth.go: --auth-token, the exchange of docs/AUTH.md on the relay connection: protocol
// /meshnet/relay-auth/1.0.0, one uvarint-length-prefixed AuthRequest{bytes token = 1} written,
// one length-prefixed AuthResponse{uint32 status = 1; string text = 2} read. Two fields each way,
// so they are encoded here by hand.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
)

const (
	authProto    protocol.ID = "/meshnet/relay-auth/1.0.0"
	authTimeout              = 10 * time.Second
	authMaxReply             = 4096
	authStatusOK             = 100
)

// authenticate runs one exchange with p on the open connection and prints authenticated or
// auth_failed. A failure is reported, not fatal: the relay then refuses RESERVE and CONNECT.
func authenticate(ctx context.Context, h host.Host, p peer.ID, token string) bool {
	status, text, err := authExchange(ctx, h, p, token)
	fields := map[string]any{"peer_id": p.String()}
	if err == nil {
		name := pbv2.Status_name[int32(status)]
		if name == "" {
			name = fmt.Sprint(status)
		}
		fields["status"] = name
		fields["code"] = status
		fields["text"] = text
		if status == authStatusOK {
			emit("authenticated", fields)
			return true
		}
		err = fmt.Errorf("the relay refused the token: %s (%d): %s", name, status, text)
	}
	fields["error"] = err.Error()
	emit("auth_failed", fields)
	return false
}

func authExchange(ctx context.Context, h host.Host, p peer.ID, token string) (uint32, string, error) {
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	s, err := h.NewStream(network.WithNoDial(ctx, "authenticate on the open connection"), p, authProto)
	if err != nil {
		return 0, "", fmt.Errorf("open %s: %w", authProto, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	msg := append([]byte{1<<3 | 2}, binary.AppendUvarint(nil, uint64(len(token)))...)
	msg = append(msg, token...)
	frame := append(binary.AppendUvarint(nil, uint64(len(msg))), msg...)
	if _, err := s.Write(frame); err != nil {
		s.Reset()
		return 0, "", fmt.Errorf("write the request: %w", err)
	}
	r := bufio.NewReader(s)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		s.Reset()
		return 0, "", fmt.Errorf("read the reply's length: %w", err)
	}
	if n > authMaxReply {
		s.Reset()
		return 0, "", fmt.Errorf("reply of %d bytes (at most %d)", n, authMaxReply)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		s.Reset()
		return 0, "", fmt.Errorf("read the reply: %w", err)
	}
	return parseAuthResponse(body)
}

// parseAuthResponse decodes AuthResponse, skipping fields it does not know.
func parseAuthResponse(b []byte) (status uint32, text string, err error) {
	bad := errors.New("malformed AuthResponse")
	seen := false
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, "", bad
		}
		b = b[k:]
		switch field, wire := key>>3, key&7; wire {
		case 0:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return 0, "", bad
			}
			b = b[k:]
			if field == 1 {
				status, seen = uint32(v), true
			}
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return 0, "", bad
			}
			if field == 2 {
				text = string(b[k : k+int(l)])
			}
			b = b[k+int(l):]
		case 1, 5:
			w := map[uint64]int{1: 8, 5: 4}[wire]
			if len(b) < w {
				return 0, "", bad
			}
			b = b[w:]
		default:
			return 0, "", bad
		}
	}
	if !seen {
		return 0, text, errors.New("AuthResponse without a status")
	}
	return status, text, nil
}
