package main

// checks.go: what the manifests must agree on, with each other and with the relay.

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The image's user and HOME (where the identity lives) when there is no Containerfile to read
// them from (image.go).
const (
	imageUID  = 10001
	imageHome = "/var/lib/mesh-relay"
	// The label the StatefulSet controller gives each pod: its name.
	podNameLabel = "statefulset.kubernetes.io/pod-name"
	// The kubelet's grace after SIGTERM must exceed shutdown_grace_secs by this much: the relay
	// closes its connections and flushes its logs after the grace.
	graceMarginSecs = 10
	// The container's memory limit over [limits] max_memory_mb: the budget counts the relay's own
	// allocations, not its RSS (libraries, stacks, the binary): at least 1/4 more and 64 MiB.
	memoryHeadroomMiB = 64
)

// relayPod is one pod of the StatefulSet as the relay sees it.
type relayPod struct {
	name   string
	labels map[string]string
	env    podEnv
	cfg    relayConfig
}

// model is the relay's deployment, read from the bundle.
type model struct {
	b        *bundle
	sts      *doc[appsv1.StatefulSet]
	ctr      *corev1.Container
	args     relayArgs
	cm       *doc[corev1.ConfigMap]
	fileName string // the file's name in the ConfigMap
	fileText string
	file     relayConfig
	pods     []relayPod
	img      imageInfo
}

func (m *model) spec() *corev1.PodSpec { return &m.sts.obj.Spec.Template.Spec }

func (m *model) ns() string {
	if m.sts.obj.Namespace != "" {
		return m.sts.obj.Namespace
	}
	if m.b.kustomization != nil {
		return m.b.kustomization.obj.Namespace
	}
	return "default"
}

// buildModel finds the StatefulSet, its relay container, its configuration file and each pod's
// effective configuration. Nothing else can be checked without them.
func buildModel(b *bundle, img imageInfo, defaults relayConfig) (*model, []string) {
	if len(b.statefulSets) != 1 {
		return nil, []string{fmt.Sprintf("want one StatefulSet (the relays), found %d", len(b.statefulSets))}
	}
	m := &model{b: b, sts: &b.statefulSets[0], img: img}
	at := m.sts.at
	spec := m.spec()
	if len(spec.Containers) != 1 {
		return nil, []string{fmt.Sprintf("%s: want one container (the relay), found %d", at, len(spec.Containers))}
	}
	m.ctr = &spec.Containers[0]
	if len(m.ctr.Command) > 0 && path.Base(m.ctr.Command[0]) != "relay-server" {
		return nil, []string{fmt.Sprintf("%s: command %q replaces the image's relay-server", at, m.ctr.Command)}
	}
	if len(m.ctr.Command) > 1 {
		return nil, []string{fmt.Sprintf("%s: give the relay's options in args, not command", at)}
	}
	var err error
	if m.args, err = parseArgs(m.ctr.Args); err != nil {
		return nil, []string{fmt.Sprintf("%s: args: %v", at, err)}
	}
	if m.args.config == "" {
		return nil, []string{fmt.Sprintf("%s: args have no --config: the relay would read ~/.meshnet/relay.toml, not the ConfigMap", at)}
	}
	if p := m.configFile(); p != "" {
		return nil, []string{fmt.Sprintf("%s: --config %s: %s", at, m.args.config, p)}
	}
	if m.file, err = parseTOML(m.fileText, m.cm.at.file+" "+m.fileName); err != nil {
		return nil, []string{err.Error()}
	}
	var problems []string
	for _, name := range m.podNames() {
		env, p := containerEnv(b, img, m.ctr, name, m.ns())
		problems = append(problems, p...)
		cfg, err := effectiveConfig(defaults, m.file, m.cm.at.file+" "+m.fileName, env, m.args)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: pod %s: %v", at, name, err))
			continue
		}
		lbl := map[string]string{}
		for k, v := range m.sts.obj.Spec.Template.Labels {
			lbl[k] = v
		}
		lbl[podNameLabel] = name
		lbl["apps.kubernetes.io/pod-index"] = strings.TrimPrefix(name, m.sts.obj.Name+"-")
		m.pods = append(m.pods, relayPod{name, lbl, env, cfg})
	}
	if len(problems) > 0 {
		return nil, dedupe(problems)
	}
	return m, nil
}

