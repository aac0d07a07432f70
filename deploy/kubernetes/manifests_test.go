// Tests of the Kubernetes manifests: every document of every YAML file here
// is decoded strictly (unknown or misspelt fields, duplicate keys and
// unknown kinds are errors) into the Go types of Kubernetes and of the
// prometheus-operator, and the objects are checked against each other: the
// StatefulSet's flags, mounts and security, the Secrets the config refers
// to, the Services' selectors, and what the ScrapeConfig's relabelling makes
// of every target — the tenant's shard, computed independently, must be the
// replica it is sent to.
package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"github.com/prometheus/common/model"
	yamlv2 "go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/deploy/prometheus/probecheck"
)

const namespace = "monitoring"

// decoder decodes YAML documents by apiVersion and kind into the registered
// Go types, strictly, as the API server does for kubectl's
// --validate=strict: unknown fields, fields in the wrong case and duplicate
// keys are errors, and so is a kind that is not registered.
func decoder(t testing.TB) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme,
		corev1.AddToScheme,
		policyv1.AddToScheme,
		monitoringv1.AddToScheme,
		monitoringv1alpha1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// kustomization is the part of kustomize's Kustomization these manifests
// use; decoding it strictly makes any other field an error here, so that a
// field added to kustomization.yaml is added here, knowingly.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is every object of the directory.
type manifests struct {
	kustomization kustomization
	files         []string // the YAML files, kustomization.yaml excepted
	objects       []runtime.Object
	fileOf        map[runtime.Object]string

	statefulSet  *appsv1.StatefulSet
	services     []*corev1.Service
	secrets      map[string]*corev1.Secret
	serviceAcct  *corev1.ServiceAccount
	pdb          *policyv1.PodDisruptionBudget
	scrapeConfig *monitoringv1alpha1.ScrapeConfig
	podMonitor   *monitoringv1.PodMonitor
}

