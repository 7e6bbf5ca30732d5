// Package splice implements OpenBSD's SO_SPLICE semantics (setsockopt(2),
// sosplice(9)) for netsplice's TCP connections (Splice) and UDP sockets
// (SpliceUDP, see udp.go): everything that arrives on
// a source connection goes out on a drain connection inside the stack,
// until EOF, a byte limit, an idle timeout, an error on either side, or
// Unsplice. The semantics, refusals and end reasons are those of the
// project's shared SPLICE.md; errors satisfy errors.Is with the errno
// OpenBSD would set.
//
// # Where a splice runs (the seed's change)
//
// In ModeSoftnet, the default, a splice's work runs on the softnet that
// owns the source connection (its flow's RSS queue). The source's
// Readable event (new data) and the drain's Writable event (the drain's
// peer acknowledged data) run move on that softnet, which takes whole
// packets from the source's receive queue and appends them to the
// drain's send queue: payload is moved, not copied (a packet is split
// with a counted copy only to stop at exactly max bytes). When the relay
// opened the drain from the accepting softnet (stack.Softnet.DialTCP
// steers its port), both connections share the softnet and a move never
// crosses cores. A pair whose connections live on different softnets (a
// drain opened without a steered port) would hand packets across cores on
// every move; such a splice copies through the sockets as ModeCopy does,
// and Stats.CrossSoftnet counts it.
//
// ModeDedicated is the design before the seed's change: every splice's
// wakeup goes to one splice thread first, which hands the move back to
// the source's softnet (it owns the buffers), so every move crosses cores
// twice (TCP and UDP alike). ModeCopy is the userland relay for
// comparison: a goroutine per splice copies through the sockets' API.
//
// # Starting, loops
//
// Like sosplice, Splice waits for a Read in progress on the source and
// keeps readers out while the splice starts; the bytes a reader left in a
// partly read packet move first. Every packet a splice moves counts one
// pass in driver.Packet.Loops, which follows the data through TCP's send
// queue into the segments built from it and is cleared when a packet
// comes from a port: data that comes back through the stack's own
// addresses (stack/loopback.go) more than 128 times ends the splice with
// ELOOP. ModeCopy cannot see loops.
//
// # Ownership and teardown
//
// Splice and Unsplice may be called from any goroutine; they hand the
// work to the source's softnet with a task and wait for it. A splice
// ends on its own softnet; ending it clears the source's spliced flag (its
// Read then sees the remaining data, the EOF or the end reason, once) and
// closes the done channel Wait watches. Closing a spliced connection
// unsplices both of its roles. Tasks are reference counted (stack/task),
// so a splice ending inside its own task never waits on a barrier.
package splice