// configFile finds the ConfigMap file that --config names: a configMap volume mounted at its
// directory (or, with subPath, at the file itself).
func (m *model) configFile() string {
	vols := map[string]*corev1.Volume{}
	for i := range m.spec().Volumes {
		vols[m.spec().Volumes[i].Name] = &m.spec().Volumes[i]
	}
	for _, vm := range m.ctr.VolumeMounts {
		v := vols[vm.Name]
		if v == nil || v.ConfigMap == nil {
			continue
		}
		var rel string
		if vm.SubPath != "" {
			if vm.MountPath != m.args.config {
				continue
			}
			rel = vm.SubPath
		} else if dir, file := path.Split(m.args.config); path.Clean(dir) == path.Clean(vm.MountPath) {
			rel = file
		} else {
			continue
		}
		if !vm.ReadOnly {
			return fmt.Sprintf("the ConfigMap volume %q is mounted writable: mount it readOnly", vm.Name)
		}
		key := rel
		if len(v.ConfigMap.Items) > 0 {
			key = ""
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if key == "" {
				return fmt.Sprintf("volume %q projects no item to %q", vm.Name, rel)
			}
		}
		m.cm = m.b.configMap(v.ConfigMap.Name)
		if m.cm == nil {
			return fmt.Sprintf("volume %q: no ConfigMap %q in the manifests", vm.Name, v.ConfigMap.Name)
		}
		text, ok := m.cm.obj.Data[key]
		if !ok {
			return fmt.Sprintf("ConfigMap %q (%s) has no key %q", m.cm.obj.Name, m.cm.at, key)
		}
		m.fileName, m.fileText = key, text
		return ""
	}
	return "no configMap volume is mounted there"
}

func (m *model) podNames() []string {
	n := int32(1)
	if m.sts.obj.Spec.Replicas != nil {
		n = *m.sts.obj.Spec.Replicas
	}
	start := int32(0)
	if o := m.sts.obj.Spec.Ordinals; o != nil {
		start = o.Start
	}
	var out []string
	for i := start; i < start+n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", m.sts.obj.Name, i))
	}
	return out
}

// containerPort finds the relay container's port |p| (a number or a name) for |proto|.
func (m *model) containerPort(p intstr.IntOrString, proto corev1.Protocol) (*corev1.ContainerPort, bool) {
	for i := range m.ctr.Ports {
		cp := &m.ctr.Ports[i]
		if protoOf(cp.Protocol) != protoOf(proto) {
			continue
		}
		if (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) || (p.Type == intstr.String && cp.Name == p.StrVal) {
			return cp, true
		}
	}
	return nil, false
}

func protoOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// metricsPort is the port of [metrics] listen_addr (the same in every pod: checked).
func (m *model) metricsPort() int32 {
	e, err := parseAddr(m.pods[0].cfg.str("metrics", "listen_addr"))
	if err != nil {
		return -1
	}
	return e.port
}

// ---- the checks ----------------------------------------------------------------------------

// check is one named check: it returns its problems.
type check struct {
	name string
	run  func(m *model) []string
}

var checks = []check{
	{"kustomization", checkKustomization},
	{"namespace", checkNamespace},
	{"statefulset", checkStatefulSet},
	{"listen ports", checkListenPorts},
	{"metrics address", checkMetricsAddr},
	{"probes", checkProbes},
	{"grace period", checkGrace},
	{"identity volume", checkIdentityVolume},
	{"security context", checkSecurity},
	{"auth token", checkAuthToken},
	{"overridden file keys", checkOverridden},
	{"memory", checkMemory},
	{"external addresses", checkExternalAddrs},
	{"per-pod services", checkPerPodServices},
	{"services", checkServices},
	{"disruption budget", checkPDB},
	{"network policy", checkNetworkPolicy},
	{"prometheus", checkPrometheus},
}

