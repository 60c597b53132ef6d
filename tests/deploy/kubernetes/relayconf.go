package main

// relayconf.go: the relay's configuration as a pod of the StatefulSet gets it. The built-in
// defaults come from the relay itself (relay-server --generate-config writes every key with its
// default), then the ConfigMap's file, then MESH_RELAY_<SECTION>_<KEY> environment variables,
// then --set section.key=value arguments (the relay's documented precedence). Text from the
// environment and --set is typed by the key's default: integers in decimal, booleans true or
// false, strings as they are, lists separated by commas or as a TOML array.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	corev1 "k8s.io/api/core/v1"
)

const envPrefix = "MESH_RELAY_"

// relayConfig maps section -> key -> value (int64, bool, string or []string).
type relayConfig map[string]map[string]any

// parseTOML reads a relay.toml: every top-level entry must be a table (a section).
func parseTOML(text, name string) (relayConfig, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	c := relayConfig{}
	for sec, v := range raw {
		tab, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not a [section]", name, sec)
		}
		c[sec] = map[string]any{}
		for k, val := range tab {
			norm, err := normalise(val)
			if err != nil {
				return nil, fmt.Errorf("%s: [%s] %s: %v", name, sec, k, err)
			}
			c[sec][k] = norm
		}
	}
	return c, nil
}

