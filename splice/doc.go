// Package splice implements OpenBSD's SO_SPLICE semantics (setsockopt(2),
// sosplice(9)) for netsplice's TCP connections and UDP sockets: everything
// that arrives on a source socket goes out on a drain socket inside the
// stack, until EOF, a byte limit, an idle timeout, an error on either
// side, or Unsplice. The semantics, refusals and end reasons are those of
// the project's shared SPLICE.md; errors satisfy errors.Is with the errno
// OpenBSD would set.
//
// # The API
//
// One call for both protocols: Splicer.Splice(src, drain, max, idle)
// takes two Sockets (*stack.TCPConn with *stack.TCPConn, *stack.UDPConn
// with *stack.UDPConn; the stack's other sockets are refused as OpenBSD
// refuses them) and returns a *Splice, the handle of that one splice:
// Wait, Done, Len and Unsplice, for TCP and UDP alike. A handle stays
// valid after its splice ended (Len and Wait answer from it) and is not
// disturbed by a later splice of the same sockets. Code that holds only
// a socket finds the current or last splice whose source it is with
// Splicer.Lookup (nil, which acts as no splice, when there is none); the
// splicer keeps each socket's roles to refuse a second splice of a source
// or a drain (EBUSY) and to unsplice both roles of a socket being closed.
//
// # Where a splice runs (the seed's change)
//
// A splice's shared state (limits, byte count, end reason, roles) is the
// Splice; how its data moves is its mover, one type per mode and
// protocol, chosen once when it starts:
//
//   - ModeSoftnet, the default (softnet.go): tcpSoftnet runs a splice's
//     work on the softnet that owns the source connection (its flow's RSS
//     queue). The source's Readable event (new data) and the drain's
//     Writable event (the drain's peer acknowledged data) run move on
//     that softnet, which takes whole packets from the source's receive
//     queue and appends them to the drain's send queue: payload is moved,
//     not copied (a packet is split with a counted copy only to stop at
//     exactly max bytes). udpSoftnet takes each datagram in the source's
//     receive hook, on the softnet that received it, and sends it from
//     there with the drain's zero-copy SendPacket. When the relay opened
//     the drain from the accepting softnet (stack.Softnet.DialTCP steers
//     its port), both connections share the softnet and a move never
//     crosses cores. A TCP pair whose connections live on different
//     softnets (a drain opened without a steered port) would hand
//     packets across cores on every move; such a splice gets tcpCopy,
//     and Stats.CrossSoftnet counts it.
//   - ModeDedicated (dedicated.go) is the design before the seed's
//     change: tcpDedicated and udpDedicated are the softnet movers with
//     every wakeup sent to one splice thread first, which hands the move
//     back to the source's softnet (it owns the buffers), so every move
//     crosses cores twice (TCP and UDP alike).
//   - ModeCopy (copy.go) is the userland relay for comparison: tcpCopy
//     and udpCopy run a goroutine per splice that copies through the
//     sockets' API.
//
// # Starting, loops
//
// Like sosplice, a TCP Splice waits for a Read in progress on the source
// and keeps readers out while the splice starts; the bytes a reader left
// in a partly read packet move first. Every packet a splice moves counts
// one pass in driver.Packet.Loops, which follows the data through TCP's
// send queue into the segments built from it (and a UDP datagram out of
// the drain) and is cleared when a packet comes from a port: data that
// comes back through the stack's own addresses (stack/loopback.go) more
// than 128 times ends the splice with ELOOP. ModeCopy cannot see loops.
//
// # Ownership, threading, what is hot
//
// The Splicer's methods and those of a *Splice may be called from any
// goroutine. Splice and Unsplice hand a TCP splice's work to the source's
// softnet with a task and wait for it; a UDP splice's setup runs on the
// source's home softnet, which owns its idle timer.
// Once started, a tcpSoftnet (and tcpDedicated) belongs to the source's
// softnet: move, its idle timer and its end run there. A udpSoftnet's
// receive hook runs on whichever softnet received the datagram, so its
// byte count and last-move time are atomics. A copier owns its mover's
// buffer; Unsplice and Close wake it with a deadline and wait for it.
//
// The hot path is a mover's move (tcpSoftnet.move, udpSoftnet.handle and
// send): it allocates nothing, takes no lock and reads the Splice's
// shared state with atomics; the events reach it through the roles each
// socket keeps (one atomic load) and the mover interface. The splicer's
// mutex and map are the control path: Splice, the end of a splice,
// Lookup and the close of a spliced socket.
//
// Ending a splice (Splice.end: once, wherever its mover ends it) leaves
// the end reason as the source's error, lets the mover stop, counts the
// end by reason, drops the roles, closes Done and hands the source back
// to its reader (its Read then sees the remaining data, the EOF or the
// end reason, once). Closing a spliced socket unsplices both of its
// roles. Tasks are reference counted (stack/task), so a splice ending
// inside its own task never waits on a barrier.
package splice
