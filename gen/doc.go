// Package gen is netsplice's traffic generator: stateful TCP and UDP at a
// rate the operator sets, from a netsplice stack, with latency histograms
// and counts that add up. `netsplice gen` runs it on DPDK ports or on the
// in-memory wire; the benchmarks run it against the service package.
//
// # TCP
//
// A connection is: dial, then RequestsPerConn times send a request and
// read its whole response, then half-close, read the server's EOF and
// close. A request is Request bytes of the service pattern (byte i of the
// stream is i % 251) and the response Response bytes that must follow the
// same pattern at the same stream offsets (an echo server), or, with HTTP,
// `GET /bytes/N` whose body must be N bytes of the pattern from offset 0
// with a matching Content-Length (`netsplice serve --http`). CountOnly
// turns the pattern check off for servers that send something else; the
// lengths are still checked.
//
// Starts follow an open-loop schedule: with Rate > 0 the intended start
// times t0 + i/Rate come whatever the server does; with Rate 0 a new
// connection starts as soon as one ends (closed loop, as fast as
// possible), Conns at a time. A start that finds Conns connections busy is
// missed and counted, as is what the generator could not start by the end
// of the run plus lateGrace: the rate was not held.
//
// # UDP
//
// Flows connected sockets, each steered to a softnet by RSS, send Size
// byte datagrams at Rate in total, round robin over the flows. Each
// datagram carries its flow, its sequence number, its intended send time
// and its actual send time; an echoing peer's replies are taken in on the
// softnet that owns the flow, in the socket's handler, where the round
// trip is recorded in that softnet's own histograms. A reader goroutine
// reaches them only through Stack.Call. Without an echo (NoReply) only
// what was sent is counted. Each datagram is the run's template with
// those four fields written in; its UDP checksum is completed from the
// template's sum plus the fields' values (UDPConn.SendPacketSummed), so
// the payload is never read back.
//
// # Latency and coordinated omission
//
// Every latency is recorded twice: from the intended time of the schedule
// (corrected) and from the moment the generator actually acted
// (uncorrected). A stalled server or a generator that fell behind shows in
// the corrected figures, as wrk2 reports them; the uncorrected ones are
// what a closed-loop tool would print. Connect latency is SYN to
// established. Response latency is a request's first byte written to its
// response's last byte read; its corrected form adds the connection's
// start lag (actual start minus intended start), which every request of
// the connection inherits. Histograms keep three significant digits
// (internal/hist).
//
// # Counts
//
// attempted = established + failed to connect; established = completed +
// failed after connecting (at the end of a run, when every connection has
// ended); each failure is counted once, under one reason: refused, reset,
// timeout, verify or other. Retransmits and packet rates come from the
// stack's counters over the same interval.
//
// # Threading
//
// Everything per packet and per connection runs on the softnets. Each
// softnet has a TCP engine with its share of Conns and of the rate: a tick
// (a task, or a timer when the next start is a millisecond or more away)
// starts what is due with Softnet.DialTCP, and each connection is a pooled
// flow driven by the softnet-side events (Established, Readable,
// Writable), building requests in the softnet's own packets and checking
// responses in the received ones: no goroutine, channel or lock per
// connection, and no allocation by the generator once its flows are
// pooled. UDP flows are sent by a task on the softnet that owns each one
// and timed in its handler there. Each softnet records into its own
// histograms; the reporting goroutine merges them through Stack.Call.
// Counters are atomics, added to a few times per connection or datagram.
// Run reports every Interval through a callback and returns the totals.
package gen
