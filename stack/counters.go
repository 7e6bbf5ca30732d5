package stack

import (
	"fmt"
	"io"
	"strings"
)

// CounterID names one per-softnet counter.
type CounterID int

// The counters every softnet keeps. Drop counters are named drop_*.
const (
	RxPackets CounterID = iota
	RxBytes
	TxPackets
	TxBytes
	TxDropFull  // the port's transmit ring refused the frame
	TxDropNoBuf // no buffer to build a frame in

	DropTruncated // frame shorter than an Ethernet header
	DropNotForUs  // unicast frame for another MAC
	DropEtherType // neither IPv4 nor ARP, nor IPv6 on an interface with IPv6

	ARPRx
	ARPTx
	ARPRequestsRx
	ARPRepliesRx
	ARPRequestsTx
	ARPRepliesTx
	ARPLearned
	ARPDropBad
	ARPPendingQueued  // packets queued waiting for resolution
	ARPPendingDrop    // pending queue full
	ARPResolveFailed  // packets dropped after unanswered requests
	ARPCacheEvicted   // entries evicted because the cache was full
	ARPUpdatesCrossed // learned entries posted to other softnets

	IPRx
	IPTx
	IPDropHeader     // bad version, header length or total length
	IPDropChecksum   // header checksum wrong
	IPDropNotForUs   // destination is not an interface address
	IPDropFragment   // fragments are not reassembled
	IPDropProto      // protocol not handled
	IPDropNoRoute    // no interface or gateway for the destination
	IPDropMartian    // source is multicast, broadcast or one of our own
	IPDropTooBig     // a datagram to send exceeds the MTU (never fragmented)
	LoopbackTx       // datagrams to one of the stack's own addresses
	LoopbackRx       // such datagrams delivered to the protocols
	LoopbackCrossed  // ... handed to the softnet that owns their flow
	LoopbackDropFull // ... dropped because that softnet's loopback ring was full
	SYNRingRx        // pure SYNs taken from a port's SYN ring (driver.SYNQueuer)
	SYNRingCrossed   // ... handed to the softnet that owns their flow
	SYNRingDropFull  // ... dropped because that softnet's SYN hand-off ring was full

	ICMPRx
	ICMPTx
	ICMPEchoRequestsRx
	ICMPEchoRepliesTx
	ICMPEchoRequestsTx
	ICMPEchoRepliesRx
	ICMPUnreachTx
	ICMPRateLimited
	ICMPDropBad      // truncated or bad checksum
	ICMPDropType     // types the stack does not handle
	ICMPDropNoSocket // echo reply for no ping socket

	IP6Rx
	IP6Tx
	IP6DropHeader    // bad version or payload length
	IP6DropNotForUs  // destination is none of the interface's addresses or groups
	IP6DropMartian   // source is multicast or one of our own (or unspecified, outside DAD)
	IP6DropFragment  // fragments are not reassembled
	IP6DropExtHeader // malformed or too long extension-header chain
	IP6DropProto     // unknown next header (Parameter Problem sent)
	IP6DropNoRoute   // no interface with IPv6 for the destination
	IP6DropTooBig    // a packet to send exceeds the MTU
	ICMP6Rx
	ICMP6Tx
	ICMP6EchoRequestsRx
	ICMP6EchoRepliesTx
	ICMP6EchoRequestsTx
	ICMP6EchoRepliesRx
	ICMP6ParamProblemTx
	ICMP6UnreachTx
	ICMP6DropBad      // truncated or bad checksum
	ICMP6DropType     // types the stack does not handle, echo to multicast
	ICMP6DropNoSocket // echo reply for no ping socket

	NDSolicitsRx
	NDSolicitsTx
	NDAdvertsRx
	NDAdvertsTx
	NDDropBad        // malformed solicitation or advertisement
	NDDropHopLimit   // hop limit not 255: not from the link
	NDLearned        // neighbour cache entries created or changed
	NDPendingQueued  // packets queued waiting for resolution
	NDPendingDrop    // pending queue full
	NDResolveFailed  // packets dropped after unanswered solicitations
	NDCacheEvicted   // entries evicted because the cache was full
	NDUpdatesCrossed // learned entries posted to other softnets

	UDPRx
	UDPTx
	UDPDelivered
	UDPDropBad      // bad length
	UDPDropChecksum // bad checksum
	UDPNoPort       // no socket bound; port unreachable sent
	UDPDropQueueFull

	TCPRx
	TCPTx
	TCPDropBad      // truncated or bad header
	TCPDropChecksum // bad checksum
	TCPNoConn       // segment for no connection (answered with RST)
	TCPRstRx
	TCPRstTx
	TCPActiveOpens
	TCPPassiveOpens
	TCPEstablished         // connections that reached ESTABLISHED
	TCPClosed              // connections removed from the flow table
	TCPDropBacklog         // SYNs dropped because the listen backlog was full
	TCPDropWindow          // segments outside the receive window
	TCPZeroWindowAcks      // ACKs taken from segments dropped at a closed receive window
	TCPDropPAWS            // segments with an old timestamp (RFC 7323 PAWS)
	TCPDropOOOFull         // out-of-order segments dropped, queue full
	TCPDropRxRing          // in-order segments dropped, reader's ring full
	TCPDropAfterClose      // data for a connection the application closed
	TCPOOOQueued           // segments kept out of order
	TCPChallengeAcks       // RFC 5961 challenge ACKs sent
	TCPChallengeAckLimited // challenge ACKs suppressed by the rate limit
	TCPRetransmits         // segments sent again (all causes)
	TCPFastRetransmits
	TCPSACKRetransmits // holes resent during SACK recovery
	TCPTimeouts        // retransmission timeouts
	TCPSteerFallback   // active opens with no port steering to the asking softnet
	TCPTimeWaitReused  // active opens that took the port of a connection in TIME-WAIT
	TCPTxCopyBytes     // payload bytes copied into transmitted frames
	TCPTxTSOFrames     // super-frames handed to a port with segmentation offload
	TCPTxTSOBytes      // payload bytes those carried by reference, uncopied
	TCPTSOCut          // super-frames cut in software to wait for a neighbour or loop back
	TCPRxCoalesced     // received segments chained onto the one before them (receive coalescing)
	TCPRxLRO           // frames the port coalesced on receive (driver.RxTCPCoalesced)
	TCPSendPoolLow     // writes paused because the buffer pool ran low
	TCPWriteBehind     // small writes that returned before the softnet queued them (TCPConn.Write)
	TCPRxSplitBytes    // received bytes copied to split a packet (splice max)
	TCPPathMTULowered  // MSS lowered by a Packet Too Big or Fragmentation Needed
	TCPPathMTUIgnored  // such messages for no connection, or quoting data not in flight
	TCPSynCookiesSent
	TCPDropSynFlood // SYNs dropped unread past the softnet's cookie budget
	TCPSynCookiesValid
	TCPSynCookiesInvalid // ACKs for no connection whose cookie failed
	TCPKeepAliveProbes
	TCPKeepAliveDrops // connections reset after unanswered probes

	TasksRun
	TasksCrossed
	TimersFired
	Loops
	IdleSleeps
	BusyNanos // wall time of loop iterations that did work: CPU use without the polling

	// The ports' own counters (driver.PortStats, for DPDK rte_eth_stats),
	// added by Stack.Counters over all interfaces; zero per softnet.
	PortRxPackets
	PortTxPackets
	PortRxMissed // frames the port dropped: its receive ring was full
	PortRxNoBuf  // receive buffers the port could not allocate
	PortTxErrors // frames the port could not send, or nothing received

	NumCounters
)

