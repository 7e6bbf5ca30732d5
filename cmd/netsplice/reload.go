package main

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/metrics"
	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// Live reload of `netsplice relay --config FILE` on SIGHUP: the file is
// loaded and checked as at start (loadSpecs); a file that fails is logged
// and counted, and the running relays stay as they are. Otherwise the
// relays are matched by their listen endpoint (diffRelays):
//
//   - unchanged: left alone;
//   - removed: stop accepting at once, and drain in the background for up
//     to --drain-timeout (their connections and sessions are not cut
//     before that);
//   - changed (same listen endpoint, another backend, max, idle or
//     max_sessions): the listener is handed to a relay with the new
//     settings (relay.Relay.Replace), never closed, so no SYN or datagram
//     to it is refused; the old relay's connections and sessions drain
//     with the old settings;
//   - added: start listening, after the removed ones stopped (so that a
//     port a removed relay held is free).

// relayDiff is what a reload changes: relays matched by listen endpoint.
type relayDiff struct {
	added, removed, unchanged []relaySpec
	changed                   []specChange
}

// specChange is a relay whose listen endpoint stays but whose other
// settings change.
type specChange struct{ old, new relaySpec }

// sameSettings reports whether two relays do the same: everything but
// where they were written.
func sameSettings(a, b relaySpec) bool {
	a.Where, b.Where = "", ""
	return a == b
}

// diffRelays matches the relays of two configurations by listen endpoint
// (unique in a checked configuration): removed in old's order, the others
// in cur's.
func diffRelays(old, cur []relaySpec) relayDiff {
	var d relayDiff
	byListen := make(map[endpoint]relaySpec, len(old))
	for _, s := range old {
		byListen[s.Listen] = s
	}
	inCur := make(map[endpoint]bool, len(cur))
	for _, s := range cur {
		inCur[s.Listen] = true
		o, ok := byListen[s.Listen]
		switch {
		case !ok:
			d.added = append(d.added, s)
		case sameSettings(o, s):
			d.unchanged = append(d.unchanged, s)
		default:
			d.changed = append(d.changed, specChange{o, s})
		}
	}
	for _, s := range old {
		if !inCur[s.Listen] {
			d.removed = append(d.removed, s)
		}
	}
	return d
}

// relaySet is the running relays of `netsplice relay`, and those that
// drain after a reload removed or replaced them.
type relaySet struct {
	st    *stack.Stack
	sp    *splice.Splicer
	met   *metrics.Metrics
	log   *zap.Logger
	drain time.Duration // --drain-timeout

	relays   []running      // in the configuration's order
	draining sync.WaitGroup // retired relays still draining

	mu       sync.Mutex
	retiring map[string]running // by name: the last retired relay of each name, while it drains
}

// running is a started relay: TCP or UDP.
type running struct {
	spec relaySpec
	tcp  *relay.Relay
	udp  *relay.UDPRelay
}

// name is the relay's label in /metrics and in the log.
func (r running) name() string {
	return metrics.RelayName(r.spec.Listen.Proto, r.spec.Listen.Addr, r.spec.To.Addr)
}

// active is the relay's open connections or sessions.
func (r running) active() uint64 {
	if r.tcp != nil {
		return r.tcp.Stats().Active
	}
	return r.udp.Stats().Active
}

// close stops a running relay, waiting up to drain for what is open.
func (r running) close(drain time.Duration) {
	if r.tcp != nil {
		r.tcp.Close(drain)
	} else {
		r.udp.Close(drain)
	}
}

func (r running) stopAccepting() {
	if r.tcp != nil {
		r.tcp.StopAccepting()
	} else {
		r.udp.StopAccepting()
	}
}

// tcpConfig and udpConfig are a relay's settings for the relay package.
func tcpConfig(s relaySpec) relay.Config {
	return relay.Config{Listen: s.Listen.Addr, To: s.To.Addr, Max: s.Max, Idle: s.Idle}
}