func checkKustomization(m *model) []string {
	k := m.b.kustomization
	if k == nil {
		return []string{"no kustomization.yaml (kubectl apply -k)"}
	}
	var out []string
	listed := map[string]bool{}
	for _, r := range k.obj.Resources {
		if listed[r] {
			out = append(out, fmt.Sprintf("%s: resource %s listed twice", k.at, r))
		}
		listed[r] = true
		if !contains(m.b.files, r) {
			out = append(out, fmt.Sprintf("%s: resource %s is not a YAML file of the directory", k.at, r))
		}
	}
	image := m.ctr.Image
	if i := strings.LastIndex(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	for _, im := range k.obj.Images {
		if im.Name != image {
			out = append(out, fmt.Sprintf("%s: images: %q is not the relay's image %q: it would change nothing", k.at, im.Name, image))
		}
	}
	for _, f := range m.b.files {
		if f != "kustomization.yaml" && !listed[f] {
			out = append(out, fmt.Sprintf("%s: %s is not in resources: kubectl apply -k would leave it out", k.at, f))
		}
	}
	return out
}

func checkNamespace(m *model) []string {
	var out []string
	ns := m.ns()
	seen := func(at where, kind, name, got string) {
		if got != "" && got != ns {
			out = append(out, fmt.Sprintf("%s: %s %s is in namespace %q, the StatefulSet in %q", at, kind, name, got, ns))
		}
	}
	if k := m.b.kustomization; k != nil && k.obj.Namespace != "" && k.obj.Namespace != ns {
		out = append(out, fmt.Sprintf("%s: namespace %q, the StatefulSet's %q", k.at, k.obj.Namespace, ns))
	}
	for _, d := range m.b.configMaps {
		seen(d.at, "ConfigMap", d.obj.Name, d.obj.Namespace)
	}
	for _, d := range m.b.secrets {
		seen(d.at, "Secret", d.obj.Name, d.obj.Namespace)
	}
	for _, d := range m.b.services {
		seen(d.at, "Service", d.obj.Name, d.obj.Namespace)
	}
	for _, d := range m.b.pdbs {
		seen(d.at, "PodDisruptionBudget", d.obj.Name, d.obj.Namespace)
	}
	for _, d := range m.b.networkPolicies {
		seen(d.at, "NetworkPolicy", d.obj.Name, d.obj.Namespace)
	}
	for _, d := range m.b.namespaces {
		if d.obj.Name != ns {
			out = append(out, fmt.Sprintf("%s: Namespace %q, the StatefulSet's is %q", d.at, d.obj.Name, ns))
		}
	}
	return out
}

func checkStatefulSet(m *model) []string {
	var out []string
	s, at := m.sts.obj, m.sts.at
	if s.Spec.Replicas == nil || *s.Spec.Replicas < 1 {
		out = append(out, fmt.Sprintf("%s: set replicas (at least 1)", at))
	}
	if ok, msg := selectorMatches(s.Spec.Selector, s.Spec.Template.Labels); !ok {
		out = append(out, fmt.Sprintf("%s: spec.selector does not select the pod template's labels: %s", at, msg))
	}
	svc := m.b.service(s.Spec.ServiceName)
	switch {
	case s.Spec.ServiceName == "":
		out = append(out, fmt.Sprintf("%s: no serviceName (the governing headless Service)", at))
	case svc == nil:
		out = append(out, fmt.Sprintf("%s: serviceName %q: no such Service in the manifests", at, s.Spec.ServiceName))
	case svc.obj.Spec.ClusterIP != corev1.ClusterIPNone:
		out = append(out, fmt.Sprintf("%s: Service %q (the StatefulSet's serviceName) must be headless (clusterIP: None)", svc.at, svc.obj.Name))
	case !mapSelects(svc.obj.Spec.Selector, m.pods[0].labels):
		out = append(out, fmt.Sprintf("%s: Service %q does not select the relays' pods", svc.at, svc.obj.Name))
	}
	return out
}

func checkListenPorts(m *model) []string {
	var out []string
	at := m.sts.at
	used := map[string]bool{}
	for _, p := range m.pods {
		for _, key := range []string{"tcp_listen_addr", "tcp_listen_addr_v6", "quic_listen_addr", "quic_listen_addr_v6"} {
			s := p.cfg.str("network", key)
			if s == "" {
				continue
			}
			e, err := parseAddr(s)
			if err != nil {
				out = append(out, fmt.Sprintf("pod %s: [network] %s: %v", p.name, key, err))
				continue
			}
			if !e.unspecified() {
				out = append(out, fmt.Sprintf("pod %s: [network] %s = %q: a pod's address is not known in advance; listen on 0.0.0.0 or ::", p.name, key, s))
			}
			cp, ok := m.containerPort(intstr.FromInt32(e.port), e.l4)
			if !ok {
				out = append(out, fmt.Sprintf("%s: the relay listens on %d/%s ([network] %s) but the container declares no such port", at, e.port, e.l4, key))
				continue
			}
			used[fmt.Sprintf("%d/%s", cp.ContainerPort, protoOf(cp.Protocol))] = true
		}
	}
	mp := m.metricsPort()
	for _, cp := range m.ctr.Ports {
		if cp.ContainerPort == mp && protoOf(cp.Protocol) == corev1.ProtocolTCP {
			continue
		}
		if !used[fmt.Sprintf("%d/%s", cp.ContainerPort, protoOf(cp.Protocol))] {
			out = append(out, fmt.Sprintf("%s: container port %s %d/%s: the relay does not listen there", at, cp.Name, cp.ContainerPort, protoOf(cp.Protocol)))
		}
	}
	return dedupe(out)
}

func checkMetricsAddr(m *model) []string {
	var out []string
	first := ""
	for _, p := range m.pods {
		s := p.cfg.str("metrics", "listen_addr")
		if first == "" {
			first = s
		} else if s != first {
			out = append(out, fmt.Sprintf("pod %s: [metrics] listen_addr %q differs from %q", p.name, s, first))
		}
		if s == "" {
			out = append(out, fmt.Sprintf("pod %s: [metrics] listen_addr is off: no /healthz, /readyz for the probes, no /metrics", p.name))
			continue
		}
		e, err := parseAddr(s)
		if err != nil || e.l4 != corev1.ProtocolTCP {
			out = append(out, fmt.Sprintf("pod %s: [metrics] listen_addr %q is not a TCP address", p.name, s))
			continue
		}
		if !e.unspecified() {
			out = append(out, fmt.Sprintf("pod %s: [metrics] listen_addr = %q: the kubelet and Prometheus reach the pod on its own address, not loopback; use /ip4/0.0.0.0/tcp/%d", p.name, s, e.port))
		}
		if _, ok := m.containerPort(intstr.FromInt32(e.port), corev1.ProtocolTCP); !ok {
			out = append(out, fmt.Sprintf("%s: [metrics] listen_addr port %d/TCP is not a container port", m.sts.at, e.port))
		}
	}
	return dedupe(out)
}

func checkProbes(m *model) []string {
	var out []string
	mp := m.metricsPort()
	probe := func(kind string, p *corev1.Probe, wantPath string) {
		if p == nil {
			out = append(out, fmt.Sprintf("%s: no %s (GET %s on the metrics port)", m.sts.at, kind, wantPath))
			return
		}
		g := p.HTTPGet
		if g == nil {
			out = append(out, fmt.Sprintf("%s: %s must be httpGet %s", m.sts.at, kind, wantPath))
			return
		}
		if g.Path != wantPath {
			out = append(out, fmt.Sprintf("%s: %s path %q: the relay answers %s (src/app/server.c)", m.sts.at, kind, g.Path, wantPath))
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			out = append(out, fmt.Sprintf("%s: %s scheme %s: the relay serves plain HTTP", m.sts.at, kind, g.Scheme))
		}
		if g.Host != "" {
			out = append(out, fmt.Sprintf("%s: %s host %q: probe the pod itself", m.sts.at, kind, g.Host))
		}
		cp, ok := m.containerPort(g.Port, corev1.ProtocolTCP)
		if !ok {
			out = append(out, fmt.Sprintf("%s: %s port %s is no TCP container port", m.sts.at, kind, g.Port.String()))
		} else if cp.ContainerPort != mp {
			out = append(out, fmt.Sprintf("%s: %s port %s is %d; [metrics] listen_addr serves %s on %d", m.sts.at, kind, g.Port.String(), cp.ContainerPort, wantPath, mp))
		}
	}
	probe("readinessProbe", m.ctr.ReadinessProbe, "/readyz")
	probe("livenessProbe", m.ctr.LivenessProbe, "/healthz")
	if m.ctr.StartupProbe != nil {
		probe("startupProbe", m.ctr.StartupProbe, "/healthz")
	}
	return out
}

func checkGrace(m *model) []string {
	tg := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if t := m.spec().TerminationGracePeriodSeconds; t != nil {
		tg = *t
	}
	var out []string
	for _, p := range m.pods {
		g := p.cfg.num("network", "shutdown_grace_secs")
		if tg < g+graceMarginSecs {
			out = append(out, fmt.Sprintf("%s: terminationGracePeriodSeconds %d: the relay drains for [network] shutdown_grace_secs = %d after SIGTERM; give it at least %d (the grace plus %d s to close)", m.sts.at, tg, g, g+graceMarginSecs, graceMarginSecs))
		}
	}
	return dedupe(out)
}

func checkIdentityVolume(m *model) []string {
	var out []string
	at := m.sts.at
	home, ok := m.pods[0].env.vals["HOME"]
	if !ok || !path.IsAbs(home) {
		return []string{fmt.Sprintf("%s: HOME %q (neither the image, %s, nor the pod sets an absolute one): the relay keeps its identity in $HOME/.meshnet", at, home, m.img.source)}
	}
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for i := range m.sts.obj.Spec.VolumeClaimTemplates {
		c := &m.sts.obj.Spec.VolumeClaimTemplates[i]
		claims[c.Name] = c
	}
	idDir := path.Join(home, ".meshnet")
	var homeMount *corev1.VolumeMount
	for i := range m.ctr.VolumeMounts {
		vm := &m.ctr.VolumeMounts[i]
		mp := path.Clean(vm.MountPath)
		if mp == path.Clean(home) {
			homeMount = vm
		} else if mp == idDir || strings.HasPrefix(mp, idDir+"/") {
			out = append(out, fmt.Sprintf("%s: volume %q mounted at %s hides the identity in %s", at, vm.Name, vm.MountPath, idDir))
		}
	}
	switch {
	case homeMount == nil:
		out = append(out, fmt.Sprintf("%s: nothing is mounted at HOME (%s): the identity %s/relay_keypair.bin would be lost with the pod", at, home, idDir))
	case claims[homeMount.Name] == nil:
		out = append(out, fmt.Sprintf("%s: the volume %q at HOME (%s) is no volumeClaimTemplate: the identity would not survive the pod", at, homeMount.Name, home))
	case homeMount.ReadOnly:
		out = append(out, fmt.Sprintf("%s: the identity volume at %s is read-only: the relay writes its key there on first start", at, home))
	case homeMount.SubPath != "":
		out = append(out, fmt.Sprintf("%s: the identity volume at %s uses subPath %q (fsGroup applies to the volume's root)", at, home, homeMount.SubPath))
	default:
		c := claims[homeMount.Name]
		rwo := false
		for _, a := range c.Spec.AccessModes {
			rwo = rwo || a == corev1.ReadWriteOnce || a == corev1.ReadWriteOncePod
		}
		if !rwo {
			out = append(out, fmt.Sprintf("%s: volumeClaimTemplate %q: want accessModes ReadWriteOnce (one relay per identity)", at, c.Name))
		}
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			out = append(out, fmt.Sprintf("%s: volumeClaimTemplate %q requests no storage", at, c.Name))
		}
	}
	return out
}

