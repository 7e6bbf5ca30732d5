package stack

import (
	"math"
	"net/netip"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// neighTable is a softnet's neighbour cache and resolution queue for one
// address family: ARP's for IPv4 (K [4]byte, Softnet.arp) and Neighbor
// Discovery's for IPv6 (K [16]byte, Softnet.nd). One generic table, two
// instantiations: IPv4's keeps its 4-byte keys and its code is stenciled
// for them, so the IPv6 cache costs its fast path nothing. Both take their
// sizes and timers from Config's ARP* settings. Softnet-owned.
type neighTable[K comparable] struct {
	sn  *Softnet
	ctr *neighCounters
	// solicit sends a request (ARP request, neighbour solicitation) for
	// an address on ifc; peer returns another softnet's table of the same
	// family, for share. Both on the control path only.
	solicit func(ifc *Interface, k K)
	peer    func(o *Softnet) *neighTable[K]

	entries map[K]neighEntry
	// last is the entry of the last address looked up (lastOK), a copy
	// kept coherent by set and del: a flow sends to one neighbour burst
	// after burst, and the copy spares the map's hash per packet.
	lastIP   K
	last     neighEntry
	lastOK   bool
	waiting  map[K]*neighWait
	nwaiting int
	retry    timer.Timer
}

type neighEntry struct {
	mac       header.MAC
	expires   int64
	refreshAt int64
	// static: configured (InterfaceConfig.Neighbors), never expires,
	// refreshed, evicted or changed by what arrives (Linux's permanent
	// entries).
	static bool
}

// fresh reports whether the entry is usable at now without a refresh.
func (e *neighEntry) fresh(now int64) bool {
	return e.expires > now && e.refreshAt > now
}

// neighWait holds the packets waiting for one address to resolve.
type neighWait struct {
	ifc        *Interface
	head, tail *driver.Packet
	n          int
	tries      int
	nextTry    int64
}

// neighCounters names the counters a family's table counts in.
type neighCounters struct {
	learned, queued, pendingDrop, failed, evicted, crossed CounterID
}

var (
	arpCounters = neighCounters{ARPLearned, ARPPendingQueued, ARPPendingDrop, ARPResolveFailed, ARPCacheEvicted, ARPUpdatesCrossed}
	ndCounters  = neighCounters{NDLearned, NDPendingQueued, NDPendingDrop, NDResolveFailed, NDCacheEvicted, NDUpdatesCrossed}
)

func (a *neighTable[K]) init(sn *Softnet, ctr *neighCounters, solicit func(*Interface, K), peer func(*Softnet) *neighTable[K]) {
	a.sn = sn
	a.ctr = ctr
	a.solicit = solicit
	a.peer = peer
	a.entries = make(map[K]neighEntry, sn.st.cfg.ARPCacheSize)
	a.waiting = make(map[K]*neighWait)
	a.retry.Init(a.onRetry)
}

// lookup returns the MAC for ip when a live entry exists, and sends a
// refresh request when the entry nears its expiry.
func (a *neighTable[K]) lookup(ifc *Interface, ip K) (header.MAC, bool) {
	if a.lastOK && a.lastIP == ip && a.last.fresh(a.sn.now) {
		return a.last.mac, true
	}
	return a.lookupSlow(ifc, ip)
}

// setDst is lookup for the output path: it writes the MAC of ip into
// eth's destination and reports whether it had one. Its fast path, the
// address of the last lookup with an entry neither expired nor due for
// refresh, touches only the table's copy of that entry (no map access,
// no entry copied) and hands no MAC back through memory, which as a
// 6-byte array result costs a stall on the caller's reload.
func (a *neighTable[K]) setDst(ifc *Interface, ip K, eth header.Ethernet) bool {
	if a.lastOK && a.lastIP == ip && a.last.fresh(a.sn.now) {
		eth.SetDst(a.last.mac)
		return true
	}
	mac, ok := a.lookupSlow(ifc, ip)
	if ok {
		eth.SetDst(mac)
	}
	return ok
}

// lookupSlow is lookup past its fast path.
func (a *neighTable[K]) lookupSlow(ifc *Interface, ip K) (header.MAC, bool) {
	var e neighEntry
	if a.lastOK && a.lastIP == ip {
		e = a.last
	} else {
		var ok bool
		if e, ok = a.entries[ip]; !ok {
			return header.MAC{}, false
		}
		a.lastIP, a.last, a.lastOK = ip, e, true
	}
	return a.use(ifc, ip, e)
}

// use returns the MAC of entry e of ip if it has not expired, and sends
// a refresh request when it nears its expiry.
func (a *neighTable[K]) use(ifc *Interface, ip K, e neighEntry) (header.MAC, bool) {
	if e.expires <= a.sn.now {
		return header.MAC{}, false
	}
	if e.refreshAt <= a.sn.now {
		e.refreshAt = a.sn.now + int64(a.sn.st.cfg.ARPRetryInterval)
		a.set(ip, e)
		a.solicit(ifc, ip)
	}
	return e.mac, true
}

// setStatic stores the configured entry of ip at mac.
func (a *neighTable[K]) setStatic(ip K, mac header.MAC) {
	a.set(ip, neighEntry{mac: mac, expires: math.MaxInt64, refreshAt: math.MaxInt64, static: true})
}

// set stores the entry of ip.
func (a *neighTable[K]) set(ip K, e neighEntry) {
	a.entries[ip] = e
	if a.lastOK && a.lastIP == ip {
		a.last = e
	}
}

// del removes the entry of ip.
func (a *neighTable[K]) del(ip K) {
	delete(a.entries, ip)
	if a.lastIP == ip {
		a.lastOK = false
	}
}

// wait queues pk until ip resolves, sending the first request.
func (a *neighTable[K]) wait(ifc *Interface, pk *driver.Packet, ip K) {
	sn := a.sn
	if a.nwaiting >= sn.st.cfg.ARPPending {
		sn.inc(a.ctr.pendingDrop)
		sn.free(pk)
		return
	}
	w := a.waiting[ip]
	if w == nil {
		w = &neighWait{ifc: ifc, tries: 1, nextTry: sn.now + int64(sn.st.cfg.ARPRetryInterval)}
		a.waiting[ip] = w
		a.solicit(ifc, ip)
		if !a.retry.Armed() {
			sn.wheel.Reset(&a.retry, sn.now, sn.st.cfg.ARPRetryInterval)
		}
	}
	pk.Next = nil
	if w.tail == nil {
		w.head = pk
	} else {
		w.tail.Next = pk
	}
	w.tail = pk
	w.n++
	a.nwaiting++
	sn.inc(a.ctr.queued)
}

// onRetry resends requests for unresolved addresses and gives up on those
// that had all their tries.
func (a *neighTable[K]) onRetry() {
	sn := a.sn
	cfg := &sn.st.cfg
	for ip, w := range a.waiting {
		if w.nextTry > sn.now {
			continue
		}
		if w.tries >= cfg.ARPRetries {
			for pk := w.head; pk != nil; {
				next := pk.Next
				pk.Next = nil
				sn.inc(a.ctr.failed)
				sn.free(pk)
				pk = next
			}
			a.nwaiting -= w.n
			delete(a.waiting, ip)
			continue
		}
		w.tries++
		w.nextTry = sn.now + int64(cfg.ARPRetryInterval)
		a.solicit(w.ifc, ip)
	}
	if len(a.waiting) > 0 {
		sn.wheel.Reset(&a.retry, sn.now, cfg.ARPRetryInterval)
	}
}

// learn records ip at mac. create allows a new entry (we were the target,
// or it is a reply or another softnet's news); otherwise only an existing
// entry is refreshed, as RFC 826 (and RFC 4861 for unsolicited
// advertisements) says. It reports whether the entry is new or changed.
func (a *neighTable[K]) learn(ip K, mac header.MAC, create bool) bool {
	sn := a.sn
	cfg := &sn.st.cfg
	old, ok := a.entries[ip]
	if !ok && !create || old.static {
		return false
	}
	if !ok && len(a.entries) >= cfg.ARPCacheSize {
		a.evict()
	}
	a.set(ip, neighEntry{
		mac:       mac,
		expires:   sn.now + int64(cfg.ARPTimeout),
		refreshAt: sn.now + int64(cfg.ARPTimeout)*3/4,
	})
	changed := !ok || old.mac != mac || old.expires <= sn.now
	if changed {
		sn.inc(a.ctr.learned)
	}
	if w := a.waiting[ip]; w != nil {
		delete(a.waiting, ip)
		a.nwaiting -= w.n
		for pk := w.head; pk != nil; {
			next := pk.Next
			pk.Next = nil
			header.Ethernet(pk.Data()).SetDst(mac)
			sn.xmit(w.ifc, pk)
			pk = next
		}
	}
	return changed
}

// evict removes an expired entry, or any learned entry when none has
// expired; configured entries stay.
func (a *neighTable[K]) evict() {
	var victim K
	found := false
	for ip, e := range a.entries {
		if e.static {
			continue
		}
		victim, found = ip, true
		if e.expires <= a.sn.now {
			break
		}
	}
	if found {
		a.del(victim)
		a.sn.inc(a.ctr.evicted)
	}
}

// share posts a learned entry to the other softnets, which keep their own
// caches. It runs on the control path (new or changed entries), so the
// task it allocates per softnet is not a per-packet cost.
func (a *neighTable[K]) share(ip K, mac header.MAC) {
	for _, o := range a.sn.st.sn {
		if o == a.sn {
			continue
		}
		ot := a.peer(o)
		t := task.New(func() { ot.learn(ip, mac, true) })
		o.Add(t, a.sn)
		a.sn.inc(a.ctr.crossed)
		t.Release()
	}
}

// StaticNextHop reports whether packets to dst leave for a configured
// static neighbour (InterfaceConfig.Neighbors): the target itself on a
// link, or the gateway that routes to it. Such a next hop needs no
// resolution, and a sender need not warm it up. Any goroutine may call it:
// routes and static entries do not change after New.
func (s *Stack) StaticNextHop(dst netip.Addr) bool {
	if !dst.IsValid() {
		return false
	}
	ifc, _, nh, ok := s.routeTo(addrOf(dst))
	if !ok {
		return false
	}
	if is4(nh) {
		_, ok = ifc.static4[as4(nh)]
	} else {
		_, ok = ifc.static6[nh]
	}
	return ok
}