func udpConfig(s relaySpec) relay.UDPConfig {
	idle := s.Idle
	if idle == 0 {
		idle = -1 // --idle 0: sessions never end idle (relay.UDPConfig's "never")
	}
	return relay.UDPConfig{Listen: s.Listen.Addr, To: s.To.Addr, Max: s.Max, Idle: idle, MaxSessions: s.MaxSessions}
}

// settings are a relay's zap fields.
func settings(s relaySpec) []zap.Field {
	f := []zap.Field{zap.String("relay", metrics.RelayName(s.Listen.Proto, s.Listen.Addr, s.To.Addr)),
		zap.Int64("max", s.Max), zap.Duration("idle", s.Idle)}
	if s.Listen.Proto == "udp" {
		f = append(f, zap.Int("max_sessions", s.MaxSessions))
	}
	return f
}

// start starts a relay, exports it and logs that it listens.
func (rs *relaySet) start(spec relaySpec) (running, error) {
	r := running{spec: spec}
	var err error
	if spec.Listen.Proto == "tcp" {
		r.tcp, err = relay.Start(rs.st, rs.sp, tcpConfig(spec), rs.log)
	} else {
		r.udp, err = relay.StartUDP(rs.st, rs.sp, udpConfig(spec), rs.log)
	}
	if err != nil {
		return r, err
	}
	rs.export(r, nil)
	rs.log.Info("relay listening", settings(spec)...)
	return r, nil
}

// export adds r to /metrics. A relay of r's name that r replaces, or one
// that an earlier reload retired and that still drains, has its series
// continued by r (metrics.Metrics.ReplaceTCPRelay), so a name never gets
// a second series.
func (rs *relaySet) export(r running, replaced *running) {
	var prev running
	ok := false
	if replaced != nil && replaced.name() == r.name() {
		prev, ok = *replaced, true
	} else {
		rs.mu.Lock()
		prev, ok = rs.retiring[r.name()]
		rs.mu.Unlock()
	}
	switch {
	case r.tcp != nil && ok && prev.tcp != nil:
		rs.met.ReplaceTCPRelay(r.name(), prev.tcp, r.tcp)
	case r.tcp != nil:
		rs.met.AddTCPRelay(r.name(), r.tcp)
	case ok && prev.udp != nil:
		rs.met.ReplaceUDPRelay(r.name(), prev.udp, r.udp)
	default:
		rs.met.AddUDPRelay(r.name(), r.udp)
	}
}

// replace hands old's listener to a relay with spec's settings (the same
// listen endpoint), then drains old in the background.
func (rs *relaySet) replace(old running, spec relaySpec) (running, error) {
	r := running{spec: spec}
	var err error
	if old.tcp != nil {
		r.tcp, err = old.tcp.Replace(tcpConfig(spec), rs.log)
	} else {
		r.udp, err = old.udp.Replace(udpConfig(spec), rs.log)
	}
	if err != nil {
		return r, err
	}
	// The same name (another max, idle or max_sessions) continues the
	// old relay's series; another backend is another series.
	rs.export(r, &old)
	rs.log.Info("relay listening", append(settings(spec), zap.String("replaces", old.name()))...)
	rs.retire(old, "replaced")
	return r, nil
}

// retire stops old accepting (unless a replacement took its listener)
// now, and drains it in the background for up to --drain-timeout.
func (rs *relaySet) retire(old running, why string) {
	old.stopAccepting()
	rs.mu.Lock()
	if rs.retiring == nil {
		rs.retiring = map[string]running{}
	}
	rs.retiring[old.name()] = old
	rs.mu.Unlock()
	rs.draining.Add(1)
	go func() {
		defer rs.draining.Done()
		rs.drainOne(old, why, true)
	}()
}

