// Package dpdk is netsplice's thin cgo binding to DPDK (22.11 LTS, found
// with pkg-config libdpdk): EAL, ethdev ports as driver.Port, mempools as
// driver.Pool backends. It writes none of DPDK's logic again. Built with
// the tag nodpdk (or without cgo), every constructor returns ErrNoDPDK.
//
// # EAL
//
// InitEAL passes the user's arguments through unchanged, so every PMD
// works (-a 0000:3b:00.0, --vdev=net_af_packet0,iface=veth0,
// --vdev=net_tap0, --vdev=net_ring0, ...). EAL can be initialised once per
// process; tests that need fresh EAL state run in subprocesses. DPDK's log
// goes to stderr, or, after RouteLog, to a zap logger (a fopencookie stream
// whose writes call into Go, one entry per line). Cleanup closes the ports
// and calls rte_eal_cleanup.
//
// # Lcores: registered threads, not EAL lcores
//
// A softnet is a goroutine locked to an OS thread that the Go runtime
// created (stack.Softnet). EAL lcores are threads EAL creates and drives
// with rte_eal_remote_launch; running Go code on them would mean calling
// into Go from foreign C threads for the life of the process, with the
// runtime unaware of which thread runs which softnet. Instead, ThreadInit
// (for stack.Config.ThreadInit) calls rte_thread_register on the softnet's
// own locked thread: DPDK gives that thread an lcore id, so mempool
// per-lcore caches, rte_lcore_id() and per-lcore PMD state work, and
// ThreadExit releases the id. Pinning stays the stack's (Config.CPUs).
// Give EAL a single core (-l 0): it runs nothing on its lcores, and every
// softnet needs a free lcore id below RTE_MAX_LCORE. rte_eal_init pins
// its calling thread to the main lcore; InitEAL restores that Go thread's
// affinity, since any goroutine may run on it later.
//
// # Ports, queues and RSS
//
// OpenPort gives a port one logical queue pair per softnet and one
// mempool per logical queue (rte_pktmbuf_pool_create). Hardware RSS is
// used when the PMD can hash into as many queues: it is configured with
// netsplice's key (rss.DefaultKey), a round-robin redirection table is
// programmed, and key, hash types and RETA are read back (Port.RSS
// reports what was read, so the stack predicts queues from the NIC's own
// configuration; a PMD that cannot confirm them falls back to software).
// Otherwise, e.g. af_packet (the kernel's fanout, not Toeplitz, picks its
// rx queue), tap or ring, the port does software RSS: it still presents
// N logical queues; RxBurst(q) takes hardware queue q%hw if no other
// softnet is polling it (an atomic flag: a softnet never waits on
// another), takes the frames other pollers steered to q (a per-queue
// internal/ring.MPSC), then, holding the hardware queue, polls it, hashes
// each frame with the Toeplitz hash of the same key and RETA, moves
// frames of other softnets to their rings (counted as handoffs) and only
// then lets the queue go. Whoever polls, a flow's frames reach its
// softnet in the order the queue received them. Where the PMD has fewer tx queues than
// softnets, softnet q sends on hardware queue q%hw under that queue's
// mutex (the only lock on the data path, absent when the PMD has enough
// tx queues). The mode is logged once when the port opens.
//
// With PortConfig.SYNRing a software-RSS port also classifies each frame
// it dispatches: a pure SYN (driver.PureSYN) goes to one SYN ring, adopted
// by queue 0's pool, instead of its RSS queue, and the port implements
// driver.SYNQueuer for queue 0's owner. A hardware-RSS port offers no SYN
// ring (the rte_flow rule on the TCP flags that would steer SYNs in the
// NIC is not installed) and says so in the log.
//
// Checksum offloads the PMD advertises are enabled and reported by
// Offloads; the stack then leaves checksums to the NIC (tx: the mbuf's
// ol_flags, l2_len and l3_len are set from driver.Packet's Flags, L2Len
// and L3Len, and rte_eth_tx_prepare runs before the tx burst).
//
// # Segmentation offload: the NIC's TSO, or software
//
// A port with TCP checksum offload reports OffloadTxTCPSeg, and the stack
// sends up to 64 KiB as one super-frame: a packet of headers whose
// payload stays in the sender's packets (Packet.More). TxBurst sends it
// one of two ways.
//
// Where the PMD offers RTE_ETH_TX_OFFLOAD_TCP_TSO and MULTI_SEGS (mlx5,
// i40e, ice, virtio; net_tap too, which segments in its own software;
// net_af_packet and net_ring offer neither), a super-frame leaves as one
// mbuf chain (txTSO, one cgo call): the header mbuf, then one spare mbuf
// of the queue's pool per piece of payload, attached to the sender's mbuf
// with rte_pktmbuf_attach (a reference, no copy), with ol_flags
// TX_TCP_SEG, TX_TCP_CKSUM and TX_IPV4 (TX_IP_CKSUM too where the port
// has IPv4 checksum offload; virtio's host fills the headers in itself)
// or TX_IPV6, l2_len, l3_len, l4_len and tso_segsz; rte_eth_tx_prepare,
// then the burst. IPv6 goes this way on every such PMD but net_tap,
// whose software segmentation (librte_gso) is IPv4 only. The segment
// size is the super-frame's SegSize, made smaller where a segment would
// not fit the MTU (net_tap counts the Ethernet header in). The sender
// keeps its packets for retransmission; the binding marks them lent
// (driver.Packet.Lend), so that when the sender frees them, possibly
// while the NIC still reads them, its pool hands them to the mempool
// (rte_pktmbuf_free_bulk, whose reference count keeps each buffer until
// the NIC's chain lets go) rather than to its next Get. A chain the ring
// has no room for is freed and counted (tx_tso_drops, in TxErrors); TCP
// sends it again. A chain tx_prepare refuses (a limit the device info did
// not tell) is taken apart and cut in software, and TSO is off for the
// port from then on, logged once. --no-tso (PortConfig.NoTSO) keeps
// segmentation in software.
//
// Otherwise, and for IPv6 on net_tap, TxBurst cuts super-frames into
// mbufs of the queue's pool in software (driver/gso: headers written,
// payload copied from the sender's packets), and the NIC finishes the
// checksums.
//
// # Receive coalescing: the NIC's LRO
//
// Where the PMD offers RTE_ETH_RX_OFFLOAD_TCP_LRO with TCP checksum
// offload (mlx5, i40e, ice, virtio) the port turns it on, with SCATTER,
// unless PortConfig.NoLRO (--no-gro) says not to. A coalesced frame
// (RTE_MBUF_F_RX_LRO) arrives as a chain of mbufs; so does a frame a
// virtio guest sent with TSO, on net_vhost, whether asked or not. While
// the stack asks for coalesced frames (driver.RxCoalescer; on from the
// start on an LRO port, which refuses to turn it off) the rx burst takes
// the chain apart in C (ns_unchain: each mbuf after the first described
// in a per-queue array and made a frame of its own) and Go links their
// packets into a driver.RxTCPCoalesced frame: the first mbuf's packet,
// its IP length rewritten to its own bytes, then the others on Next,
// SegSize the NIC's tso_segsz, the checksums marked verified. Otherwise
// such a chain is dropped and counted (rx_unsupported). The stack's own
// coalescing (stack/gro.go) runs on every port either way.
//
// Tested between two processes over vhost-user (TestVirtioTSOAndLRO,
// no hugepages needed: EAL's memory is memfd-backed): a virtio_user
// port sends IPv4 and IPv6 super-frames as TSO chains, and the net_vhost
// port at the other end receives each as one coalesced chain.
//
// # Mbufs and descriptors: zero copy
//
// Every mbuf of a netsplice mempool is bound, for its whole life, to one
// driver.Packet descriptor: the mempool's private area of each mbuf holds
// a tag (magic, descriptor table, index) written once at pool creation
// with rte_mempool_obj_iter. Packet.Buf is the mbuf's buffer (buf_addr,
// buf_len) seen from Go in place, Packet.Priv the mbuf's address. On
// receive the binding reads data_off, data_len, the RSS hash and the
// checksum flags in C into a small array, one cgo call per burst; on
// transmit it writes data_off, data_len, pkt_len and offload fields back,
// in the same call as rte_eth_tx_burst. driver.Pool's backend allocates
// and frees a batch of mbufs per cgo call (rte_pktmbuf_alloc_bulk, which
// is all or nothing, is retried with halves so an almost empty pool still
// gives what it has; rte_pktmbuf_free_bulk returns mbufs of any pool).
// Chained mbufs other than a coalesced frame's, and externally attached
// ones, cannot be described and are dropped and counted (MPRQ is not
// enabled).
//
// # Ownership and threading
//
// RxBurst(q), TxBurst(q) and Pool(q) belong to the softnet that owns
// queue q, as the driver contract says; everything else is safe from any
// goroutine. A received packet is adopted by the receiving queue's pool
// (for software RSS: the destination's), so its owner frees it with a
// plain Put; the batch eventually freed returns each mbuf to its own
// mempool. Packets held by other goroutines come back through
// Packet.Free as with any pool. Close must run after the softnets stop:
// it then owns the queues, returns their cached mbufs and frees the
// mempools whose mbufs are all back (others stay until EAL cleanup,
// since Go slices may still point into them).
//
// # What is hot
//
// Per burst: one cgo call for rx (plus one to free undescribable mbufs,
// normally never), one for tx, and one per batch of allocations or
// frees. Per packet, in Go: a descriptor lookup (two loads), a few
// stores, and for software RSS a table-driven Toeplitz hash and, when the
// frame is another softnet's, one ring push. Nothing allocates. The
// stack's check of the pool level before each send buffer it fills
// (driver.Pool.Low) reads the mempool's level through cgo at most once
// per 32 checks while the mempool is at least half free.
package dpdk