func checkSecurity(m *model) []string {
	var out []string
	at := m.sts.at
	pod := m.spec().SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	c := m.ctr.SecurityContext
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	// The container's setting wins over the pod's.
	nonRoot := c.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	uid := c.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	seccomp := c.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if nonRoot == nil || !*nonRoot {
		out = append(out, fmt.Sprintf("%s: set runAsNonRoot: true", at))
	}
	if uid == nil || *uid != m.img.uid {
		out = append(out, fmt.Sprintf("%s: set runAsUser: %d (the image's user, %s)", at, m.img.uid, m.img.source))
	}
	if pod.FSGroup == nil || *pod.FSGroup != m.img.uid {
		out = append(out, fmt.Sprintf("%s: set the pod's fsGroup: %d (the image's user), or the relay cannot write its key to the volume", at, m.img.uid))
	}
	if pod.FSGroupChangePolicy == nil || *pod.FSGroupChangePolicy != corev1.FSGroupChangeOnRootMismatch {
		out = append(out, fmt.Sprintf("%s: set fsGroupChangePolicy: OnRootMismatch: the default (Always) adds group bits to ~/.meshnet and the key on every mount, and the relay refuses a key others can read", at))
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		out = append(out, fmt.Sprintf("%s: set seccompProfile type RuntimeDefault", at))
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		out = append(out, fmt.Sprintf("%s: set readOnlyRootFilesystem: true (the relay writes only its volume)", at))
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		out = append(out, fmt.Sprintf("%s: set allowPrivilegeEscalation: false", at))
	}
	if c.Privileged != nil && *c.Privileged {
		out = append(out, fmt.Sprintf("%s: the relay needs no privileged container", at))
	}
	if c.Capabilities == nil || !containsCap(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		out = append(out, fmt.Sprintf("%s: capabilities: drop [ALL] and add none (4001 and 9464 need no privilege)", at))
	}
	if l := m.spec().EnableServiceLinks; l == nil || *l {
		out = append(out, fmt.Sprintf("%s: set enableServiceLinks: false: Services named mesh-relay-<N> would put MESH_RELAY_<N>_... variables into the namespace the relay reads its configuration from (it skips their shapes, but nothing there should be unexpected)", at))
	}
	return out
}