// drainOne closes r, waiting up to --drain-timeout, with a log line when
// it starts and when it ends; unexport removes it from /metrics before
// the second.
func (rs *relaySet) drainOne(r running, why string, unexport bool) {
	start := time.Now()
	rs.log.Info("relay draining", zap.String("relay", r.name()), zap.String("why", why),
		zap.Uint64("active", r.active()), zap.Duration("timeout", rs.drain))
	r.close(rs.drain)
	switch {
	case !unexport:
	case r.tcp != nil:
		rs.met.RemoveTCPRelay(r.tcp)
	default:
		rs.met.RemoveUDPRelay(r.udp)
	}
	if unexport {
		rs.mu.Lock()
		if rs.retiring[r.name()] == r {
			delete(rs.retiring, r.name())
		}
		rs.mu.Unlock()
	}
	rs.log.Info("relay drained", zap.String("relay", r.name()), zap.String("why", why),
		zap.Duration("took", time.Since(start).Round(time.Millisecond)))
}

// apply turns the running relays into specs (a checked configuration)
// and returns the diff it applied. A relay that fails to start or to be
// replaced is logged and left out (its old version, for a replacement,
// keeps running); err says which failed.
func (rs *relaySet) apply(specs []relaySpec) (relayDiff, error) {
	var old []relaySpec
	byListen := make(map[endpoint]running, len(rs.relays))
	for _, r := range rs.relays {
		old = append(old, r.spec)
		byListen[r.spec.Listen] = r
	}
	d := diffRelays(old, specs)
	for _, s := range d.removed {
		rs.retire(byListen[s.Listen], "removed")
	}
	var failed []string
	next := make([]running, 0, len(specs))
	for _, s := range specs {
		r, ok := byListen[s.Listen]
		var err error
		switch {
		case !ok:
			r, err = rs.start(s)
		case !sameSettings(r.spec, s):
			var n running
			if n, err = rs.replace(r, s); err == nil {
				r = n
			}
		default:
			r.spec = s // the same relay; Where may have moved
		}
		if err != nil {
			rs.log.Error("relay not started", zap.String("where", s.Where), zap.Stringer("listen", s.Listen), zap.Error(err))
			failed = append(failed, fmt.Sprintf("%s: listen %v: %v", s.Where, s.Listen, err))
			if !ok {
				continue
			}
		}
		next = append(next, r)
	}
	rs.relays = next
	if len(failed) > 0 {
		return d, fmt.Errorf("%d relays failed: %s", len(failed), failed[0])
	}
	return d, nil
}

// reload loads the configuration file again (load checks it in full, as
// at start) and applies it, with one log line for the result and the
// result in the metrics.
func (rs *relaySet) reload(path string, load func() ([]relaySpec, error)) {
	now := time.Now()
	specs, err := load()
	if err != nil {
		rs.met.ConfigReloaded(false, now)
		rs.log.Error("config reload failed: keeping the running relays", zap.String("file", path),
			zap.String("result", "failure"), zap.Error(err))
		return
	}
	d, err := rs.apply(specs)
	rs.met.ConfigReloaded(err == nil, now)
	fields := []zap.Field{zap.String("file", path), zap.String("result", "success"),
		zap.Int("added", len(d.added)), zap.Int("removed", len(d.removed)), zap.Int("changed", len(d.changed)),
		zap.Int("unchanged", len(d.unchanged)), zap.Int("relays", len(rs.relays))}
	if err != nil {
		fields[1] = zap.String("result", "failure")
		rs.log.Error("config reload applied in part", append(fields, zap.Error(err))...)
		return
	}
	rs.log.Info("config reloaded", fields...)
}

// close drains every relay together, those still draining from reloads
// included, in one --drain-timeout.
func (rs *relaySet) close() {
	var wg sync.WaitGroup
	for _, r := range rs.relays {
		wg.Go(func() { rs.drainOne(r, "stopping", false) })
	}
	wg.Wait()
	rs.draining.Wait()
}

// closeNow stops every relay without draining (a start that failed).
func (rs *relaySet) closeNow() {
	for _, r := range rs.relays {
		r.close(0)
	}
	rs.relays = nil
}