func normalise(v any) (any, error) {
	switch t := v.(type) {
	case int64, bool, string:
		return t, nil
	case []any:
		out := []string{}
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("a list of %T, not of strings", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of type %T", v)
}

// relayDefaults asks the relay for its built-in defaults.
func relayDefaults(relay, tmp string) (relayConfig, error) {
	path := filepath.Join(tmp, "defaults.toml")
	out, err := exec.Command(relay, "--generate-config", "--force", "--config", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --generate-config: %v: %s", relay, err, out)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTOML(string(text), "the defaults of "+relay)
}

func (c relayConfig) clone() relayConfig {
	out := relayConfig{}
	for s, keys := range c {
		out[s] = map[string]any{}
		for k, v := range keys {
			out[s][k] = v
		}
	}
	return out
}

// set stores |v| as section.key, which must be a key of the defaults with a value of its type.
func (c relayConfig) set(origin, section, key string, v any) error {
	def, ok := c[section][key]
	if !ok {
		return fmt.Errorf("%s: [%s] %s is no configuration key of the relay", origin, section, key)
	}
	if fmt.Sprintf("%T", def) != fmt.Sprintf("%T", v) {
		return fmt.Errorf("%s: [%s] %s must be like %#v, not %#v", origin, section, key, def, v)
	}
	c[section][key] = v
	return nil
}

// merge applies a file over the configuration.
func (c relayConfig) merge(origin string, file relayConfig) error {
	for _, s := range sortedKeys(file) {
		if _, ok := c[s]; !ok {
			return fmt.Errorf("%s: unknown section [%s]", origin, s)
		}
		for _, k := range sortedKeys(file[s]) {
			if err := c.set(origin, s, k, file[s][k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// setText applies a value given as text (the environment, --set).
func (c relayConfig) setText(origin, section, key, text string) error {
	def, ok := c[section][key]
	if !ok {
		return fmt.Errorf("%s: [%s] %s is no configuration key of the relay", origin, section, key)
	}
	var v any
	switch def.(type) {
	case int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: [%s] %s = %q is not a decimal integer", origin, section, key, text)
		}
		v = n
	case bool:
		if text != "true" && text != "false" {
			return fmt.Errorf("%s: [%s] %s = %q is not true or false", origin, section, key, text)
		}
		v = text == "true"
	case string:
		v = text
	case []string:
		l := []string{}
		if strings.HasPrefix(strings.TrimSpace(text), "[") { // a TOML array
			var arr struct{ V []string }
			if _, err := toml.Decode("V = "+text, &arr); err != nil {
				return fmt.Errorf("%s: [%s] %s = %q is not a TOML array of strings", origin, section, key, text)
			}
			l = append(l, arr.V...)
		} else if text != "" {
			l = strings.Split(text, ",")
		}
		v = l
	}
	c[section][key] = v
	return nil
}

// envKey maps MESH_RELAY_<SECTION>_<KEY> to its section and key.
func (c relayConfig) envKey(name string) (string, string, bool) {
	rest, ok := strings.CutPrefix(name, envPrefix)
	if !ok {
		return "", "", false
	}
	rest = strings.ToLower(rest)
	for s := range c {
		if k, ok := strings.CutPrefix(rest, s+"_"); ok {
			if _, ok := c[s][k]; ok {
				return s, k, true
			}
		}
	}
	return "", "", false
}

func (c relayConfig) str(s, k string) string    { v, _ := c[s][k].(string); return v }
func (c relayConfig) num(s, k string) int64     { v, _ := c[s][k].(int64); return v }
func (c relayConfig) flag(s, k string) bool     { v, _ := c[s][k].(bool); return v }
func (c relayConfig) list(s, k string) []string { v, _ := c[s][k].([]string); return v }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- multiaddrs ------------------------------------------------------------------------------

// endpoint is a listen or announced address: host, port and transport.
type endpoint struct {
	proto string // "ip4", "ip6", "dns", "dns4", "dns6"
	host  string
	port  int32
	l4    corev1.Protocol // TCP, or UDP for QUIC
}

// parseAddr reads /<proto>/<host>/tcp/<port> or /<proto>/<host>/udp/<port>/quic-v1.
func parseAddr(s string) (endpoint, error) {
	p := strings.Split(s, "/")
	bad := fmt.Errorf("%q is not /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port> or .../udp/<port>/quic-v1", s)
	if len(p) < 5 || p[0] != "" {
		return endpoint{}, bad
	}
	e := endpoint{proto: p[1], host: p[2]}
	switch p[1] {
	case "ip4", "ip6", "dns", "dns4", "dns6":
	default:
		return endpoint{}, bad
	}
	port, err := strconv.ParseUint(p[4], 10, 16)
	if err != nil || p[2] == "" {
		return endpoint{}, bad
	}
	e.port = int32(port)
	switch {
	case len(p) == 5 && p[3] == "tcp":
		e.l4 = corev1.ProtocolTCP
	case len(p) == 6 && p[3] == "udp" && p[5] == "quic-v1":
		e.l4 = corev1.ProtocolUDP
	default:
		return endpoint{}, bad
	}
	return e, nil
}

func (e endpoint) unspecified() bool { return e.host == "0.0.0.0" || e.host == "::" }

// ---- the container's command line and environment -----------------------------------------------

// relayArgs is the relay's command line in the manifest.
type relayArgs struct {
	config string   // --config
	sets   []string // --set values, in order
	rest   []string // --log-level and its value: passed on as they are
}

func parseArgs(args []string) (relayArgs, error) {
	var r relayArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, val, hasVal = a, "", false
		}
		switch name {
		case "--config", "-c", "--set", "--log-level", "-l":
		default:
			return r, fmt.Errorf("argument %q: the relay's run options are --config, --set and --log-level", a)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return r, fmt.Errorf("%s needs a value", a)
			}
			i++
			val = args[i]
		}
		switch name {
		case "--config", "-c":
			r.config = val
		case "--set":
			r.sets = append(r.sets, val)
		default:
			r.rest = append(r.rest, "--log-level", val)
		}
	}
	return r, nil
}

// expand replaces $(VAR) with the value of VAR when |lookup| knows it and $$ with $, as the
// kubelet does in env values, command and args; an unknown reference stays as it is.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// podEnv is a container's environment in one pod: the image's, then the pod spec's over it.
type podEnv struct {
	names  []string          // in order
	vals   map[string]string // after expansion; a Secret's value is |dummySecret|
	secret map[string]bool   // from a secretKeyRef
	inPod  map[string]bool   // set by the pod spec: what $(VAR) may refer to
}

// dummySecret stands for every value from a Secret when the relay checks the configuration.
const dummySecret = "k8s-check-dummy-secret-0123456789abcdef0123456789abcdef"

// containerEnv computes |c|'s environment in pod |podName| of namespace |ns|. It fails on a
// reference to an object or key that is not in the manifests.
func containerEnv(b *bundle, img imageInfo, c *corev1.Container, podName, ns string) (podEnv, []string) {
	e := podEnv{vals: map[string]string{}, secret: map[string]bool{}, inPod: map[string]bool{}}
	for _, n := range img.env {
		e.names = append(e.names, n)
		e.vals[n] = img.vals[n]
	}
	var problems []string
	if len(c.EnvFrom) > 0 {
		problems = append(problems, "envFrom: this check does not follow it; name each variable in env")
	}
	for _, v := range c.Env {
		val := v.Value
		if v.ValueFrom == nil {
			val = expand(val, e.lookup)
		} else {
			switch f := v.ValueFrom; {
			case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name":
				val = podName
			case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.namespace":
				val = ns
			case f.SecretKeyRef != nil:
				val = dummySecret
				e.secret[v.Name] = true
				s := b.secret(f.SecretKeyRef.Name)
				if s == nil {
					problems = append(problems, fmt.Sprintf("env %s: no Secret %q in the manifests", v.Name, f.SecretKeyRef.Name))
				} else if !secretHasKey(s.obj, f.SecretKeyRef.Key) {
					problems = append(problems, fmt.Sprintf("env %s: Secret %q (%s) has no key %q", v.Name, f.SecretKeyRef.Name, s.at, f.SecretKeyRef.Key))
				}
			case f.ConfigMapKeyRef != nil:
				cm := b.configMap(f.ConfigMapKeyRef.Name)
				if cm == nil {
					problems = append(problems, fmt.Sprintf("env %s: no ConfigMap %q in the manifests", v.Name, f.ConfigMapKeyRef.Name))
				} else if s, ok := cm.obj.Data[f.ConfigMapKeyRef.Key]; !ok {
					problems = append(problems, fmt.Sprintf("env %s: ConfigMap %q has no key %q", v.Name, f.ConfigMapKeyRef.Name, f.ConfigMapKeyRef.Key))
				} else {
					val = s
				}
			default:
				problems = append(problems, fmt.Sprintf("env %s: this check does not know its valueFrom", v.Name))
			}
		}
		if _, dup := e.vals[v.Name]; !dup {
			e.names = append(e.names, v.Name)
		}
		e.vals[v.Name] = val
		e.inPod[v.Name] = true
	}
	return e, problems
}

// lookup is what $(VAR) finds: variables the pod spec defines (not the image's).
func (e podEnv) lookup(n string) (string, bool) {
	if !e.inPod[n] {
		return "", false
	}
	return e.vals[n], true
}

// effectiveConfig is the relay's configuration in one pod: |defaults|, then |file| (the
// ConfigMap's relay.toml), the MESH_RELAY_* variables of |env| and the --set values of |args|.
func effectiveConfig(defaults, file relayConfig, fileName string, env podEnv, args relayArgs) (relayConfig, error) {
	c := defaults.clone()
	if err := c.merge(fileName, file); err != nil {
		return nil, err
	}
	for _, n := range env.names {
		// MESH_RELAY_CONFIG names the file (the image's own, when there is no --config), not a key.
		if !strings.HasPrefix(n, envPrefix) || n == "MESH_RELAY_CONFIG" {
			continue
		}
		s, k, ok := c.envKey(n)
		if !ok {
			return nil, fmt.Errorf("env %s names no configuration key (MESH_RELAY_<SECTION>_<KEY>)", n)
		}
		if err := c.setText("env "+n, s, k, env.vals[n]); err != nil {
			return nil, err
		}
	}
	for _, kv := range args.sets {
		expanded := expand(kv, env.lookup)
		sk, v, ok := strings.Cut(expanded, "=")
		s, k, ok2 := strings.Cut(sk, ".")
		if !ok || !ok2 {
			return nil, fmt.Errorf("--set %q: expected section.key=value", kv)
		}
		if err := c.setText("--set "+sk, s, k, v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func secretHasKey(s *corev1.Secret, key string) bool {
	_, inData := s.Data[key]
	_, inString := s.StringData[key]
	return inData || inString
}
