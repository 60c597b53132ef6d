package main

// The checker against deploy/kubernetes/ as it is (every check passes) and against broken copies
// of it (testdata/broken/*.yaml: a file, text replaced in it, and the check that must then fail
// with the message given). A replacement whose text is no longer in the manifests fails the test,
// so the cases follow the manifests.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type brokenCase struct {
	File    string `json:"file"`
	Replace []struct {
		Old   string `json:"old"`
		New   string `json:"new"`
		Count int    `json:"count,omitempty"` // how often Old occurs (default 1); all are replaced
	} `json:"replace"`
	Check string `json:"check"`
	Want  string `json:"want"`
}

func sourceDir() string {
	if src := os.Getenv("RLY_SOURCE_DIR"); src != "" {
		return src
	}
	return filepath.Join("..", "..", "..")
}

// manifestsDir is deploy/kubernetes of this source tree.
func manifestsDir(t *testing.T) string { return filepath.Join(sourceDir(), "deploy", "kubernetes") }

// containerfile is the image's, when the tree has one.
func containerfile() string { return filepath.Join(sourceDir(), "Containerfile") }

// relayBinary is $RLY_BUILD_DIR/relay-server (run.sh sets it), else build/relay-server.
func relayBinary(t *testing.T) string {
	if b := os.Getenv("RLY_BUILD_DIR"); b != "" {
		return filepath.Join(b, "relay-server")
	}
	p := filepath.Join("..", "..", "..", "build", "relay-server")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no relay-server: set RLY_BUILD_DIR (run.sh does)")
	}
	return p
}

func failures(res []result) map[string][]string {
	out := map[string][]string{}
	for _, r := range res {
		if len(r.problems) > 0 {
			out[r.name] = r.problems
		}
	}
	return out
}

func TestManifestsPass(t *testing.T) {
	relay := relayBinary(t)
	res := runAll(manifestsDir(t), relay, containerfile())
	for name, p := range failures(res) {
		t.Errorf("%s:\n  %s", name, strings.Join(p, "\n  "))
	}
	if len(res) < len(checks)+4 {
		t.Errorf("only %d checks ran", len(res))
	}
}

func copyDir(t *testing.T, from, to string) {
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBrokenManifestsFail(t *testing.T) {
	relay := relayBinary(t)
	cases, err := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases in testdata/broken: %v", err)
	}
	known := map[string]bool{"decode": true, "image": true, "relay configuration per pod": true, "relay --check-config": true, "relay endpoints": true}
	for _, c := range checks {
		known[c.name] = true
	}
	for _, file := range cases {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var bc brokenCase
			if err := yaml.UnmarshalStrict(data, &bc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if !known[bc.Check] || bc.Want == "" || len(bc.Replace) == 0 {
				t.Fatalf("%s: want check (one of the checks' names), want and replace", file)
			}
			dir := t.TempDir()
			copyDir(t, manifestsDir(t), dir)
			target := filepath.Join(dir, bc.File)
			b, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			for _, r := range bc.Replace {
				want := r.Count
				if want == 0 {
					want = 1
				}
				if n := strings.Count(text, r.Old); n != want {
					t.Fatalf("%s: %q occurs %d times in %s, not %d: update the case", file, r.Old, n, bc.File, want)
				}
				text = strings.ReplaceAll(text, r.Old, r.New)
			}
			if err := os.WriteFile(target, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			got := failures(runAll(dir, relay, containerfile()))
			for _, p := range got[bc.Check] {
				if strings.Contains(p, bc.Want) {
					return
				}
			}
			t.Errorf("check %q did not fail with %q; the failures:", bc.Check, bc.Want)
			for n, p := range got {
				t.Errorf("  %s: %s", n, strings.Join(p, "\n    "))
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "$(A)"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for in, want := range map[string]string{
		"$(A)-$(B)":  "x-$(A)", // no recursion
		"$$(A)":      "$(A)",   // escaped
		"$(C)":       "$(C)",   // unknown: as it is
		"a$b$":       "a$b$",
		"$(A":        "$(A",
		"/dns4/$(A)": "/dns4/x",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestReadContainerfile(t *testing.T) {
	img, err := readContainerfile(filepath.Join("testdata", "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"HOME": "/var/lib/mesh-relay", "MESH_RELAY_METRICS_LISTEN_ADDR": "/ip4/0.0.0.0/tcp/9464",
		"SPACED": "a b", "LEGACY": "value with spaces"}
	if len(img.vals) != len(want) || img.uid != 10001 {
		t.Errorf("got %v uid %d; want %v uid 10001 (the last stage alone)", img.vals, img.uid, want)
	}
	for k, v := range want {
		if img.vals[k] != v {
			t.Errorf("%s = %q; want %q", k, img.vals[k], v)
		}
	}
	if img, err := readContainerfile(filepath.Join("testdata", "none")); err != nil || img.vals["HOME"] != imageHome {
		t.Errorf("without a Containerfile: %v, %v; want the documented defaults", img, err)
	}
}
