package main

// manifests.go: reading deploy/kubernetes/ strictly. Every YAML file is split into documents;
// each document is converted to JSON (duplicate keys fail) and decoded by its apiVersion and
// kind into the k8s.io/api type, case-sensitively and with unknown fields failing, as the API
// server decodes it (sigs.k8s.io/json, which apimachinery uses). An unknown apiVersion/kind
// fails too. kustomization.yaml is decoded into a small struct of the few Kustomization fields
// this directory uses (the kustomize API types would bring in a large module), as strictly.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kustomizationFile is the part of kustomize's Kustomization that this directory uses. Any other
// field fails the strict decoding: add it here when the directory starts using it.
type kustomizationFile struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	// What `kustomize edit set image` writes.
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// where names a document: its file (relative to the directory) and first line.
type where struct {
	file string
	line int
}

func (w where) String() string { return fmt.Sprintf("%s:%d", w.file, w.line) }

type doc[T any] struct {
	at  where
	obj *T
}

// bundle is every object of the directory, by kind.
type bundle struct {
	dir             string
	files           []string // the YAML files, relative, sorted
	kustomization   *doc[kustomizationFile]
	namespaces      []doc[corev1.Namespace]
	configMaps      []doc[corev1.ConfigMap]
	secrets         []doc[corev1.Secret]
	services        []doc[corev1.Service]
	statefulSets    []doc[appsv1.StatefulSet]
	pdbs            []doc[policyv1.PodDisruptionBudget]
	networkPolicies []doc[networkingv1.NetworkPolicy]
}

// splitDocuments splits a YAML stream at its "---" lines and returns each document that holds
// more than comments and blank lines, with the line it starts on.
func splitDocuments(data []byte) (docs [][]byte, lines []int) {
	var cur bytes.Buffer
	start, meaningful := 1, false
	flush := func() {
		if meaningful {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			lines = append(lines, start)
		}
		cur.Reset()
		meaningful = false
	}
	for i, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, " \t\r\n")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") {
			flush()
			start = i + 2
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && !meaningful {
			meaningful = true
			start = i + 1
		}
		cur.WriteString(line)
	}
	flush()
	return docs, lines
}

// decodeStrict decodes one document's JSON into |v| and returns every strict failure (unknown
// or duplicate fields, with their paths) and any decoding error.
func decodeStrict(js []byte, v any) []string {
	strictErrs, err := sigsjson.UnmarshalStrict(js, v)
	var out []string
	if err != nil {
		out = append(out, err.Error())
	}
	for _, e := range strictErrs {
		out = append(out, e.Error())
	}
	return out
}

func add[T any](list *[]doc[T], at where, js []byte) []string {
	v := new(T)
	errs := decodeStrict(js, v)
	if len(errs) == 0 {
		*list = append(*list, doc[T]{at, v})
	}
	return errs
}

// loadDir reads every *.yaml and *.yml file of |dir|. It returns the objects and one message
// per problem ("FILE:LINE: ...").
func loadDir(dir string) (*bundle, []string) {
	b := &bundle{dir: dir}
	var problems []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return b, []string{err.Error()}
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			b.files = append(b.files, n)
		}
	}
	sort.Strings(b.files)
	if len(b.files) == 0 {
		return b, []string{dir + ": no YAML files"}
	}
	for _, name := range b.files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		docs, lines := splitDocuments(data)
		if len(docs) == 0 {
			problems = append(problems, name+": no document")
		}
		for i, d := range docs {
			at := where{name, lines[i]}
			for _, p := range b.decode(at, d) {
				problems = append(problems, fmt.Sprintf("%s: %s", at, p))
			}
		}
	}
	return b, problems
}

// decode decodes one document by its apiVersion and kind.
func (b *bundle) decode(at where, y []byte) []string {
	js, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return []string{"not valid YAML (or a key given twice): " + err.Error()}
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return []string{"not an object: " + err.Error()}
	}
	gvk := head.APIVersion + " " + head.Kind
	if gvk == "kustomize.config.k8s.io/v1beta1 Kustomization" {
		if at.file != "kustomization.yaml" {
			return []string{"a Kustomization belongs in kustomization.yaml"}
		}
		if b.kustomization != nil {
			return []string{"a second Kustomization"}
		}
		v := new(kustomizationFile)
		errs := decodeStrict(js, v)
		if len(errs) == 0 {
			b.kustomization = &doc[kustomizationFile]{at, v}
		}
		return errs
	}
	var errs []string
	if head.Metadata.Name == "" {
		errs = append(errs, head.Kind+" without metadata.name")
	} else if head.Kind == "Service" || head.Kind == "Namespace" {
		for _, m := range validation.IsDNS1035Label(head.Metadata.Name) {
			errs = append(errs, fmt.Sprintf("%s name %q: %s", head.Kind, head.Metadata.Name, m))
		}
	} else {
		for _, m := range validation.IsDNS1123Subdomain(head.Metadata.Name) {
			errs = append(errs, fmt.Sprintf("%s name %q: %s", head.Kind, head.Metadata.Name, m))
		}
	}
	switch gvk {
	case "v1 Namespace":
		errs = append(errs, add(&b.namespaces, at, js)...)
	case "v1 ConfigMap":
		errs = append(errs, add(&b.configMaps, at, js)...)
	case "v1 Secret":
		errs = append(errs, add(&b.secrets, at, js)...)
	case "v1 Service":
		errs = append(errs, add(&b.services, at, js)...)
	case "apps/v1 StatefulSet":
		errs = append(errs, add(&b.statefulSets, at, js)...)
	case "policy/v1 PodDisruptionBudget":
		errs = append(errs, add(&b.pdbs, at, js)...)
	case "networking.k8s.io/v1 NetworkPolicy":
		errs = append(errs, add(&b.networkPolicies, at, js)...)
	default:
		errs = append(errs, fmt.Sprintf("unknown apiVersion/kind %q %q (this check knows v1 Namespace, "+
			"ConfigMap, Secret, Service; apps/v1 StatefulSet; policy/v1 PodDisruptionBudget; "+
			"networking.k8s.io/v1 NetworkPolicy)", head.APIVersion, head.Kind))
	}
	return errs
}

// byName finds the object |name| in |list|.
func byName[T any](list []doc[T], name string) *doc[T] {
	for i := range list {
		if any(list[i].obj).(interface{ GetName() string }).GetName() == name {
			return &list[i]
		}
	}
	return nil
}

func (b *bundle) configMap(name string) *doc[corev1.ConfigMap] { return byName(b.configMaps, name) }
func (b *bundle) secret(name string) *doc[corev1.Secret]       { return byName(b.secrets, name) }
func (b *bundle) service(name string) *doc[corev1.Service]     { return byName(b.services, name) }
