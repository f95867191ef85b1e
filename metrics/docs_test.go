package metrics_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/sessionkit/session/degrade"
)

const monitoringDir = "../docs/monitoring"

// exported returns the sample names the library exports (histograms give
// _bucket, _sum and _count) with their label names, gathered from a
// registry after traffic through a real manager and the fail-over hooks.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	ev := newTestEnv(t)
	scriptedTraffic(t, ev)
	mfs, err := ev.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names[mf.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			names[mf.GetName()+"_sum"] = labels
			names[mf.GetName()+"_count"] = labels
		} else {
			names[mf.GetName()] = labels
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d sample names gathered: %v", len(names), names)
	}
	return names
}

var (
	metricRef   = regexp.MustCompile(`\bsession_[a-zA-Z0-9_]+`)
	selectorRef = regexp.MustCompile(`\b(session_[a-zA-Z0-9_]+)\{([^}]*)\}`)
	matcherKey  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	groupingRef = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// checkQuery checks that every metric a PromQL query names is exported and
// that its label matchers and groupings use labels those metrics have (or
// the target labels job and instance). It returns the names it found.
func checkQuery(t *testing.T, where, q string, names map[string][]string) []string {
	t.Helper()
	found := metricRef.FindAllString(q, -1)
	allowed := []string{"job", "instance"}
	for _, name := range found {
		labels, ok := names[name]
		if !ok {
			t.Errorf("%s: %q is not a metric the library exports (query %q)", where, name, q)
			continue
		}
		allowed = append(allowed, labels...)
	}
	for _, sel := range selectorRef.FindAllStringSubmatch(q, -1) {
		for _, m := range matcherKey.FindAllStringSubmatch(sel[2], -1) {
			if !slices.Contains(names[sel[1]], m[1]) {
				t.Errorf("%s: %s has no label %q (query %q)", where, sel[1], m[1], q)
			}
		}
	}
	for _, g := range groupingRef.FindAllStringSubmatch(q, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(allowed, l) {
				t.Errorf("%s: grouping label %q is on none of the query's metrics (query %q)", where, l, q)
			}
		}
	}
	return found
}

// queries walks a decoded JSON document and returns the PromQL it holds:
// panel target "expr" fields and template variable queries.
func queries(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			p := path + "." + k
			if s, ok := child.(string); ok && (k == "expr" || k == "definition" || (k == "query" && strings.Contains(s, "session_"))) {
				out[p] = s
				continue
			}
			queries(child, p, out)
		}
	case []any:
		for i, child := range v {
			queries(child, path+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	names := exported(t)
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	for _, k := range []string{"title", "uid", "panels", "templating", "schemaVersion"} {
		if _, ok := dash[k]; !ok {
			t.Errorf("dashboard lacks %q", k)
		}
	}
	qs := map[string]string{}
	queries(dash, "", qs)
	if len(qs) < 15 {
		t.Fatalf("only %d queries found in the dashboard", len(qs))
	}
	used := map[string]bool{}
	for where, q := range qs {
		for _, n := range checkQuery(t, "dashboard"+where, q, names) {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	// Every exported metric has a panel.
	for n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !used[base] {
			t.Errorf("no dashboard panel shows %s", base)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	names := exported(t)
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			where := "alert " + r.Alert
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: rule without alert name or expr", where)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: needs a severity label and a summary annotation", where)
			}
			checkQuery(t, where, r.Expr, names)
		}
	}
	if n < 3 {
		t.Fatalf("only %d rules", n)
	}

	// Full syntax and behaviour checks need promtool (Debian: apt-get
	// install prometheus).
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed: CI must check the alert rules (apt-get install prometheus)")
		}
		t.Log("promtool not installed: PromQL syntax and the rule unit tests not checked")
		return
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = monitoringDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The breaker gauge has one series per degrade.State, so the dashboard's
// state timeline and the alerts see every state by name.
func TestBreakerStatesExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	mx := mustNew(t, reg)
	mx.StateChanged(degrade.StateClosed, degrade.StateOpen)
	mx.StateChanged(degrade.StateOpen, degrade.StateRecovering)
	for st, want := range map[string]float64{"closed": 0, "open": 0, "recovering": 1} {
		if got := value(t, reg, "session_breaker_state", map[string]string{"state": st}); got != want {
			t.Errorf("session_breaker_state{state=%q} = %v, want %v", st, got, want)
		}
	}
	if got := value(t, reg, "session_degraded", nil); got != 0 {
		t.Errorf("session_degraded = %v while recovering (the primary serves), want 0", got)
	}
}