// splitDocuments returns the YAML documents of data that hold something
// other than comments.
func splitDocuments(data []byte) ([][]byte, error) {
	r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue
		}
		docs = append(docs, doc)
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	paths, err := filepath.Glob("*.y*ml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no YAML files")
	}
	dec := decoder(t)
	m := &manifests{secrets: map[string]*corev1.Secret{}, fileOf: map[runtime.Object]string{}}
	for _, path := range paths {
		if filepath.Ext(path) != ".yaml" {
			t.Errorf("%s: name YAML files *.yaml", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(docs) == 0 {
			t.Errorf("%s: no document", path)
		}
		if path == "kustomization.yaml" {
			if len(docs) != 1 {
				t.Fatalf("%s: %d documents, want 1", path, len(docs))
			}
			j, err := sigsyaml.YAMLToJSONStrict(docs[0])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			strict, err := sigsjson.UnmarshalStrict(j, &m.kustomization)
			if err != nil || len(strict) > 0 {
				t.Fatalf("%s: %v %v", path, err, strict)
			}
			continue
		}
		m.files = append(m.files, path)
		for i, doc := range docs {
			obj, gvk, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s, document %d: %v", path, i+1, err)
				continue
			}
			m.objects = append(m.objects, obj)
			m.fileOf[obj] = path
			switch o := obj.(type) {
			case *appsv1.StatefulSet:
				if m.statefulSet != nil {
					t.Errorf("%s: a second StatefulSet", path)
				}
				m.statefulSet = o
			case *corev1.Service:
				m.services = append(m.services, o)
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.ServiceAccount:
				m.serviceAcct = o
			case *policyv1.PodDisruptionBudget:
				m.pdb = o
			case *monitoringv1alpha1.ScrapeConfig:
				if m.scrapeConfig != nil {
					t.Errorf("%s: a second ScrapeConfig", path)
				}
				m.scrapeConfig = o
			case *monitoringv1.PodMonitor:
				m.podMonitor = o
			default:
				t.Errorf("%s, document %d: %s is registered for decoding but not checked by this test", path, i+1, gvk)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for name, got := range map[string]bool{
		"StatefulSet":         m.statefulSet != nil,
		"Service":             len(m.services) > 0,
		"ServiceAccount":      m.serviceAcct != nil,
		"PodDisruptionBudget": m.pdb != nil,
		"ScrapeConfig":        m.scrapeConfig != nil,
		"PodMonitor":          m.podMonitor != nil,
	} {
		if !got {
			t.Fatalf("no %s", name)
		}
	}
	return m
}

// TestDecoderIsStrict makes sure that the decoder used here refuses what the
// API server would: without this, a lenient decoder would pass anything.
func TestDecoderIsStrict(t *testing.T) {
	dec := decoder(t)
	for name, doc := range map[string]string{
		"unknown field":           "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 3}\n",
		"field in the wrong case": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {Replicas: 3}\n",
		"duplicate key":           "apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"unknown kind":            "apiVersion: v1\nkind: Servcie\nmetadata: {name: x}\n",
		"unknown version":         "apiVersion: monitoring.coreos.com/v1\nkind: ScrapeConfig\nmetadata: {name: x}\n",
		"unknown CR field":        "apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata: {name: x}\nspec: {relabelings: [{source_labels: [a]}]}\n",
		"wrong type":              "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: three}\n",
		"no kind":                 "apiVersion: v1\nmetadata: {name: x}\n",
		"invalid quantity":        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, resources: {limits: {memory: 12 MB}}}]}\n",
	} {
		if _, _, err := dec.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	// And it does decode what is right.
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: 3}\n",
		"apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata: {name: x}\nspec: {relabelings: [{sourceLabels: [a]}]}\n",
	} {
		if _, _, err := dec.Decode([]byte(doc), nil, nil); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestObjects(t *testing.T) {
	m := load(t)
	seen := map[string]string{}
	for _, obj := range m.objects {
		meta, err := metaOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		where := fmt.Sprintf("%s: %s %q", m.fileOf[obj], kind, meta.Name)
		if meta.Namespace != namespace {
			t.Errorf("%s: namespace %q, want %q", where, meta.Namespace, namespace)
		}
		for _, msg := range validation.IsDNS1123Subdomain(meta.Name) {
			t.Errorf("%s: name: %s", where, msg)
		}
		if kind == "Service" || kind == "StatefulSet" {
			for _, msg := range validation.IsDNS1035Label(meta.Name) {
				t.Errorf("%s: name: %s", where, msg)
			}
		}
		checkLabels(t, where, meta.Labels)
		if meta.Labels["app.kubernetes.io/name"] != "imichat-exporter" {
			t.Errorf("%s: no label app.kubernetes.io/name: imichat-exporter", where)
		}
		if prev, ok := seen[kind+"/"+meta.Name]; ok {
			t.Errorf("%s: also defined in %s", where, prev)
		}
		seen[kind+"/"+meta.Name] = m.fileOf[obj]
	}
}

func metaOf(obj runtime.Object) (*metav1.ObjectMeta, error) {
	o, ok := obj.(interface{ GetObjectMeta() metav1.Object })
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	om, ok := o.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("%T: unexpected ObjectMeta", obj)
	}
	return om, nil
}

func checkLabels(t *testing.T, where string, ls map[string]string) {
	t.Helper()
	for k, v := range ls {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s=%q: %s", where, k, v, msg)
		}
	}
}

func TestKustomization(t *testing.T) {
	m := load(t)
	k := m.kustomization
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization.yaml: namespace %q, want %q", k.Namespace, namespace)
	}
	resources := slices.Clone(k.Resources)
	sort.Strings(resources)
	if !slices.Equal(resources, m.files) {
		t.Errorf("kustomization.yaml: resources %v, want every manifest of the directory: %v", resources, m.files)
	}
	exporter := container(t, m.statefulSet, "exporter")
	found := false
	for _, img := range k.Images {
		if img.Name == exporter.Image {
			found = true
			if img.NewName == "" || img.NewTag == "" {
				t.Errorf("kustomization.yaml: image %s needs newName and newTag", img.Name)
			}
		}
	}
	if !found {
		t.Errorf("kustomization.yaml: no images entry for the exporter's image %q", exporter.Image)
	}
}

func container(t *testing.T, sts *appsv1.StatefulSet, name string) *corev1.Container {
	t.Helper()
	for i := range sts.Spec.Template.Spec.Containers {
		if c := &sts.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("StatefulSet %s: no container %q", sts.Name, name)
	return nil
}

// flag returns the value of --name=value in args, and whether it is there
// exactly once.
func flag(args []string, name string) (string, bool) {
	var vals []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// secretMount is where container c mounts the Secret named secret, and the
// volume.
func secretMount(t *testing.T, sts *appsv1.StatefulSet, c *corev1.Container, secret string) (string, *corev1.SecretVolumeSource) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName == secret {
				if !vm.ReadOnly {
					t.Errorf("container %s: Secret %s mounted read-write", c.Name, secret)
				}
				if vm.SubPath != "" || vm.SubPathExpr != "" {
					t.Errorf("container %s: Secret %s mounted with a subPath: the kubelet would never update it", c.Name, secret)
				}
				return vm.MountPath, v.Secret
			}
		}
	}
	t.Fatalf("container %s does not mount the Secret %s", c.Name, secret)
	return "", nil
}

