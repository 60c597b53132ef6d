package main

// relay.go: the real relay-server judges what the manifests give it. For every pod: the
// ConfigMap's file, the container's environment (a Secret's value replaced by a dummy token of 32
// bytes and more) and its arguments, through `relay-server --check-config`. Then pod 0's relay
// runs, its listeners moved to loopback (a --set after the manifest's), and answers the probes'
// paths with 200 and /addrs with the addresses it announces, as a control plane reads them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// relayKnowsOverrides: the relay takes --set and MESH_RELAY_* (its --help names --set).
func relayKnowsOverrides(relay string) error {
	out, err := exec.Command(relay, "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --help: %v", relay, err)
	}
	if !strings.Contains(string(out), "--set") {
		return fmt.Errorf("%s does not know --set (nor, then, MESH_RELAY_* variables), which "+
			"the StatefulSet uses for each pod's external_addrs and the auth token: build the "+
			"relay from a tree that has them", relay)
	}
	return nil
}

// podCommand is the relay's command line and environment in pod |p|, with the configuration
// file at |conf| and HOME at |home|, and |extra| arguments after the manifest's.
func podCommand(ctx context.Context, m *model, p relayPod, relay, conf, home string, extra ...string) *exec.Cmd {
	args := []string{"--config", conf}
	for _, kv := range m.args.sets {
		args = append(args, "--set", expand(kv, p.env.lookup))
	}
	args = append(args, m.args.rest...)
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, relay, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, serviceLinks(m)...)
	for _, n := range p.env.names {
		v := p.env.vals[n]
		if n == "HOME" {
			v = home
		}
		cmd.Env = append(cmd.Env, n+"="+v)
	}
	if _, ok := p.env.vals["HOME"]; !ok {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	return cmd
}

// serviceLinks is what the kubelet puts first into a container's environment unless the pod
// sets enableServiceLinks: false: two of the variables of each Service with a cluster IP.
func serviceLinks(m *model) []string {
	if l := m.spec().EnableServiceLinks; l != nil && !*l {
		return nil
	}
	var out []string
	for _, s := range m.b.services {
		if s.obj.Spec.ClusterIP == corev1.ClusterIPNone || len(s.obj.Spec.Ports) == 0 {
			continue
		}
		n := strings.ToUpper(strings.ReplaceAll(s.obj.Name, "-", "_"))
		sp := s.obj.Spec.Ports[0]
		out = append(out, n+"_SERVICE_HOST=10.96.0.10", fmt.Sprintf("%s_PORT=%s://10.96.0.10:%d", n, strings.ToLower(string(protoOf(sp.Protocol))), sp.Port))
	}
	return out
}

// writePodFiles writes the ConfigMap's file for pod |p| and makes its HOME.
func writePodFiles(m *model, p relayPod, tmp string) (conf, home string, err error) {
	dir := filepath.Join(tmp, p.name)
	home = filepath.Join(dir, "home")
	if err = os.MkdirAll(home, 0o700); err != nil {
		return
	}
	conf = filepath.Join(dir, m.fileName)
	err = os.WriteFile(conf, []byte(m.fileText), 0o600)
	return
}

func checkRelayConfig(m *model, relay, tmp string) []string {
	var out []string
	for _, p := range m.pods {
		conf, home, err := writePodFiles(m, p, tmp)
		if err != nil {
			return []string{err.Error()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := podCommand(ctx, m, p, relay, conf, home, "--check-config")
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			out = append(out, fmt.Sprintf("pod %s: relay-server --check-config with its file, env and args: %v:\n%s\n(command: %s)", p.name, err, strings.TrimSpace(string(b)), strings.Join(cmd.Args, " ")))
		}
	}
	return out
}

var metricsLine = regexp.MustCompile(`Metrics on: (http://[^ ]+)/metrics`)

// checkRelayEndpoints runs pod 0's relay on loopback and asks it what the kubelet, Prometheus
// and a control plane ask.
func checkRelayEndpoints(m *model, relay, tmp string) []string {
	p := m.pods[0]
	conf, home, err := writePodFiles(m, p, tmp)
	if err != nil {
		return []string{err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := podCommand(ctx, m, p, relay, conf, home,
		"--set", "network.tcp_listen_addr=/ip4/127.0.0.1/tcp/0",
		"--set", "network.tcp_listen_addr_v6=",
		"--set", "network.quic_listen_addr=/ip4/127.0.0.1/udp/0/quic-v1",
		"--set", "network.quic_listen_addr_v6=",
		"--set", "metrics.listen_addr=/ip4/127.0.0.1/tcp/0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return []string{err.Error()}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return []string{err.Error()}
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("the relay did not exit within 15 s of SIGTERM")
		}
	}
	defer stop()

	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if mm := metricsLine.FindStringSubmatch(sc.Text()); mm != nil {
				base <- mm[1]
			}
		}
		close(base)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var url string
	select {
	case u, ok := <-base:
		if !ok {
			_ = stop()
			return []string{fmt.Sprintf("pod %s: the relay exited before it served HTTP:\n%s", p.name, strings.TrimSpace(stderr.String()))}
		}
		url = u
	case <-time.After(15 * time.Second):
		return []string{fmt.Sprintf("pod %s: the relay printed no \"Metrics on:\" in 15 s", p.name)}
	}

	var out []string
	client := &http.Client{Timeout: 3 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(url + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	// The probes' own paths: /readyz turns 200 once every listener is bound.
	for _, pr := range []struct {
		kind string
		path string
	}{{"readinessProbe", httpPath(m.ctr.ReadinessProbe)}, {"livenessProbe", httpPath(m.ctr.LivenessProbe)},
		{"prometheus.io/path", m.sts.obj.Spec.Template.Annotations["prometheus.io/path"]}} {
		if pr.path == "" {
			continue
		}
		code, body := 0, ""
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			// 503: not ready yet (listeners still binding); anything else is the answer.
			if code, body = get(pr.path); code != 503 && code != 0 {
				break
			}
		}
		if code != 200 {
			out = append(out, fmt.Sprintf("pod %s: the relay answers the %s GET %s with %d %q", p.name, pr.kind, pr.path, code, strings.TrimSpace(body)))
		}
	}
	code, body := get("/addrs")
	var addrs []string
	if code != 200 || json.Unmarshal([]byte(body), &addrs) != nil {
		out = append(out, fmt.Sprintf("pod %s: GET /addrs: %d %q", p.name, code, body))
	} else {
		want := p.cfg.list("network", "external_addrs")
		if len(addrs) != len(want) {
			out = append(out, fmt.Sprintf("pod %s: /addrs is %v; want %v, each with /p2p/<id>", p.name, addrs, want))
		}
		for i := 0; i < len(addrs) && i < len(want); i++ {
			if !strings.HasPrefix(addrs[i], want[i]+"/p2p/12D3KooW") {
				out = append(out, fmt.Sprintf("pod %s: /addrs[%d] = %q; want %s/p2p/<id>", p.name, i, addrs[i], want[i]))
			}
		}
	}
	if err := stop(); err != nil {
		out = append(out, fmt.Sprintf("pod %s: the relay after SIGTERM: %v\n%s", p.name, err, strings.TrimSpace(stderr.String())))
	}
	if _, err := os.Stat(filepath.Join(home, ".meshnet", "relay_keypair.bin")); err != nil {
		out = append(out, fmt.Sprintf("pod %s: no identity under HOME: %v", p.name, err))
	}
	return out
}

func httpPath(p *corev1.Probe) string {
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Path
}