func checkAuthToken(m *model) []string {
	var out []string
	if _, ok := m.file["auth"]["auth_token"]; ok {
		out = append(out, fmt.Sprintf("%s: ConfigMap %q sets [auth] auth_token: a secret belongs in a Secret (MESH_RELAY_AUTH_AUTH_TOKEN from a secretKeyRef)", m.cm.at, m.cm.obj.Name))
	}
	for _, kv := range m.args.sets {
		if strings.HasPrefix(kv, "auth.auth_token=") {
			out = append(out, fmt.Sprintf("%s: --set auth.auth_token: a secret belongs in a Secret", m.sts.at))
		}
	}
	env := m.pods[0].env
	const tokenVar = envPrefix + "AUTH_AUTH_TOKEN"
	if _, set := env.vals[tokenVar]; set && !env.secret[tokenVar] {
		out = append(out, fmt.Sprintf("%s: env %s has a value in the manifest: take it from a Secret (secretKeyRef)", m.sts.at, tokenVar))
	}
	if m.pods[0].cfg.flag("auth", "auth_enabled") && !env.secret[tokenVar] {
		out = append(out, fmt.Sprintf("%s: [auth] auth_enabled = true, but %s does not come from a Secret", m.sts.at, tokenVar))
	}
	return out
}

// checkOverridden: a key of the ConfigMap's file that the environment (the image's or the
// pod's) or --set overrides with another value: the file's value has no effect.
func checkOverridden(m *model) []string {
	var out []string
	for _, p := range m.pods {
		for _, s := range sortedKeys(m.file) {
			for _, k := range sortedKeys(m.file[s]) {
				if fmt.Sprint(m.file[s][k]) != fmt.Sprint(p.cfg[s][k]) {
					out = append(out, fmt.Sprintf("%s: ConfigMap %q sets [%s] %s = %v, but the environment (the image's or the pod's) or --set makes it %v: the file's value has no effect", m.cm.at, m.cm.obj.Name, s, k, m.file[s][k], p.cfg[s][k]))
				}
			}
		}
	}
	return dedupe(out)
}

