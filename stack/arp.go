package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// arpFrameLen is an ARP frame padded to Ethernet's 60-byte minimum.
const arpFrameLen = 60

type arpEntry struct {
	mac       header.MAC
	expires   int64
	refreshAt int64
}

// arpWait holds the packets waiting for one address to resolve.
type arpWait struct {
	ifc        *Interface
	head, tail *driver.Packet
	n          int
	tries      int
	nextTry    int64
}

// arpTable is a softnet's ARP cache and resolution queue. Softnet-owned.
type arpTable struct {
	sn      *Softnet
	entries map[[4]byte]arpEntry
	// last is the entry of the last address looked up (lastOK), a copy
	// kept coherent by set and del: a flow sends to one neighbour burst
	// after burst, and the copy spares the map's hash per packet.
	lastIP   [4]byte
	last     arpEntry
	lastOK   bool
	waiting  map[[4]byte]*arpWait
	nwaiting int
	retry    timer.Timer
}

func (a *arpTable) init(sn *Softnet) {
	a.sn = sn
	a.entries = make(map[[4]byte]arpEntry, sn.st.cfg.ARPCacheSize)
	a.waiting = make(map[[4]byte]*arpWait)
	a.retry.Init(a.onRetry)
}

// lookup returns the MAC for ip when a live entry exists, and sends a
// refresh request when the entry nears its expiry.
func (a *arpTable) lookup(ifc *Interface, ip [4]byte) (header.MAC, bool) {
	var e arpEntry
	if a.lastOK && a.lastIP == ip {
		e = a.last
	} else {
		var ok bool
		if e, ok = a.entries[ip]; !ok {
			return header.MAC{}, false
		}
		a.lastIP, a.last, a.lastOK = ip, e, true
	}
	if e.expires <= a.sn.now {
		return header.MAC{}, false
	}
	if e.refreshAt <= a.sn.now {
		e.refreshAt = a.sn.now + int64(a.sn.st.cfg.ARPRetryInterval)
		a.set(ip, e)
		a.sn.arpRequest(ifc, ip)
	}
	return e.mac, true
}

// set stores the entry of ip.
func (a *arpTable) set(ip [4]byte, e arpEntry) {
	a.entries[ip] = e
	if a.lastOK && a.lastIP == ip {
		a.last = e
	}
}

// del removes the entry of ip.
func (a *arpTable) del(ip [4]byte) {
	delete(a.entries, ip)
	if a.lastIP == ip {
		a.lastOK = false
	}
}

// wait queues pk until ip resolves, sending the first request.
func (a *arpTable) wait(ifc *Interface, pk *driver.Packet, ip [4]byte) {
	sn := a.sn
	if a.nwaiting >= sn.st.cfg.ARPPending {
		sn.inc(ARPPendingDrop)
		sn.free(pk)
		return
	}
	w := a.waiting[ip]
	if w == nil {
		w = &arpWait{ifc: ifc, tries: 1, nextTry: sn.now + int64(sn.st.cfg.ARPRetryInterval)}
		a.waiting[ip] = w
		sn.arpRequest(ifc, ip)
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
	sn.inc(ARPPendingQueued)
}

// onRetry resends requests for unresolved addresses and gives up on those
// that had all their tries.
func (a *arpTable) onRetry() {
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
				sn.inc(ARPResolveFailed)
				sn.free(pk)
				pk = next
			}
			a.nwaiting -= w.n
			delete(a.waiting, ip)
			continue
		}
		w.tries++
		w.nextTry = sn.now + int64(cfg.ARPRetryInterval)
		sn.arpRequest(w.ifc, ip)
	}
	if len(a.waiting) > 0 {
		sn.wheel.Reset(&a.retry, sn.now, cfg.ARPRetryInterval)
	}
}

