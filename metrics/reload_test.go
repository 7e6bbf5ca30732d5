package metrics

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/relay"
)

// fakeRelay is a TCP and UDP relay whose counters a test sets.
type fakeRelay struct {
	mu  sync.Mutex
	tcp relay.Stats
	udp relay.UDPStats
}

func (f *fakeRelay) Stats() relay.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tcp
}

func (f *fakeRelay) set(s relay.Stats) {
	f.mu.Lock()
	f.tcp = s
	f.mu.Unlock()
}

type fakeUDPRelay struct{ fakeRelay }

func (f *fakeUDPRelay) Stats() relay.UDPStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.udp
}

// TestRelaySeriesAcrossReplace: a relay replaced by one of the same name
// shares its series, whose counters are the sum and never go back when
// the old relay is removed; a series without relays disappears and its
// name is free again.
func TestRelaySeriesAcrossReplace(t *testing.T) {
	st := wireStack(t, memwire.New(), "a", "192.0.2.1/24", 1)
	m := New(st, nil, &Options{NoRuntime: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	read := func(metric, name string) (float64, int) {
		t.Helper()
		return sum(t, scrape(t, srv.URL), metric, map[string]string{"relay": name})
	}
	const name = "tcp:0.0.0.0:80->192.0.2.2:8080"
	old, repl := &fakeRelay{}, &fakeRelay{}
	old.set(relay.Stats{Accepted: 5, Relayed: 3, Active: 2})
	m.AddTCPRelay(name, old)
	m.ReplaceTCPRelay(name, old, repl)
	repl.set(relay.Stats{Accepted: 1, Active: 1})
	if v, n := read("netsplice_relay_accepted_total", name); v != 6 || n != 1 {
		t.Errorf("accepted while both run: %v in %d series, want 6 in 1", v, n)
	}
	if v, _ := read("netsplice_relay_active_connections", name); v != 3 {
		t.Errorf("active while both run: %v, want 3", v)
	}
	old.set(relay.Stats{Accepted: 5, Relayed: 5}) // drained
	m.RemoveTCPRelay(old)
	if v, _ := read("netsplice_relay_accepted_total", name); v != 6 {
		t.Errorf("accepted after the old relay was removed: %v, want 6", v)
	}
	if v, _ := read("netsplice_relay_relayed_total", name); v != 5 {
		t.Errorf("relayed after the old relay was removed: %v, want 5", v)
	}
	if v, _ := read("netsplice_relay_active_connections", name); v != 1 {
		t.Errorf("active after the old relay was removed: %v, want 1", v)
	}
	m.RemoveTCPRelay(repl)
	if f := scrape(t, srv.URL)["netsplice_relay_accepted_total"]; f != nil {
		t.Errorf("series left after every relay was removed: %v", f)
	}
	again := &fakeRelay{}
	m.AddTCPRelay(name, again)
	if _, n := read("netsplice_relay_accepted_total", name); n != 1 {
		t.Errorf("a relay added under a freed name: %d series named %s, want 1", n, name)
	}
	// Replacing a relay that is not exported adds the new one.
	m.ReplaceTCPRelay("tcp:x", &fakeRelay{}, &fakeRelay{})
	if _, n := read("netsplice_relay_accepted_total", "tcp:x"); n != 1 {
		t.Errorf("replacing an unknown relay: %d series, want 1", n)
	}

	const uname = "udp:0.0.0.0:53->192.0.2.2:53"
	uold, unew := &fakeUDPRelay{}, &fakeUDPRelay{}
	uold.udp = relay.UDPStats{Sessions: 4, Ended: 3, Active: 1}
	m.AddUDPRelay(uname, uold)
	m.ReplaceUDPRelay(uname, uold, unew)
	unew.udp = relay.UDPStats{Sessions: 2, Active: 2}
	if v, _ := read("netsplice_relay_sessions_total", uname); v != 6 {
		t.Errorf("udp sessions while both run: %v, want 6", v)
	}
	uold.udp = relay.UDPStats{Sessions: 4, Ended: 4}
	m.RemoveUDPRelay(uold)
	if v, _ := read("netsplice_relay_sessions_total", uname); v != 6 {
		t.Errorf("udp sessions after the old relay was removed: %v, want 6", v)
	}
	if v, _ := read("netsplice_relay_active_sessions", uname); v != 2 {
		t.Errorf("udp active after the old relay was removed: %v, want 2", v)
	}
}

// TestConfigReloadMetrics: the config_* metrics appear once a file was
// loaded, follow each reload's result, and keep the time of the last
// success across a failure.
func TestConfigReloadMetrics(t *testing.T) {
	st := wireStack(t, memwire.New(), "a", "192.0.2.1/24", 1)
	m := New(st, nil, &Options{NoRuntime: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	if f := scrape(t, srv.URL)["netsplice_config_last_reload_successful"]; f != nil {
		t.Fatalf("config metrics without a configuration file: %v", f)
	}
	check := func(what string, ok, at float64, successes, failures float64) {
		t.Helper()
		fams := scrape(t, srv.URL)
		if v, _ := sum(t, fams, "netsplice_config_last_reload_successful", nil); v != ok {
			t.Errorf("%s: last_reload_successful %v, want %v", what, v, ok)
		}
		if v, _ := sum(t, fams, "netsplice_config_last_reload_success_timestamp_seconds", nil); v != at {
			t.Errorf("%s: last_reload_success_timestamp_seconds %v, want %v", what, v, at)
		}
		if v, _ := sum(t, fams, "netsplice_config_reloads_total", map[string]string{"result": "success"}); v != successes {
			t.Errorf("%s: reloads_total{result=success} %v, want %v", what, v, successes)
		}
		if v, _ := sum(t, fams, "netsplice_config_reloads_total", map[string]string{"result": "failure"}); v != failures {
			t.Errorf("%s: reloads_total{result=failure} %v, want %v", what, v, failures)
		}
	}
	start := time.Unix(1700000000, 0)
	m.ConfigLoaded(start)
	check("loaded at start", 1, 1700000000, 0, 0)
	m.ConfigReloaded(false, start.Add(time.Minute))
	check("a refused reload", 0, 1700000000, 0, 1)
	m.ConfigReloaded(true, start.Add(2*time.Minute))
	check("an applied reload", 1, 1700000120, 1, 1)
}