var counterNames = [NumCounters]string{
	RxPackets: "rx_packets", RxBytes: "rx_bytes", TxPackets: "tx_packets", TxBytes: "tx_bytes",
	TxDropFull: "drop_tx_full", TxDropNoBuf: "drop_tx_nobuf",
	DropTruncated: "drop_truncated", DropNotForUs: "drop_not_for_us", DropEtherType: "drop_ethertype",
	ARPRx: "arp_rx", ARPTx: "arp_tx", ARPRequestsRx: "arp_requests_rx", ARPRepliesRx: "arp_replies_rx",
	ARPRequestsTx: "arp_requests_tx", ARPRepliesTx: "arp_replies_tx", ARPLearned: "arp_learned",
	ARPDropBad: "drop_arp_bad", ARPPendingQueued: "arp_pending_queued", ARPPendingDrop: "drop_arp_pending_full",
	ARPResolveFailed: "drop_arp_unresolved", ARPCacheEvicted: "arp_cache_evicted", ARPUpdatesCrossed: "arp_updates_crossed",
	IPRx: "ip_rx", IPTx: "ip_tx", IPDropHeader: "drop_ip_header", IPDropChecksum: "drop_ip_checksum",
	IPDropNotForUs: "drop_ip_not_for_us", IPDropFragment: "drop_ip_fragment", IPDropProto: "drop_ip_proto",
	IPDropNoRoute: "drop_ip_no_route", IPDropMartian: "drop_ip_martian", IPDropTooBig: "drop_ip_too_big",
	LoopbackTx: "loopback_tx", LoopbackRx: "loopback_rx", LoopbackCrossed: "loopback_crossed", LoopbackDropFull: "drop_loopback_full",
	SYNRingRx: "syn_ring_rx", SYNRingCrossed: "syn_ring_crossed", SYNRingDropFull: "drop_syn_ring_full",
	ICMPRx: "icmp_rx", ICMPTx: "icmp_tx", ICMPEchoRequestsRx: "icmp_echo_requests_rx",
	ICMPEchoRepliesTx: "icmp_echo_replies_tx", ICMPEchoRequestsTx: "icmp_echo_requests_tx",
	ICMPEchoRepliesRx: "icmp_echo_replies_rx", ICMPUnreachTx: "icmp_unreach_tx",
	ICMPRateLimited: "icmp_rate_limited", ICMPDropBad: "drop_icmp_bad", ICMPDropType: "drop_icmp_type",
	ICMPDropNoSocket: "drop_icmp_no_socket",
	IP6Rx:            "ip6_rx", IP6Tx: "ip6_tx", IP6DropHeader: "drop_ip6_header", IP6DropNotForUs: "drop_ip6_not_for_us",
	IP6DropMartian: "drop_ip6_martian", IP6DropFragment: "drop_ip6_fragment", IP6DropExtHeader: "drop_ip6_ext_header",
	IP6DropProto: "drop_ip6_proto", IP6DropNoRoute: "drop_ip6_no_route", IP6DropTooBig: "drop_ip6_too_big",
	ICMP6Rx: "icmp6_rx", ICMP6Tx: "icmp6_tx", ICMP6EchoRequestsRx: "icmp6_echo_requests_rx",
	ICMP6EchoRepliesTx: "icmp6_echo_replies_tx", ICMP6EchoRequestsTx: "icmp6_echo_requests_tx",
	ICMP6EchoRepliesRx: "icmp6_echo_replies_rx", ICMP6ParamProblemTx: "icmp6_param_problem_tx", ICMP6UnreachTx: "icmp6_unreach_tx",
	ICMP6DropBad: "drop_icmp6_bad", ICMP6DropType: "drop_icmp6_type", ICMP6DropNoSocket: "drop_icmp6_no_socket",
	NDSolicitsRx: "nd_solicits_rx", NDSolicitsTx: "nd_solicits_tx", NDAdvertsRx: "nd_adverts_rx", NDAdvertsTx: "nd_adverts_tx",
	NDDropBad: "drop_nd_bad", NDDropHopLimit: "drop_nd_hop_limit", NDLearned: "nd_learned",
	NDPendingQueued: "nd_pending_queued", NDPendingDrop: "drop_nd_pending_full", NDResolveFailed: "drop_nd_unresolved",
	NDCacheEvicted: "nd_cache_evicted", NDUpdatesCrossed: "nd_updates_crossed",
	UDPRx: "udp_rx", UDPTx: "udp_tx", UDPDelivered: "udp_delivered", UDPDropBad: "drop_udp_bad",
	UDPDropChecksum: "drop_udp_checksum", UDPNoPort: "udp_no_port", UDPDropQueueFull: "drop_udp_queue_full",
	TCPRx: "tcp_rx", TCPTx: "tcp_tx", TCPDropBad: "drop_tcp_bad", TCPDropChecksum: "drop_tcp_checksum",
	TCPNoConn: "tcp_no_conn", TCPRstRx: "tcp_rst_rx", TCPRstTx: "tcp_rst_tx", TCPActiveOpens: "tcp_active_opens",
	TCPPassiveOpens: "tcp_passive_opens", TCPEstablished: "tcp_established", TCPClosed: "tcp_closed",
	TCPDropBacklog: "drop_tcp_backlog", TCPDropWindow: "drop_tcp_window", TCPZeroWindowAcks: "tcp_zero_window_acks", TCPDropPAWS: "drop_tcp_paws",
	TCPDropOOOFull: "drop_tcp_ooo_full", TCPDropRxRing: "drop_tcp_rx_ring", TCPDropAfterClose: "drop_tcp_after_close",
	TCPOOOQueued: "tcp_ooo_queued", TCPChallengeAcks: "tcp_challenge_acks", TCPChallengeAckLimited: "tcp_challenge_ack_limited", TCPRetransmits: "tcp_retransmits",
	TCPFastRetransmits: "tcp_fast_retransmits", TCPSACKRetransmits: "tcp_sack_retransmits", TCPTimeouts: "tcp_timeouts", TCPSteerFallback: "tcp_steer_fallback", TCPTimeWaitReused: "tcp_time_wait_reused",
	TCPTxCopyBytes: "tcp_tx_copy_bytes", TCPTxTSOFrames: "tcp_tx_tso_frames", TCPTxTSOBytes: "tcp_tx_tso_bytes", TCPTSOCut: "tcp_tso_cut", TCPRxCoalesced: "tcp_rx_coalesced", TCPRxLRO: "tcp_rx_lro",
	TCPSendPoolLow: "tcp_send_pool_low", TCPWriteBehind: "tcp_write_behind", TCPRxSplitBytes: "tcp_rx_split_bytes",
	TCPPathMTULowered: "tcp_pmtu_lowered", TCPPathMTUIgnored: "tcp_pmtu_ignored",
	TCPSynCookiesSent: "tcp_syncookies_sent", TCPDropSynFlood: "drop_tcp_syn_flood", TCPSynCookiesValid: "tcp_syncookies_valid",
	TCPSynCookiesInvalid: "tcp_syncookies_invalid", TCPKeepAliveProbes: "tcp_keepalive_probes",
	TCPKeepAliveDrops: "tcp_keepalive_drops",
	TasksRun:          "tasks_run", TasksCrossed: "tasks_crossed", TimersFired: "timers_fired",
	Loops: "loops", IdleSleeps: "idle_sleeps", BusyNanos: "busy_ns",
	PortRxPackets: "port_rx_packets", PortTxPackets: "port_tx_packets", PortRxMissed: "port_rx_missed",
	PortRxNoBuf: "port_rx_nobuf", PortTxErrors: "port_tx_errors",
}

// String returns the counter's stable snake_case name.
func (id CounterID) String() string {
	if id < 0 || id >= NumCounters {
		return fmt.Sprintf("counter(%d)", int(id))
	}
	return counterNames[id]
}

// Counters is a snapshot of counter values, indexed by CounterID.
type Counters [NumCounters]uint64

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// Handoffs returns the tasks posted to other softnets for packets and
// sockets (tasks_crossed less the neighbour-cache updates shared between
// softnets, ARP's and NDP's): what a relay whose pairs stay on one
// softnet keeps at 0.
func (c *Counters) Handoffs() uint64 {
	return c[TasksCrossed] - c[ARPUpdatesCrossed] - c[NDUpdatesCrossed]
}

// Drops returns the sum of all drop counters.
func (c *Counters) Drops() uint64 {
	var n uint64
	for i, v := range c {
		if strings.HasPrefix(counterNames[i], "drop_") {
			n += v
		}
	}
	return n
}

// WriteTo writes the non-zero counters as "name value" lines, in
// CounterID order.
func (c *Counters) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for i, v := range c {
		if v == 0 {
			continue
		}
		n, err := fmt.Fprintf(w, "%-24s %d\n", counterNames[i], v)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
