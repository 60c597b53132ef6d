// k8scheck: checks deploy/kubernetes/ against the Kubernetes API types and the relay.
//
//	k8scheck [-q] [-relay BUILD/relay-server] [-containerfile PATH] DIR
//
// Every manifest of DIR is decoded strictly into the k8s.io/api types (manifests.go); then the
// objects are checked against each other and against the relay's configuration as each pod gets
// it (checks.go), and the real relay judges that configuration and answers the probes (relay.go).
// Prints one line per check and "k8scheck: N passed, N failed"; exits 1 when a check failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// result is one named check and its problems (none: passed).
type result struct {
	name     string
	problems []string
}

// runAll runs every check on |dir| with the relay binary |relay| and the image described by
// |containerfile| (when it exists).
func runAll(dir, relay, containerfile string) []result {
	var res []result
	b, problems := loadDir(dir)
	res = append(res, result{"decode", problems})
	if len(problems) > 0 {
		return res
	}
	img, err := readContainerfile(containerfile)
	if err != nil {
		return append(res, result{"image", []string{err.Error()}})
	}
	tmp, err := os.MkdirTemp("", "k8scheck-")
	if err != nil {
		return append(res, result{"relay", []string{err.Error()}})
	}
	defer os.RemoveAll(tmp)
	defaults, err := relayDefaults(relay, tmp)
	if err != nil {
		return append(res, result{"relay defaults", []string{err.Error()}})
	}
	m, problems := buildModel(b, img, defaults)
	res = append(res, result{"relay configuration per pod", problems})
	if m == nil {
		return res
	}
	for _, c := range checks {
		res = append(res, result{c.name, c.run(m)})
	}
	if err := relayKnowsOverrides(relay); err != nil {
		return append(res, result{"relay --check-config", []string{err.Error()}})
	}
	res = append(res, result{"relay --check-config", checkRelayConfig(m, relay, tmp)})
	res = append(res, result{"relay endpoints", checkRelayEndpoints(m, relay, tmp)})
	return res
}

func main() {
	relay := flag.String("relay", "", "the relay-server binary (default: $RLY_BUILD_DIR/relay-server)")
	quiet := flag.Bool("q", false, "print only failures and the summary")
	containerfile := flag.String("containerfile", "", "the image's Containerfile (default: DIR/../../Containerfile; the image's documented defaults when it does not exist)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: k8scheck [-q] [-relay PATH] [-containerfile PATH] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *relay == "" {
		*relay = os.Getenv("RLY_BUILD_DIR") + "/relay-server"
	}
	failed, passed := 0, 0
	if *containerfile == "" {
		*containerfile = filepath.Join(flag.Arg(0), "..", "..", "Containerfile")
	}
	for _, r := range runAll(flag.Arg(0), *relay, *containerfile) {
		if len(r.problems) == 0 {
			passed++
			if !*quiet {
				fmt.Printf("ok    %s\n", r.name)
			}
			continue
		}
		failed++
		fmt.Printf("FAIL  %s\n", r.name)
		for _, p := range r.problems {
			fmt.Printf("      %s\n", strings.ReplaceAll(p, "\n", "\n      "))
		}
	}
	fmt.Printf("k8scheck: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