// secretFile is the key of secret that the file path names when secret is
// mounted at dir without items, if it has such a key.
func secretFile(secret *corev1.Secret, dir, path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, dir+"/")
	if !ok || strings.Contains(rel, "/") {
		return "", false
	}
	if _, ok := secret.StringData[rel]; ok {
		return rel, true
	}
	if _, ok := secret.Data[rel]; ok {
		return rel, true
	}
	return "", false
}

func secretValue(s *corev1.Secret, key string) string {
	if v, ok := s.StringData[key]; ok {
		return v
	}
	return string(s.Data[key])
}

var shardArg = regexp.MustCompile(`^\$\(([A-Z_][A-Z0-9_]*)\)/([0-9]+)$`)

// shards is the N of --config.shard=$(POD_INDEX)/N.
func shards(t *testing.T, m *manifests) uint64 {
	t.Helper()
	c := container(t, m.statefulSet, "exporter")
	v, ok := flag(c.Args, "config.shard")
	if !ok {
		t.Fatalf("exporter: --config.shard missing or repeated in %q", c.Args)
	}
	sm := shardArg.FindStringSubmatch(v)
	if sm == nil {
		t.Fatalf("exporter: --config.shard=%s, want $(POD_INDEX)/N", v)
	}
	n, err := strconv.ParseUint(sm[2], 10, 32)
	if err != nil || n == 0 {
		t.Fatalf("exporter: --config.shard=%s: N must be a positive integer", v)
	}
	return n
}

