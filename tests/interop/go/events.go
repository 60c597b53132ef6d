package main

// events.go: the JSON event lines of tests/interop/PEERS.md (one object per line on stdout) and
// the mapping of go-libp2p errors onto the relay's status names and the exit codes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"

	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2
	exitTimeout = 3
	exitRefused = 4
)

var outMu sync.Mutex

// emit prints one event. Field order is not significant; nil values are left out so that a field
// the library does not expose never appears.
func emit(event string, fields map[string]any) {
	obj := map[string]any{"event": event}
	for k, v := range fields {
		if v != nil {
			obj[k] = v
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"error","error":%q}`, err.Error()))
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

// logf writes a diagnostic line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go-peer: "+format+"\n", args...)
}

// exit prints nothing more and leaves with code; stdout is unbuffered (os.Stdout.Write).
func exit(code int) {
	os.Exit(code)
}

// circuitStatusRe matches the text of the circuit client's refusal
// (p2p/protocol/circuitv2/client/dial.go: "error opening relay circuit: %s (%d)"), which reaches
// us wrapped in the swarm's dial error; the error type itself (relayError) is unexported.
var circuitStatusRe = regexp.MustCompile(`error opening relay circuit: ([A-Z_]+) \((\d+)\)`)

// reservationStatus returns the relay's status name when err is a ReservationError carrying a
// status that the relay sent (go sets Reason "reservation failed" exactly then; for local
// failures it fills Status itself, CONNECTION_FAILED or MALFORMED_MESSAGE, which is no relay's
// answer).
func reservationStatus(err error) (string, bool) {
	var re client.ReservationError
	if errors.As(err, &re) && re.Reason == "reservation failed" {
		return pbv2.Status_name[int32(re.Status)], true
	}
	return "", false
}

// circuitStatus returns the status name of a refused CONNECT, found in the dial error's text.
func circuitStatus(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	m := circuitStatusRe.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	return m[1], true
}

// optStr returns nil for "" so that emit leaves the field out.
func optStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