func checkMemory(m *model) []string {
	var out []string
	at := m.sts.at
	budget := m.pods[0].cfg.num("limits", "max_memory_mb")
	if budget == 0 {
		return []string{fmt.Sprintf("%s: ConfigMap %q: [limits] max_memory_mb = 0 sizes the budget by the node's memory (1/8 of it), not the container's: set it below the memory limit", m.cm.at, m.cm.obj.Name)}
	}
	lim, ok := m.ctr.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return []string{fmt.Sprintf("%s: the container has no memory limit; give it one above [limits] max_memory_mb = %d", at, budget)}
	}
	want := budget * 5 / 4
	if budget+memoryHeadroomMiB > want {
		want = budget + memoryHeadroomMiB
	}
	if got := lim.Value(); got < want<<20 {
		out = append(out, fmt.Sprintf("%s: memory limit %s is under %dMi: [limits] max_memory_mb = %d counts the relay's own allocations, not its RSS; leave a quarter more and at least %d MiB", at, lim.String(), want, budget, memoryHeadroomMiB))
	}
	req, ok := m.ctr.Resources.Requests[corev1.ResourceMemory]
	if !ok {
		out = append(out, fmt.Sprintf("%s: the container requests no memory", at))
	} else if req.Cmp(lim) > 0 {
		out = append(out, fmt.Sprintf("%s: memory request %s above the limit %s", at, req.String(), lim.String()))
	}
	return out
}

// checkExternalAddrs: each relay announces addresses of its own, which its per-pod Service
// serves.
func checkExternalAddrs(m *model) []string {
	var out []string
	owner := map[string]string{}
	for _, p := range m.pods {
		addrs := p.cfg.list("network", "external_addrs")
		if len(addrs) == 0 {
			out = append(out, fmt.Sprintf("pod %s: no [network] external_addrs: the relay would announce its pod addresses, which peers outside the cluster cannot reach", p.name))
			continue
		}
		svc := m.perPodService(p)
		for _, a := range addrs {
			if strings.Contains(a, "$(") {
				out = append(out, fmt.Sprintf("pod %s: external address %q: a $(VAR) that the container's env does not define", p.name, a))
				continue
			}
			e, err := parseAddr(a)
			if err != nil {
				out = append(out, fmt.Sprintf("pod %s: external address: %v", p.name, err))
				continue
			}
			if o, ok := owner[a]; ok && o != p.name {
				out = append(out, fmt.Sprintf("pods %s and %s announce the same address %s: each relay needs its own", o, p.name, a))
			}
			owner[a] = p.name
			if svc == nil {
				continue // checkPerPodServices says so
			}
			if !serviceServes(m, svc.obj, e) {
				out = append(out, fmt.Sprintf("%s: pod %s announces %s but its Service %s has no port %d/%s to the relay's %s listener", svc.at, p.name, a, svc.obj.Name, e.port, e.l4, map[corev1.Protocol]string{corev1.ProtocolTCP: "TCP", corev1.ProtocolUDP: "QUIC"}[e.l4]))
			}
			if h, ok := svc.obj.Annotations["external-dns.alpha.kubernetes.io/hostname"]; ok && strings.HasPrefix(e.proto, "dns") {
				if !contains(strings.Split(h, ","), e.host) {
					out = append(out, fmt.Sprintf("%s: pod %s announces %s, but its Service's external-dns hostname is %q", svc.at, p.name, e.host, h))
				}
			}
		}
	}
	return out
}

// serviceServes: a port of |svc| answers |e| (its port and protocol) and leads to the relay's
// listener for that protocol.
func serviceServes(m *model, svc *corev1.Service, e endpoint) bool {
	for _, sp := range svc.Spec.Ports {
		if sp.Port != e.port || protoOf(sp.Protocol) != e.l4 {
			continue
		}
		cp, ok := m.containerPort(targetPort(sp), e.l4)
		if ok && cp.ContainerPort != m.metricsPort() {
			return true
		}
	}
	return false
}

func targetPort(sp corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return intstr.FromInt32(sp.Port)
	}
	return sp.TargetPort
}

