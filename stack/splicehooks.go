package stack

import (
	"sync/atomic"
	"syscall"

	"github.com/netsplice/netsplice/driver"
)

// SpliceHooks are what package splice reaches into a socket with, as
// OpenBSD's sosplice reaches into a socket's buffers: none of it is for
// applications, so none of it is on the sockets' own method sets. A
// socket's SpliceHooks method returns them; both protocols' hooks have
// these two, and each protocol adds how a splice takes its receive side
// over (TCPSpliceHooks, UDPSpliceHooks).
type SpliceHooks interface {
	// SetCloseHook registers fn to run at the start of Close, on the
	// closing goroutine (splicing unsplices there); nil removes it.
	SetCloseHook(fn func())
	// SetSoftError makes the next read return err once (a splice's end
	// reason, as OpenBSD leaves it in so_error); 0 clears it.
	SetSoftError(err syscall.Errno)
}

// TCPSpliceHooks are a TCP connection's splice hooks: a splice waits for
// the reader, takes its partly read packet and the receive queue, and
// gives them back.
type TCPSpliceHooks TCPConn

// SpliceHooks returns the connection's splice hooks (package splice).
func (c *TCPConn) SpliceHooks() *TCPSpliceHooks { return (*TCPSpliceHooks)(c) }

// SetSpliced marks the receive queue as owned by a splice (Read waits)
// or returns it to the application. Any goroutine.
func (h *TCPSpliceHooks) SetSpliced(on bool) {
	c := (*TCPConn)(h)
	c.spliced.Store(on)
	if !on {
		c.rnotify.poke()
	}
}

// SetSoftError makes the next Read return err once (the end reason of a
// splice, as OpenBSD leaves it in so_error); 0 clears it. Any goroutine.
func (h *TCPSpliceHooks) SetSoftError(err syscall.Errno) {
	c := (*TCPConn)(h)
	c.softErr.Store(uint32(err))
	if err != 0 {
		c.rnotify.poke()
	}
}

// HoldReader waits for the application's reader to finish a Read in
// progress and keeps further Reads out until release is called, as
// OpenBSD's sosplice locks the receive buffer. Splicing holds it while a
// splice starts. Any goroutine but a softnet.
func (h *TCPSpliceHooks) HoldReader() (release func()) {
	c := (*TCPConn)(h)
	c.rmu.Lock()
	return c.rmu.Unlock
}

// ParkReaderPartial hands the reader's partly read packet, if any, to
// ReadPackets, ahead of the receive queue, so that a splice starting
// now moves those bytes first. The caller holds the reader
// (HoldReader).
func (h *TCPSpliceHooks) ParkReaderPartial() {
	c := (*TCPConn)(h)
	if c.rcur != nil {
		c.rback.Store(c.rcur)
		c.rcur = nil
	}
}

// SetCloseHook registers fn to run at the start of Close, on the closing
// goroutine (splicing unsplices there). Any goroutine.
func (h *TCPSpliceHooks) SetCloseHook(fn func()) { setHook(&(*TCPConn)(h).closeHook, fn) }

// UDPSpliceHooks are a UDP socket's splice hooks: a splice takes every
// datagram before the socket's handler or ring, and what was queued.
type UDPSpliceHooks UDPConn

// SpliceHooks returns the socket's splice hooks (package splice).
func (c *UDPConn) SpliceHooks() *UDPSpliceHooks { return (*UDPSpliceHooks)(c) }

// SetSpliceHandler makes fn take every datagram before the socket's own
// handler or receive ring (nil removes it): the hook splicing uses. Any
// goroutine.
func (h *UDPSpliceHooks) SetSpliceHandler(fn UDPHandler) {
	c := (*UDPConn)(h)
	if fn == nil {
		c.splice.Store(nil)
		return
	}
	c.splice.Store(&fn)
}

// TakeQueuedIf hands the datagrams waiting in the receive ring to take,
// in order, while accept says yes to the next one (a datagram accept
// refuses stays queued, first), on the calling softnet, unless a reader
// holds the ring.
func (h *UDPSpliceHooks) TakeQueuedIf(accept func(pk *driver.Packet) bool, take func(pk *driver.Packet)) {
	c := (*UDPConn)(h)
	if !c.ep.rmu.TryLock() {
		return
	}
	for pk := c.ep.rcv.Peek(); pk != nil && accept(pk); pk = c.ep.rcv.Peek() {
		c.ep.rcv.Pop()
		take(pk)
	}
	c.ep.rmu.Unlock()
}

// SetSoftError makes the next read return err once (a splice's end
// reason). Any goroutine.
func (h *UDPSpliceHooks) SetSoftError(err syscall.Errno) {
	c := (*UDPConn)(h)
	c.ep.softErr.Store(uint32(err))
	c.ep.poke()
}

// SetCloseHook registers fn to run at the start of Close, on the closing
// goroutine (splicing unsplices there). Any goroutine.
func (h *UDPSpliceHooks) SetCloseHook(fn func()) { setHook(&(*UDPConn)(h).closeHook, fn) }

// setHook stores fn in p, or clears p for nil.
func setHook(p *atomic.Pointer[func()], fn func()) {
	if fn == nil {
		p.Store(nil)
		return
	}
	p.Store(&fn)
}