func TestStatefulSet(t *testing.T) {
	m := load(t)
	sts := m.statefulSet
	spec := sts.Spec
	pod := spec.Template.Spec

	if spec.Replicas == nil || *spec.Replicas < 1 {
		t.Fatal("StatefulSet: replicas must be set")
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel", spec.PodManagementPolicy)
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v", spec.Selector, err)
	}
	if !sel.Matches(labels.Set(spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod template's labels %v", spec.Selector, spec.Template.Labels)
	}
	checkLabels(t, "pod template", spec.Template.Labels)

	c := container(t, sts, "exporter")
	if c.Image != "imichat_exporter" {
		t.Errorf("exporter: image %q, want imichat_exporter (kustomization.yaml sets registry and tag)", c.Image)
	}

	// --config.shard=$(POD_INDEX)/N: N replicas, the index from the label
	// the StatefulSet controller puts on its pods.
	n := shards(t, m)
	if n != uint64(*spec.Replicas) {
		t.Errorf("--config.shard=…/%d but %d replicas", n, *spec.Replicas)
	}
	v, _ := flag(c.Args, "config.shard")
	envName := shardArg.FindStringSubmatch(v)[1]
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == envName {
			env = &c.Env[i]
		}
	}
	// Kubernetes expands $(VAR) in args only for a variable defined in
	// the container; otherwise the exporter would get "$(POD_INDEX)".
	if env == nil {
		t.Fatalf("exporter: --config.shard uses $(%s), which the container does not define", envName)
	}
	if env.ValueFrom == nil || env.ValueFrom.FieldRef == nil ||
		env.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("exporter: %s must come from the downward API, fieldPath metadata.labels['apps.kubernetes.io/pod-index']", envName)
	}

	// --config.file names a key of the config Secret, where it is mounted.
	cfgPath, ok := flag(c.Args, "config.file")
	if !ok {
		t.Fatalf("exporter: --config.file missing or repeated in %q", c.Args)
	}
	cfgSecret := m.secrets["imichat-exporter-config"]
	if cfgSecret == nil {
		t.Fatal("no Secret imichat-exporter-config")
	}
	dir, vol := secretMount(t, sts, c, cfgSecret.Name)
	if len(vol.Items) > 0 {
		t.Errorf("config volume: items given; mount the whole Secret")
	}
	if _, ok := secretFile(cfgSecret, dir, cfgPath); !ok {
		t.Errorf("--config.file=%s is no key of Secret %s mounted at %s", cfgPath, cfgSecret.Name, dir)
	}

	port := containerPort(t, c, "http")
	if port != 9878 {
		t.Errorf("exporter: port http is %d, want 9878", port)
	}
	if v, ok := flag(c.Args, "web.listen-address"); ok {
		if _, p, err := net.SplitHostPort(v); err != nil || p != strconv.Itoa(int(port)) {
			t.Errorf("--web.listen-address=%s does not listen on the container port %d", v, port)
		}
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("exporter: no HTTP %s probe", name)
			continue
		}
		if want := map[string]string{"liveness": "/-/healthy", "readiness": "/-/ready"}[name]; p.HTTPGet.Path != want {
			t.Errorf("exporter: %s probe on %q, want %s", name, p.HTTPGet.Path, want)
		}
		if p.HTTPGet.Port.String() != "http" && p.HTTPGet.Port.IntValue() != int(port) {
			t.Errorf("exporter: %s probe on port %s, not the exporter's", name, p.HTTPGet.Port.String())
		}
	}

	// The config reloader watches the config's directory and posts to the
	// exporter's /-/reload, which the exporter serves only with
	// --web.enable-lifecycle.
	if !slices.Contains(c.Args, "--web.enable-lifecycle") {
		t.Error("exporter: no --web.enable-lifecycle: the config-reloader's POST /-/reload would be refused")
	}
	r := container(t, sts, "config-reloader")
	rdir, _ := secretMount(t, sts, r, cfgSecret.Name)
	if rdir != dir {
		t.Errorf("config-reloader mounts the config at %s, the exporter at %s", rdir, dir)
	}
	if v, ok := flag(r.Args, "watched-dir"); !ok || v != filepath.Dir(cfgPath) {
		t.Errorf("config-reloader: --watched-dir=%s, want %s", v, filepath.Dir(cfgPath))
	}
	if v, ok := flag(r.Args, "reload-url"); !ok {
		t.Error("config-reloader: no --reload-url")
	} else if u, err := url.Parse(v); err != nil || u.Host != net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) || u.Path != "/-/reload" {
		t.Errorf("config-reloader: --reload-url=%s, want http://127.0.0.1:%d/-/reload", v, port)
	}

	// Security: no service account token, non-root, read-only, no
	// capabilities, no privilege escalation, resources, read-only mounts.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod: automountServiceAccountToken must be false")
	}
	if m.serviceAcct.Name != pod.ServiceAccountName {
		t.Errorf("pod: serviceAccountName %q, ServiceAccount %q", pod.ServiceAccountName, m.serviceAcct.Name)
	}
	if m.serviceAcct.AutomountServiceAccountToken == nil || *m.serviceAcct.AutomountServiceAccountToken {
		t.Error("ServiceAccount: automountServiceAccountToken must be false")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Fatal("pod: securityContext must set runAsNonRoot and a non-zero runAsUser")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile RuntimeDefault")
	}
	if len(pod.InitContainers) > 0 || len(pod.EphemeralContainers) > 0 {
		t.Error("pod: init or ephemeral containers are not checked here")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod: host namespaces")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as root", c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: requests cpu and memory", c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: no memory limit", c.Name)
		} else if c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()) < 0 {
			t.Errorf("%s: memory limit below the request", c.Name)
		}
		if c.LivenessProbe == nil {
			t.Errorf("%s: no liveness probe", c.Name)
		}
		for _, vm := range c.VolumeMounts {
			if !vm.ReadOnly {
				t.Errorf("%s: volume %s mounted read-write", c.Name, vm.Name)
			}
		}
		if strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %s: pin a version", c.Name, c.Image)
		}
	}

	// Secret files: readable by the pod's group (fsGroup, which the
	// kubelet gives them; their owner is root), by no one else, writable by
	// none. Mode 0400 would leave them unreadable by a non-root user.
	if psc.FSGroup == nil || psc.RunAsGroup == nil || *psc.FSGroup != *psc.RunAsGroup {
		t.Error("pod: fsGroup must equal runAsGroup, so that the Secret files are readable")
	}
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			t.Errorf("volume %s: only Secret volumes are checked here", v.Name)
			continue
		}
		if v.Secret.DefaultMode == nil {
			t.Errorf("volume %s: set defaultMode (the default, 0644, is world-readable)", v.Name)
			continue
		}
		if mode := *v.Secret.DefaultMode; mode != 0o440 {
			t.Errorf("volume %s: defaultMode %#o, want 0440", v.Name, mode)
		}
		if v.Secret.Optional != nil && *v.Secret.Optional {
			t.Errorf("volume %s: the Secret must not be optional", v.Name)
		}
	}
}

func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s: no port %q", c.Name, name)
	return 0
}

