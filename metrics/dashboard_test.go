package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/splice"
)

// TestRelayDashboard: the Grafana dashboard is valid JSON with panels
// whose every query names metrics this package exports.
func TestRelayDashboard(t *testing.T) {
	b, err := os.ReadFile("dashboards/relay.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboards/relay.json: %v", err)
	}
	// Every name the collectors describe.
	st := wireStack(t, memwire.New(), "d", "192.0.2.1/24", 1)
	sp := splice.New(splice.ModeSoftnet)
	defer sp.Close()
	m := New(st, sp, nil)
	ch := make(chan *prometheus.Desc, 1024)
	(&collector{m: m}).Describe(ch)
	(&tcpStateCollector{st: st}).Describe(ch)
	close(ch)
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if mm := fq.FindStringSubmatch(d.String()); mm != nil {
			names[mm[1]] = true
		}
	}
	if len(d.Panels) < 8 {
		t.Fatalf("%q: %d panels", d.Title, len(d.Panels))
	}
	used := regexp.MustCompile(`netsplice_[a-z_]+`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, n := range used.FindAllString(q.Expr, -1) {
				if !names[n] {
					t.Errorf("panel %q: %s is not a metric this package exports (query %q)", p.Title, n, q.Expr)
				}
			}
			if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, q.Expr)
			}
		}
	}
}
