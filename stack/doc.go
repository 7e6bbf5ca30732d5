// Package stack is netsplice's network stack: one softnet per lcore, each
// running its own loop to completion, with Ethernet, ARP, IPv4, ICMP,
// UDP and TCP, and IPv6 (addresses, Neighbor Discovery, TCP and UDP,
// ICMPv6 echo), above the driver contract (package driver).
//
// # Softnets and ownership
//
// A Stack has N softnets and every port has N queue pairs; softnet i
// polls queue i of every port and is the only goroutine that touches
// those queues, their buffer pools and everything it keeps: its flow
// tables, its ARP cache, its timers, the receive rings of the sockets it
// delivers to. Because a flow's packets arrive on the queue its RSS hash
// selects (Toeplitz with the port's key and redirection table), a flow's
// state lives on exactly one softnet and the hot path takes no lock.
//
// One loop iteration is:
//
//	rx burst on each port -> parse -> flow lookup -> protocol input
//	-> run queued tasks -> fire due timers -> tx burst on each port
//
// Frames a softnet emits during an iteration collect in a per-port
// transmit batch that is flushed when full and at the end of the
// iteration. Nothing on this path allocates: packets come from the
// queue's pool, timers are intrusive, tables are preallocated maps whose
// lookups do not allocate, and counters are single-writer: a softnet
// counts in plain memory and publishes the counts that changed with one
// atomic store each at the end of the iteration (an atomic store per count
// is a full fence on amd64, which waits for the header stores to cold
// packet buffers), so Counters lags by at most one iteration.
//
// # Crossing softnets: the task queue
//
// Every other goroutine (an application using a socket, the control plane
// binding a port, another softnet) reaches a softnet only through its task
// queue (package task): a lock-free multi-producer intrusive list of
// reference-counted tasks. A task is a function bound once to the object
// it works on and is its own queue entry, so adding it allocates nothing
// and can never be refused (a FIN or a wake-up is never lost to a full
// queue); adding a task already queued is a no-op; deleting it never
// waits; the object it works on is released by whoever drops the last
// reference. This is the seed's fix:
// OpenBSD moved socket splicing onto the softnet task queues and replaced
// task barriers (which deadlock when a task on a queue waits for that
// queue) with reference counts. Tasks added by one softnet to another are
// counted as crossings, so a workload that should stay on one core proves
// it does.
//
// Control-plane changes that every softnet must see (a socket bound to a
// port) are installed by a task on each softnet; the caller waits for all
// of them, off the hot path.
//
// # Polling
//
// In busy mode (the appliance default) a softnet spins on its queues
// forever, locked to an OS thread and, when configured, pinned to a CPU
// (see Threads and hand-offs).
// In adaptive mode it polls for a while after the last work, then sleeps
// with a growing timeout bounded by the next timer; a task added to its
// queue, or a port that can signal received frames (driver.RxNotifier),
// wakes it at once. Tests and demos use adaptive mode so that idle stacks
// do not burn the CPU.
//
// # Threads and hand-offs
//
// A softnet that busy-polls, is pinned (Config.CPUs) or runs a ThreadInit
// (a DPDK lcore registers its thread) holds an OS thread of its own
// (runtime.LockOSThread), as every softnet does with Config.LockThreads.
// An adaptive softnet without them is an ordinary goroutine: Go wakes a
// goroutine locked to its thread through two OS threads (its P is handed
// to the locked thread, the waker's thread parks), and an adaptive
// softnet sleeps and wakes thousands of times a second; unlocked, a wake
// is a goroutine put on a run queue. Stack.ThreadCPU reads thread clocks
// and so needs locked softnets (ErrThreadsNotLocked).
//
// A goroutine a softnet wakes (a channel send) goes to the softnet's P
// as the next to run, and while the softnet polls, another P takes it
// from there only after tens of microseconds. For a goroutine that
// waits for one event and then answers (a Dial's handshake, an Accept,
// a Read of a short segment or a FIN: a request-response exchange) that
// wait is the exchange's latency, so an unlocked softnet yields its P
// (runtime.Gosched) after an iteration that woke one (Softnet.handOff)
// and goes on from the global run queue. Wakes in a stream are left
// where they are: a reader or writer woken a little later takes many
// segments' worth at once.
//
// A softnet holds a Go P for as long as it polls. Where the softnets are
// as many as GOMAXPROCS the
// application's goroutines run only while one sleeps; Config.ReserveProcs
// (ReserveProcs) raises GOMAXPROCS by the softnets from Start to Stop so
// that they keep theirs. It is the program's choice: it helps many ready
// goroutines (connection churn through net.Conn) and costs a few bulk
// flows their caches on a small machine.
//
// # Network layer decisions
//
//   - Ethernet II only; frames for other MACs (unless broadcast or
//     multicast) are dropped and counted.
//   - ARP: each softnet keeps its own cache; replies arrive on the queue of
//     hash 0, and the softnet that learns an entry posts it to the others.
//     Packets waiting for resolution sit in a bounded per-softnet queue;
//     overflow and unanswered requests are dropped and counted. Each port
//     sends a gratuitous ARP when the stack starts. Static entries
//     (InterfaceConfig.Neighbors) start in every softnet's cache and stay:
//     never expired, refreshed, evicted or changed by what arrives.
//   - IPv4: header length, total length, version and checksum are checked;
//     packets not for an interface address (or broadcast) are dropped:
//     netsplice is an endpoint, not a router. Fragments are dropped and
//     counted (ip_fragment): netsplice never sends them (it sets DF and
//     sizes datagrams to the MTU), and a relay appliance should not spend
//     memory reassembling. IP options are accepted and skipped.
//   - ICMP: echo requests are answered in place, reusing the received
//     buffer; closed UDP ports get a rate-limited port unreachable.
//   - UDP: sockets with bounded receive rings (overflow dropped and
//     counted per socket and per softnet), bind, connect, send to and
//     receive from. A socket's receive ring is fed by any softnet and read
//     by one reader; its sends run on its home softnet, which is the RSS
//     softnet of its flow when it is connected.
//   - TCP segmentation offload (tso.go): on a port that cuts super-frames,
//     TCP sends up to 64 KiB as one frame of headers whose payload stays in
//     the send queue, referenced; the transmit batch is flushed right
//     after it, and one that would wait (neighbour resolution, loopback)
//     is cut in software first. Retransmissions and segments carrying
//     SACK blocks are ordinary frames.
//   - Receive coalescing (gro.go): while a softnet walks a receive burst,
//     in-order data segments of one connection that follow each other
//     are chained into one before TCP input, by Linux GRO's rules; any
//     other TCP segment flushes the chain first, so a connection's
//     segments keep their order. TCP input delivers a chain of in-order
//     data piece by piece onto the receive ring and takes anything else
//     piece by piece as if nothing had been chained. A port that can
//     coalesce itself (driver.RxCoalescer: a NIC's LRO, memwire's whole
//     super-frames) is asked to when the stack starts, unless
//     TCPConfig.NoCoalesce; its frames arrive as such a chain already
//     (RxTCPCoalesced): the input path sees the first segment, the rest
//     waits in Softnet.rxMore until tcpSegment attaches it for the
//     connection, and is freed with the head wherever that is dropped.
//
// # TCP connections and who touches them
//
// A TCPConn is in parts by owner (tcp.go): tcpFlow, fixed when it is
// made; tcpControl, tcpSender and tcpReceiver, its softnet's alone (the
// state machine, timers and tasks; the send queue, retransmission and
// congestion control; the receive window, ACKs owed and out-of-order
// segments); and tcpHandoff, where the application's goroutines meet the
// softnet (the receive ring, the reader's and writer's locks, wake
// channels, deadlines, atomics). Applications use net.Conn's methods or,
// on the softnet, the softnet-side API (tcp_softnet.go); package splice
// reaches in only through SpliceHooks (splicehooks.go). An open's
// softnet work (the connect, the hand-over to a softnet-side accept) and
// its events run as the connection's own tasks, so opening, closing and
// TIME-WAIT allocate nothing beyond the connection and its receive ring.
//
// A Write hands its buffer to the softnet (wbuf) and waits until the
// write task has copied it into the send queue, as the buffer is the
// caller's again once Write returns. A small one (writeBehindMax bytes)
// on an established connection is instead copied into the connection's
// staging buffer and returns at once (write-behind, as a kernel socket's
// write returns once buffered); the atomic wstaged hands the staging
// buffer to the softnet's staged-write task and back, the next Write
// waits for it, and a close's FIN waits until it is queued. This saves
// the hand-off a request/response exchange would wait on per message.
//
// # IPv6
//
// An interface with IPv6 prefixes (InterfaceConfig.Addr6) also has the
// link-local address derived from its MAC (modified EUI-64) and receives
// EtherType 0x86DD; an interface without them drops it as before
// (drop_ethertype). Ports that filter multicast are asked for the
// all-nodes and solicited-node groups (driver.MulticastReceiver; DPDK
// turns all-multicast on; the in-memory wire and af_packet deliver all
// multicast anyway). Implemented:
//
//   - ipv6Input: the fixed header (version, payload length), the
//     destination (our addresses, link-local included, all-nodes, our
//     solicited-node groups), martian sources, and the extension-header
//     chain walked with bounds (header.IPv6.WalkExtHeaders). Fragments are
//     dropped and counted (drop_ip6_fragment), as IPv4's; atomic fragments
//     pass. An unknown next header is answered with a Parameter Problem,
//     code 1, pointing at the Next Header field, rate limited in the same
//     per-softnet bucket as ICMPv4 errors.
//
//   - ICMPv6 echo requests are answered in place (extension headers
//     stripped), like IPv4's; echo to multicast is ignored. PingConn and
//     Stack.Ping send ICMPv6 echo to an IPv6 destination.
//
//   - Neighbor Discovery: solicitations for our addresses (hop limit 255,
//     target ours; from the unspecified address, a DAD probe, answered to
//     all-nodes) are answered with a solicited advertisement carrying our
//     MAC; the sender's link-layer option is learned. Advertisements (hop
//     limit 255) are learned: solicited ones create entries, unsolicited
//     ones only refresh. The neighbour cache is the ARP cache's code
//     (neigh.go: one generic table, instantiated for [4]byte and [16]byte
//     keys, so IPv4 keeps its stenciled 4-byte fast path): per softnet,
//     learned entries posted to the other softnets as tasks, a bounded
//     pending queue, retried solicitations to the solicited-node group,
//     expiry and refresh, with the ARP* settings of Config.
//
//   - TCP and UDP over IPv6 (flow.go). Transport code holds addresses as
//     [16]byte in both families, IPv4 ones IPv4-mapped, and keys flows by
//     one flowKey; a softnet's tables (flowTable) keep one map per family,
//     so the IPv4 receive path still looks up a 12-byte key and pays
//     nothing for IPv6. Checksums use the IPv6 pseudo-header (UDP's is
//     mandatory: a zero checksum is dropped), the MSS is MTU - 60, ISNs
//     and SYN cookies hash the 128-bit tuple, and active opens steer
//     replies with Toeplitz over the IPv6 tuple (Interface.queueFor). A
//     listener or UDP bind on :: takes both families (IPv4 peers appear
//     with IPv4 addresses); one on 0.0.0.0 takes IPv4 only. Datagrams to
//     our own IPv6 addresses go through loopback like IPv4's. A closed UDP
//     port answers Destination Unreachable (port unreachable).
//
//   - Routing: the interface whose prefix holds the destination, link-local
//     destinations by the first IPv6 interface (zones ignored), else the
//     first interface with InterfaceConfig.Gateway6.
//
//   - Path MTU (pmtu.go): Packet Too Big, and ICMPv4 Fragmentation Needed,
//     lower the quoted connection's MSS on its own softnet and resend what
//     was in flight at the new size.
//
// An interface may be IPv6-only (no InterfaceConfig.Addr): it then drops
// IPv4 and ARP (drop_ethertype) and announces nothing over ARP.
//
// Not yet: NUD's reachability states, DAD for our own addresses, router discovery
// and SLAAC, MLD, acting on routing headers.
package stack