// config loads the config Secret's file with the exporter's own loader
// (package config: strict YAML, every setting checked, every token file
// read). The token files are the tokens Secret's keys, written to a
// temporary directory that stands in for the directory the Secret is
// mounted at.
func config(t *testing.T, m *manifests) *tenantconfig.Config {
	t.Helper()
	c := container(t, m.statefulSet, "exporter")
	path, _ := flag(c.Args, "config.file")
	secret := m.secrets["imichat-exporter-config"]
	if secret == nil {
		t.Fatal("no Secret imichat-exporter-config")
	}
	key, ok := secretFile(secret, filepath.Dir(path), path)
	if !ok {
		t.Fatalf("--config.file=%s is not in Secret %s", path, secret.Name)
	}
	tokens := m.secrets["imichat-exporter-tokens"]
	if tokens == nil {
		t.Fatal("no Secret imichat-exporter-tokens")
	}
	tokensDir, vol := secretMount(t, m.statefulSet, c, tokens.Name)
	if len(vol.Items) > 0 {
		t.Errorf("tokens volume: items given; mount the whole Secret, so that a new tenant's token needs no change here")
	}
	tmp := t.TempDir()
	for _, k := range secretKeys(tokens) {
		if err := os.WriteFile(filepath.Join(tmp, k), []byte(secretValue(tokens, k)), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	raw := secretValue(secret, key)
	if strings.Contains(raw, tmp) {
		t.Fatal("temporary directory already in the config")
	}
	raw = strings.ReplaceAll(raw, tokensDir+"/", tmp+"/")
	cfg, err := tenantconfig.Parse([]byte(raw), filepath.Dir(path), tenantconfig.Options{})
	if err != nil {
		t.Fatalf("Secret %s, %s: the exporter refuses it (token files: the keys of Secret %s, here in %s): %v",
			secret.Name, key, tokens.Name, tmp, err)
	}
	for name, tc := range cfg.Tenants {
		rel, ok := strings.CutPrefix(tc.AccessTokenFile, tmp+"/")
		if !ok {
			t.Errorf("tenant %s: access_token_file %s is not in %s, where Secret %s is mounted",
				name, tc.AccessTokenFile, tokensDir, tokens.Name)
			continue
		}
		tc.AccessTokenFile = tokensDir + "/" + rel
	}
	return cfg
}

func secretKeys(s *corev1.Secret) []string {
	keys := slices.Concat(slices.Collect(maps.Keys(s.StringData)), slices.Collect(maps.Keys(s.Data)))
	sort.Strings(keys)
	return keys
}

func TestConfigAndTokens(t *testing.T) {
	m := load(t)
	cfg := config(t, m)
	tokens := m.secrets["imichat-exporter-tokens"]
	dir, _ := secretMount(t, m.statefulSet, container(t, m.statefulSet, "exporter"), tokens.Name)
	used := map[string]bool{}
	for name, tc := range cfg.Tenants {
		if u, err := url.Parse(tc.URL); err != nil || u.Scheme != "https" {
			t.Errorf("tenant %s: url %q must be https", name, tc.URL)
		}
		key, ok := secretFile(tokens, dir, tc.AccessTokenFile)
		if !ok {
			t.Errorf("tenant %s: access_token_file %s is no key of Secret %s, which is mounted at %s",
				name, tc.AccessTokenFile, tokens.Name, dir)
			continue
		}
		used[key] = true
	}
	for _, k := range secretKeys(tokens) {
		if !used[k] {
			t.Errorf("Secret %s: key %s belongs to no tenant", tokens.Name, k)
		}
		// Never a real token in the repository.
		if v := secretValue(tokens, k); !strings.HasPrefix(v, "CHANGE_ME") {
			t.Errorf("Secret %s, key %s: must stay a CHANGE_ME placeholder in the repository", tokens.Name, k)
		}
	}
}

func headlessService(t *testing.T, m *manifests) *corev1.Service {
	t.Helper()
	for _, s := range m.services {
		if s.Name == m.statefulSet.Spec.ServiceName {
			return s
		}
	}
	t.Fatalf("no Service %q (the StatefulSet's serviceName)", m.statefulSet.Spec.ServiceName)
	return nil
}

func TestServices(t *testing.T) {
	m := load(t)
	pod := m.statefulSet.Spec.Template
	hs := headlessService(t, m)
	if hs.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless: per-pod DNS names)", hs.Name, hs.Spec.ClusterIP)
	}
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s: no selector", s.Name)
		}
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Errorf("Service %s: selector %v does not select the pods (%v)", s.Name, s.Spec.Selector, pod.Labels)
		}
		for _, p := range s.Spec.Ports {
			if !portResolves(pod.Spec.Containers, p.TargetPort.String(), p.TargetPort.IntValue()) {
				t.Errorf("Service %s: targetPort %s is no container port", s.Name, p.TargetPort.String())
			}
		}
	}
	c := container(t, m.statefulSet, "exporter")
	if servicePort(t, hs, "http") != containerPort(t, c, "http") {
		t.Errorf("Service %s: port http is not the exporter's port", hs.Name)
	}

	// The PodDisruptionBudget and the PodMonitor select the same pods.
	sel, err := metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("PodDisruptionBudget: selector %v does not select the pods: %v", m.pdb.Spec.Selector, err)
	}
	if m.pdb.Spec.MaxUnavailable == nil || m.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Error("PodDisruptionBudget: maxUnavailable 1")
	}
	sel, err = metav1.LabelSelectorAsSelector(&m.podMonitor.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("PodMonitor: selector %v does not select the pods: %v", m.podMonitor.Spec.Selector, err)
	}
	if len(m.podMonitor.Spec.PodMetricsEndpoints) == 0 {
		t.Error("PodMonitor: no endpoints")
	}
	for _, ep := range m.podMonitor.Spec.PodMetricsEndpoints {
		if ep.Port == nil || !portResolves(pod.Spec.Containers, *ep.Port, 0) {
			t.Errorf("PodMonitor: endpoint port %v is no named container port", ep.Port)
		}
		if ep.Path != "/metrics" {
			t.Errorf("PodMonitor: path %q, want /metrics", ep.Path)
		}
		checkDuration(t, "PodMonitor interval", string(ep.Interval))
	}
}

