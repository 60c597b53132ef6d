package main

// image.go: what the image gives the container before the pod spec does: the ENV and USER of
// the repository's Containerfile (the final stage). Kubernetes starts the container with the
// image's environment, then the pod's env over it; so a MESH_RELAY_* variable of the image
// overrides the ConfigMap's file as well.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// imageInfo is the final stage's environment (in order) and user.
type imageInfo struct {
	source string // the Containerfile, or a note that the defaults below stand in for it
	env    []string
	vals   map[string]string
	uid    int64
}

// defaultImage is the image's contract when there is no Containerfile to read.
func defaultImage() imageInfo {
	return imageInfo{source: "the image's documented defaults", env: []string{"HOME"},
		vals: map[string]string{"HOME": imageHome}, uid: imageUID}
}

// readContainerfile reads ENV and USER of the last stage of |path|; a missing file gives the
// defaults.
func readContainerfile(path string) (imageInfo, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) || path == "" {
		return defaultImage(), nil
	}
	if err != nil {
		return imageInfo{}, err
	}
	img := imageInfo{source: path, vals: map[string]string{}, uid: -1}
	// Join continued lines; drop comments (also between continued lines, as Docker does).
	var instrs []string
	cur := ""
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") || (t == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur += strings.TrimSuffix(t, "\\") + " "
			continue
		}
		instrs = append(instrs, cur+t)
		cur = ""
	}
	if cur != "" {
		instrs = append(instrs, cur)
	}
	for _, in := range instrs {
		word, rest, _ := strings.Cut(in, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "FROM": // a new stage: only the last one is the image
			img = imageInfo{source: path, vals: map[string]string{}, uid: -1}
		case "ENV":
			pairs, err := envPairs(rest)
			if err != nil {
				return imageInfo{}, fmt.Errorf("%s: ENV %s: %v", path, rest, err)
			}
			for _, kv := range pairs {
				if _, seen := img.vals[kv[0]]; !seen {
					img.env = append(img.env, kv[0])
				}
				img.vals[kv[0]] = kv[1]
			}
		case "USER":
			user, _, _ := strings.Cut(rest, ":")
			if n, err := strconv.ParseInt(user, 10, 64); err == nil {
				img.uid = n
			} else {
				img.uid = -1 // a name: its uid is not known here
			}
		}
	}
	if img.uid < 0 {
		return imageInfo{}, fmt.Errorf("%s: the last stage has no numeric USER (runAsNonRoot needs one)", path)
	}
	return img, nil
}

// envPairs splits ENV's arguments: KEY=VALUE ... (values may be quoted) or the old KEY VALUE.
func envPairs(s string) ([][2]string, error) {
	words, err := shellWords(s)
	if err != nil {
		return nil, err
	}
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		k, v, _ := strings.Cut(s, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellWords splits at blanks outside quotes and removes the quotes.
func shellWords(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c", quote)
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}