// perPodService is the public Service of one pod: selecting it by its pod-name label.
func (m *model) perPodService(p relayPod) *doc[corev1.Service] {
	for i := range m.b.services {
		s := &m.b.services[i]
		if s.obj.Spec.Selector[podNameLabel] == p.name && s.obj.Spec.Type == corev1.ServiceTypeLoadBalancer {
			return s
		}
	}
	return nil
}

func checkPerPodServices(m *model) []string {
	var out []string
	names := map[string]bool{}
	for _, p := range m.pods {
		names[p.name] = true
		n := 0
		for _, s := range m.b.services {
			if s.obj.Spec.Selector[podNameLabel] == p.name && s.obj.Spec.Type == corev1.ServiceTypeLoadBalancer {
				n++
				if !mapSelects(s.obj.Spec.Selector, p.labels) {
					out = append(out, fmt.Sprintf("%s: Service %s: its selector %v does not select pod %s (labels %v)", s.at, s.obj.Name, s.obj.Spec.Selector, p.name, p.labels))
				}
				if s.obj.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
					out = append(out, fmt.Sprintf("%s: Service %s: set externalTrafficPolicy: Local so the relay sees its peers' addresses (per-address limits, ACLs)", s.at, s.obj.Name))
				}
			}
		}
		switch {
		case n == 0:
			out = append(out, fmt.Sprintf("no LoadBalancer Service selects %s: %s: the relay has no public address of its own (one Service per replica)", podNameLabel, p.name))
		case n > 1:
			out = append(out, fmt.Sprintf("%d LoadBalancer Services select pod %s", n, p.name))
		}
	}
	for _, s := range m.b.services {
		if v, ok := s.obj.Spec.Selector[podNameLabel]; ok && !names[v] {
			out = append(out, fmt.Sprintf("%s: Service %s selects pod %s, which the StatefulSet (replicas) does not run", s.at, s.obj.Name, v))
		}
	}
	return out
}

func checkServices(m *model) []string {
	var out []string
	mp := m.metricsPort()
	for _, s := range m.b.services {
		if len(s.obj.Spec.Selector) == 0 {
			out = append(out, fmt.Sprintf("%s: Service %s has no selector", s.at, s.obj.Name))
			continue
		}
		selected := false
		for _, p := range m.pods {
			selected = selected || mapSelects(s.obj.Spec.Selector, p.labels)
		}
		if !selected {
			out = append(out, fmt.Sprintf("%s: Service %s selects no relay pod (selector %v, pod labels %v)", s.at, s.obj.Name, s.obj.Spec.Selector, m.pods[0].labels))
			continue
		}
		public := s.obj.Spec.Type == corev1.ServiceTypeLoadBalancer || s.obj.Spec.Type == corev1.ServiceTypeNodePort
		if public {
			if _, pinned := s.obj.Spec.Selector[podNameLabel]; !pinned {
				out = append(out, fmt.Sprintf("%s: Service %s (%s) spreads one address over every relay: a client must come back to the relay it reserved on; select one pod (%s)", s.at, s.obj.Name, s.obj.Spec.Type, podNameLabel))
			}
		}
		for _, sp := range s.obj.Spec.Ports {
			tp := targetPort(sp)
			cp, ok := m.containerPort(tp, protoOf(sp.Protocol))
			if !ok {
				out = append(out, fmt.Sprintf("%s: Service %s port %s: targetPort %s/%s is no container port", s.at, s.obj.Name, sp.Name, tp.String(), protoOf(sp.Protocol)))
				continue
			}
			if public && cp.ContainerPort == mp {
				out = append(out, fmt.Sprintf("%s: Service %s (%s) exposes the metrics port %d: it has no authentication; keep it inside the cluster", s.at, s.obj.Name, s.obj.Spec.Type, mp))
			}
		}
	}
	return out
}

func checkPDB(m *model) []string {
	if len(m.b.pdbs) == 0 {
		return []string{"no PodDisruptionBudget: a node drain could take every relay at once"}
	}
	var out []string
	covered := false
	for _, d := range m.b.pdbs {
		ok, msg := selectorMatches(d.obj.Spec.Selector, m.sts.obj.Spec.Template.Labels)
		if !ok {
			out = append(out, fmt.Sprintf("%s: PodDisruptionBudget %s does not select the relays: %s", d.at, d.obj.Name, msg))
			continue
		}
		covered = true
		mu := d.obj.Spec.MaxUnavailable
		if mu == nil && d.obj.Spec.MinAvailable == nil {
			out = append(out, fmt.Sprintf("%s: PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", d.at, d.obj.Name))
		}
		if mu != nil && mu.Type == intstr.Int && mu.IntVal < 1 {
			out = append(out, fmt.Sprintf("%s: maxUnavailable %d blocks every node drain", d.at, mu.IntVal))
		}
	}
	if !covered && len(out) == 0 {
		out = append(out, "no PodDisruptionBudget selects the relays")
	}
	return out
}