func portResolves(cs []corev1.Container, name string, number int) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name || (number != 0 && int(p.ContainerPort) == number) {
				return true
			}
		}
	}
	return false
}

func servicePort(t *testing.T, s *corev1.Service, name string) int32 {
	t.Helper()
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	t.Fatalf("Service %s: no port %q", s.Name, name)
	return 0
}

// checkDuration applies the prometheus-operator's CRD pattern for Duration,
// which the Go type does not enforce.
func checkDuration(t *testing.T, what, d string) {
	t.Helper()
	if d == "" {
		return
	}
	if _, err := model.ParseDuration(d); err != nil {
		t.Errorf("%s %q: %v", what, d, err)
	}
}

// scrapeJob turns the ScrapeConfig into the job the prometheus-operator
// generates (pkg/prometheus/promcfg.go, generateScrapeConfig and
// generateRelabelConfig): its job_name, its leading rules — the job into
// __tmp_prometheus_job_name, then spec.jobName into job — and then the
// relabelings, each written with only the keys that are set and the action
// in lower case, for Prometheus to fill in its defaults.
func scrapeJob(t *testing.T, sc *monitoringv1alpha1.ScrapeConfig) probecheck.Job {
	t.Helper()
	rules := []yamlv2.MapSlice{
		{{Key: "source_labels", Value: []string{"job"}}, {Key: "target_label", Value: "__tmp_prometheus_job_name"}},
	}
	if sc.Spec.JobName != nil {
		rules = append(rules, yamlv2.MapSlice{
			{Key: "target_label", Value: "job"}, {Key: "action", Value: "replace"}, {Key: "replacement", Value: *sc.Spec.JobName},
		})
	}
	for _, c := range sc.Spec.RelabelConfigs {
		r := yamlv2.MapSlice{}
		if len(c.SourceLabels) > 0 {
			r = append(r, yamlv2.MapItem{Key: "source_labels", Value: c.SourceLabels})
		}
		if c.Separator != nil {
			r = append(r, yamlv2.MapItem{Key: "separator", Value: *c.Separator})
		}
		if c.TargetLabel != "" {
			r = append(r, yamlv2.MapItem{Key: "target_label", Value: c.TargetLabel})
		}
		if c.Regex != "" {
			r = append(r, yamlv2.MapItem{Key: "regex", Value: c.Regex})
		}
		if c.Modulus != 0 {
			r = append(r, yamlv2.MapItem{Key: "modulus", Value: c.Modulus})
		}
		if c.Replacement != nil {
			r = append(r, yamlv2.MapItem{Key: "replacement", Value: *c.Replacement})
		}
		if c.Action != "" {
			r = append(r, yamlv2.MapItem{Key: "action", Value: strings.ToLower(c.Action)})
		}
		rules = append(rules, r)
	}
	data, err := yamlv2.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := probecheck.ParseRelabelConfigs(data)
	if err != nil {
		t.Fatalf("ScrapeConfig %s: relabelings: %v\n%s", sc.Name, err, data)
	}
	spec := sc.Spec
	job := probecheck.Job{
		Name:           "scrapeConfig/" + sc.Namespace + "/" + sc.Name,
		Scheme:         "http",
		MetricsPath:    "/metrics",
		ScrapeInterval: "30s", // the operator's default
		ScrapeTimeout:  "10s",
		Relabel:        cfgs,
	}
	if spec.Scheme != nil {
		job.Scheme = spec.Scheme.String()
	}
	if spec.MetricsPath != nil {
		job.MetricsPath = *spec.MetricsPath
	}
	if spec.ScrapeInterval != nil {
		job.ScrapeInterval = string(*spec.ScrapeInterval)
	}
	if spec.ScrapeTimeout != nil {
		job.ScrapeTimeout = string(*spec.ScrapeTimeout)
	}
	return job
}