// learn records ip at mac. create allows a new entry (we were the target,
// or it is a reply or another softnet's news); otherwise only an existing
// entry is refreshed, as RFC 826 says. It reports whether the entry is new
// or changed.
func (a *arpTable) learn(ip [4]byte, mac header.MAC, create bool) bool {
	sn := a.sn
	cfg := &sn.st.cfg
	old, ok := a.entries[ip]
	if !ok && !create {
		return false
	}
	if !ok && len(a.entries) >= cfg.ARPCacheSize {
		a.evict()
	}
	a.set(ip, arpEntry{
		mac:       mac,
		expires:   sn.now + int64(cfg.ARPTimeout),
		refreshAt: sn.now + int64(cfg.ARPTimeout)*3/4,
	})
	changed := !ok || old.mac != mac || old.expires <= sn.now
	if changed {
		sn.inc(ARPLearned)
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

// evict removes an expired entry, or any entry when none has expired.
func (a *arpTable) evict() {
	var victim [4]byte
	found := false
	for ip, e := range a.entries {
		victim, found = ip, true
		if e.expires <= a.sn.now {
			break
		}
	}
	if found {
		a.del(victim)
		a.sn.inc(ARPCacheEvicted)
	}
}

// share posts a learned entry to the other softnets, which keep their own
// caches. It runs on the control path (new or changed entries), so the
// task it allocates per softnet is not a per-packet cost.
func (a *arpTable) share(ip [4]byte, mac header.MAC) {
	for _, o := range a.sn.st.sn {
		if o == a.sn {
			continue
		}
		o := o
		t := task.New(func() { o.arp.learn(ip, mac, true) })
		o.Add(t, a.sn)
		a.sn.inc(ARPUpdatesCrossed)
		t.Release()
	}
}

// arpInput handles a received ARP frame. It owns pk.
func (sn *Softnet) arpInput(ifc *Interface, pk *driver.Packet, frame []byte) {
	sn.inc(ARPRx)
	arp := header.ARP(frame[header.EthernetHeaderLen:])
	if arp.Check() != header.OK {
		sn.inc(ARPDropBad)
		sn.free(pk)
		return
	}
	spa, sha, tpa := arp.SenderIP(), arp.SenderMAC(), arp.TargetIP()
	op := arp.Op()
	if op == header.ARPRequest {
		sn.inc(ARPRequestsRx)
	} else {
		sn.inc(ARPRepliesRx)
	}
	// Learn only plausible neighbours: on our link, not ourselves, with a
	// unicast hardware address.
	if spa != ifc.ip && ifc.onLink(spa) && !ifc.isBroadcast(spa) && spa != ([4]byte{}) && !sha.IsMulticast() {
		forUs := tpa == ifc.ip
		changed := sn.arp.learn(spa, sha, forUs || op == header.ARPReply)
		// A reply to us is shared even when it changes nothing here. ARP frames
		// carry no flow for RSS to hash, so one queue's softnet receives
		// the replies to every softnet's requests: another softnet whose
		// entry is expiring (or expired, its packets waiting) learns the
		// answer only this way. Shared only when changed, the replies kept
		// refreshing this softnet's entry while the asker's expired, and
		// its flows were cut off for good (a relay's TCP connections on
		// softnet 1 retransmitting into ETIMEDOUT one ARPTimeout in).
		if changed && (forUs || op == header.ARPReply) || forUs && op == header.ARPReply {
			sn.arp.share(spa, sha)
		}
	}
	if op == header.ARPRequest && tpa == ifc.ip && spa != ([4]byte{}) {
		// Answer in place.
		arp.Encode(header.ARPReply, ifc.mac, ifc.ip, sha, spa)
		eth := header.Ethernet(frame)
		eth.SetDst(sha)
		eth.SetSrc(ifc.mac)
		sn.inc(ARPTx)
		sn.inc(ARPRepliesTx)
		sn.xmit(ifc, pk)
		return
	}
	sn.free(pk)
}

// arpRequest broadcasts a request for target on ifc.
func (sn *Softnet) arpRequest(ifc *Interface, target [4]byte) {
	sn.sendARP(ifc, header.ARPRequest, target)
	sn.inc(ARPRequestsTx)
}

func (sn *Softnet) sendARP(ifc *Interface, op uint16, target [4]byte) {
	pk := sn.alloc(ifc)
	if pk == nil {
		return
	}
	frame := pk.Append(arpFrameLen)
	clear(frame)
	header.Ethernet(frame).Encode(header.BroadcastMAC(), ifc.mac, header.EtherTypeARP)
	header.ARP(frame[header.EthernetHeaderLen:]).Encode(op, ifc.mac, ifc.ip, header.MAC{}, target)
	sn.inc(ARPTx)
	sn.xmit(ifc, pk)
}

// announce sends a gratuitous ARP for every interface.
func (sn *Softnet) announce() {
	for _, ifc := range sn.ifs {
		sn.sendARP(ifc, header.ARPRequest, ifc.ip)
		sn.inc(ARPRequestsTx)
	}
}