// checkNetworkPolicy: the libp2p ports open to all, the metrics port only to peers inside the
// cluster.
func checkNetworkPolicy(m *model) []string {
	var out []string
	mp := m.metricsPort()
	var rules []networkingv1.NetworkPolicyIngressRule
	var ats []where
	for _, d := range m.b.networkPolicies {
		sel := d.obj.Spec.PodSelector
		if ok, _ := selectorMatches(&sel, m.pods[0].labels); !ok {
			continue
		}
		ingress := len(d.obj.Spec.PolicyTypes) == 0
		for _, t := range d.obj.Spec.PolicyTypes {
			ingress = ingress || t == networkingv1.PolicyTypeIngress
		}
		if !ingress {
			continue
		}
		for _, r := range d.obj.Spec.Ingress {
			rules = append(rules, r)
			ats = append(ats, d.at)
		}
		if len(d.obj.Spec.Ingress) == 0 {
			ats = append(ats, d.at)
		}
	}
	if len(ats) == 0 {
		return []string{fmt.Sprintf("no NetworkPolicy isolates the relays' ingress: the metrics port %d (no authentication) is open to anyone who reaches a pod", mp)}
	}
	admits := func(r networkingv1.NetworkPolicyIngressRule, port int32, proto corev1.Protocol) bool {
		if len(r.Ports) == 0 {
			return true
		}
		for _, p := range r.Ports {
			if p.Protocol != nil && *p.Protocol != proto || p.Protocol == nil && proto != corev1.ProtocolTCP {
				continue
			}
			switch {
			case p.Port == nil:
				return true
			case p.Port.Type == intstr.String:
				if cp, ok := m.containerPort(*p.Port, proto); ok && cp.ContainerPort == port {
					return true
				}
			case p.Port.IntVal == port:
				return true
			case p.EndPort != nil && p.Port.IntVal <= port && port <= *p.EndPort:
				return true
			}
		}
		return false
	}
	fromAnywhere := func(r networkingv1.NetworkPolicyIngressRule) bool {
		if len(r.From) == 0 {
			return true
		}
		for _, f := range r.From {
			if f.IPBlock != nil && (f.IPBlock.CIDR == "0.0.0.0/0" || f.IPBlock.CIDR == "::/0") {
				return true
			}
		}
		return false
	}
	for _, ctrPort := range m.ctr.Ports {
		port, proto := ctrPort.ContainerPort, protoOf(ctrPort.Protocol)
		if port == mp && proto == corev1.ProtocolTCP {
			continue
		}
		open := false
		for _, r := range rules {
			open = open || admits(r, port, proto) && fromAnywhere(r)
		}
		if !open {
			out = append(out, fmt.Sprintf("%s: no ingress rule admits %d/%s from anywhere: peers could not reach the relay", ats[0], port, proto))
		}
	}
	scraped := false
	for i, r := range rules {
		if !admits(r, mp, corev1.ProtocolTCP) {
			continue
		}
		scraped = true
		if len(r.From) == 0 {
			out = append(out, fmt.Sprintf("%s: an ingress rule admits the metrics port %d from anywhere: keep it inside the cluster (namespace or pod selectors)", ats[i], mp))
		}
		for _, f := range r.From {
			if f.IPBlock != nil {
				out = append(out, fmt.Sprintf("%s: an ingress rule admits the metrics port %d from ipBlock %s: select namespaces or pods of the cluster instead", ats[i], mp, f.IPBlock.CIDR))
			}
		}
	}
	if !scraped {
		out = append(out, fmt.Sprintf("%s: no ingress rule admits the metrics port %d: Prometheus could not scrape the relays", ats[0], mp))
	}
	return out
}

func checkPrometheus(m *model) []string {
	var out []string
	a := m.sts.obj.Spec.Template.Annotations
	want := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(int(m.metricsPort())),
		"prometheus.io/path":   "/metrics",
	}
	for _, k := range sortedKeys(want) {
		if a[k] != want[k] {
			out = append(out, fmt.Sprintf("%s: pod annotation %s is %q; want %q ([metrics] listen_addr)", m.sts.at, k, a[k], want[k]))
		}
	}
	return out
}

// ---- helpers -------------------------------------------------------------------------------

func selectorMatches(s *metav1.LabelSelector, lbl map[string]string) (bool, string) {
	if s == nil {
		return false, "no selector"
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return false, err.Error()
	}
	if sel.Empty() {
		return true, ""
	}
	if !sel.Matches(labels.Set(lbl)) {
		return false, fmt.Sprintf("selector %s, labels %v", sel.String(), lbl)
	}
	return true, ""
}

// mapSelects is a Service's selector (every pair must be among the labels).
func mapSelects(sel, lbl map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lbl[k] != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func containsCap(list []corev1.Capability, s corev1.Capability) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