func TestScrapeConfig(t *testing.T) {
	m := load(t)
	sc := m.scrapeConfig
	spec := sc.Spec
	n := shards(t, m)
	if n != uint64(*m.statefulSet.Spec.Replicas) {
		t.Fatalf("--config.shard=…/%d but %d replicas", n, *m.statefulSet.Spec.Replicas)
	}

	if spec.JobName == nil || *spec.JobName == "" {
		t.Error("ScrapeConfig: set jobName")
	}
	if spec.MetricsPath == nil || *spec.MetricsPath != "/probe" {
		t.Error("ScrapeConfig: metricsPath must be /probe")
	}
	if len(spec.Params) > 0 {
		t.Error("ScrapeConfig: params: the target comes from each target's __param_target label")
	}
	if s := spec.Scheme; s != nil && !slices.Contains([]string{"http", "https", "HTTP", "HTTPS"}, string(*s)) {
		t.Errorf("ScrapeConfig: scheme %q", *s)
	}
	for what, d := range map[string]*monitoringv1.Duration{"scrapeInterval": spec.ScrapeInterval, "scrapeTimeout": spec.ScrapeTimeout} {
		if d != nil {
			checkDuration(t, "ScrapeConfig "+what, string(*d))
		}
	}
	if spec.ScrapeInterval != nil && spec.ScrapeTimeout != nil {
		i, _ := model.ParseDuration(string(*spec.ScrapeInterval))
		to, _ := model.ParseDuration(string(*spec.ScrapeTimeout))
		if to > i {
			t.Error("ScrapeConfig: scrapeTimeout above scrapeInterval")
		}
	}
	for _, c := range spec.RelabelConfigs {
		if strings.HasPrefix(c.TargetLabel, "__tmp_hash") || strings.HasPrefix(c.TargetLabel, "__tmp_prometheus") || c.TargetLabel == "__tmp_disable_sharding" {
			t.Errorf("ScrapeConfig: target label %s is the operator's", c.TargetLabel)
		}
	}

	job := scrapeJob(t, sc)
	modulus, source, _, err := probecheck.HashmodModulus(job.Relabel)
	if err != nil {
		t.Fatalf("ScrapeConfig: %v", err)
	}
	if modulus != n {
		t.Errorf("ScrapeConfig: hashmod modulus %d, but %d shards", modulus, n)
	}
	if !slices.Equal(source, []string{"tenant"}) {
		t.Errorf("ScrapeConfig: hashmod over %v, want [tenant] alone (the exporter hashes the tenant name)", source)
	}

	// The address of replica i: its pod's name under the headless
	// Service, at the Service's port.
	hs := headlessService(t, m)
	port := servicePort(t, hs, "http")
	address := func(shard uint64) string {
		return net.JoinHostPort(
			fmt.Sprintf("%s-%d.%s.%s.svc", m.statefulSet.Name, shard, hs.Name, hs.Namespace),
			strconv.Itoa(int(port)))
	}

	// Replica i runs with --config.shard as the kubelet expands it, read
	// by the exporter's own code.
	shardArgValue, _ := flag(container(t, m.statefulSet, "exporter").Args, "config.shard")
	replicaShard := make([]tenantconfig.Shard, n)
	for i := range n {
		v := strings.ReplaceAll(shardArgValue, "$("+shardArg.FindStringSubmatch(shardArgValue)[1]+")", strconv.FormatUint(i, 10))
		sh, err := tenantconfig.ParseShard(v)
		if err != nil {
			t.Fatalf("replica %d: --config.shard=%s: %v", i, v, err)
		}
		replicaShard[i] = sh
	}
	// owner is the one replica that runs tenant, by the exporter's code;
	// it must be the shard computed here independently.
	owner := func(tenant string) uint64 {
		var owners []uint64
		for i, sh := range replicaShard {
			if sh.Owns(tenant) {
				owners = append(owners, uint64(i))
			}
		}
		if len(owners) != 1 {
			t.Fatalf("tenant %s: run by replicas %v, want exactly one", tenant, owners)
		}
		if want := probecheck.Shard(tenant, n); owners[0] != want {
			t.Errorf("tenant %s: the exporter runs it on replica %d, hashmod says %d", tenant, owners[0], want)
		}
		return owners[0]
	}

	// Every target of the ScrapeConfig: its tenant and team exist in
	// the config, and it goes to the replica that runs the tenant.
	cfg := config(t, m)
	for i, sh := range replicaShard {
		if len(cfg.Only(sh).Tenants) == 0 {
			t.Errorf("replica %d runs no tenant of the example", i)
		}
	}
	covered := map[probecheck.Target]bool{}
	perShard := map[uint64]int{}
	if len(spec.StaticConfigs) == 0 {
		t.Fatal("ScrapeConfig: no staticConfigs")
	}
	for _, st := range spec.StaticConfigs {
		for _, raw := range st.Targets {
			target, err := probecheck.ParseTarget(string(raw))
			if err != nil {
				t.Error(err)
				continue
			}
			tc, ok := cfg.Tenants[target.Tenant]
			switch {
			case !ok:
				t.Errorf("target %s: tenant %s is not in the config", raw, target.Tenant)
			case target.Team == "" && len(tc.Teams) != 1:
				t.Errorf("target %s: tenant %s has %d teams; name one", raw, target.Tenant, len(tc.Teams))
			case target.Team != "" && !slices.Contains(tc.Teams, tenantconfig.TeamID(target.Team)):
				t.Errorf("target %s: team %s is not among tenant %s's teams %v", raw, target.Team, target.Tenant, tc.Teams)
			}
			if covered[target] {
				t.Errorf("target %s listed twice", raw)
			}
			covered[target] = true
			shard := owner(target.Tenant)
			perShard[shard]++
			probecheck.Check(t, job, target, address(shard))
			if res, err := probecheck.Apply(job, target.String()); err == nil {
				if got := res.Labels.Get("job"); got != *spec.JobName {
					t.Errorf("target %s: job %q, want %q", raw, got, *spec.JobName)
				}
			}
		}
	}
	// Every team of the config is scraped.
	for name, tc := range cfg.Tenants {
		for _, id := range tc.Teams {
			team := string(id)
			if !covered[probecheck.Target{Tenant: name, Team: team}] &&
				!(len(tc.Teams) == 1 && covered[probecheck.Target{Tenant: name}]) {
				t.Errorf("tenant %s, team %s: no target in the ScrapeConfig", name, team)
			}
		}
	}
	// The example covers every shard.
	for i := range n {
		if perShard[i] == 0 {
			t.Errorf("no example target on shard %d", i)
		}
	}

	// More tenants than the example: the relabelling and the independent
	// computation agree for every name, with and without team, and the
	// tenants reach every replica.
	hit := map[uint64]bool{}
	for _, tenant := range probecheck.SampleTenants() {
		shard := owner(tenant)
		hit[shard] = true
		probecheck.Check(t, job, probecheck.Target{Tenant: tenant, Team: "4711"}, address(shard))
		probecheck.Check(t, job, probecheck.Target{Tenant: tenant}, address(shard))
	}
	if uint64(len(hit)) != n {
		t.Errorf("sample tenants reach %d of %d shards", len(hit), n)
	}

	// A target that is not TENANT[/TEAM] gets no tenant: the exporter
	// answers the probe with an error and the target shows up down, rather
	// than probing a tenant nobody meant.
	for _, bad := range []string{"Acme/4711", "acme/47/11", "acme/"} {
		res, err := probecheck.Apply(job, bad)
		if err != nil {
			t.Errorf("target %q: %v", bad, err)
			continue
		}
		if got := res.Labels.Get("tenant"); got != "" {
			t.Errorf("target %q: tenant %q, want none (the exporter answers 400)", bad, got)
		}
	}
}
