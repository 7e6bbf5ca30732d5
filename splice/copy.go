package splice

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// ModeCopy's movers: the userland relay for comparison, a goroutine per
// splice that copies through the sockets' blocking API. It cannot see
// loops, and a chunk it has read is its own: an end that stops it, or a
// read that races it, loses that chunk (the tests say where).

// tcpCopy copies a TCP splice. Softnet and dedicated splices whose
// connections live on different softnets copy too (fallback).
type tcpCopy struct {
	p          *Splice
	src, drain *stack.TCPConn
	fallback   bool          // a softnet or dedicated splice across softnets
	stopped    chan struct{} // closed by an end from outside (Unsplice, Close)
	done       chan struct{} // closed when run returns
}

func newTCPCopy(p *Splice, src, drain *stack.TCPConn, fallback bool) *tcpCopy {
	return &tcpCopy{p: p, src: src, drain: drain, fallback: fallback, stopped: make(chan struct{}), done: make(chan struct{})}
}

func (m *tcpCopy) start() error {
	m.src.SpliceHooks().SetSoftError(0) // as tcpSoftnet.start: a new splice takes over the source
	if m.fallback {
		m.p.s.crossFallbacks.Add(1)
	}
	// The same refusal as tcpSoftnet.begin's, asked of each softnet.
	for _, c := range []*stack.TCPConn{m.src, m.drain} {
		closed := true
		sn := c.Softnet()
		sn.Stack().Call(sn, func() { closed = c.Closed() })
		if closed {
			close(m.done) // no copier: a concurrent Close must not wait for one
			return syscall.ENOTCONN
		}
	}
	go m.run()
	return nil
}

// run is the copier.
func (m *tcpCopy) run() {
	defer close(m.done)
	p, src, drain := m.p, m.src, m.drain
	src.SpliceHooks().SetSpliced(false)
	buf := make([]byte, 64<<10)
	for {
		want := int64(len(buf))
		if p.max > 0 {
			want = min(want, p.max-p.moved.Load())
		}
		if p.idle > 0 {
			src.SetReadDeadline(time.Now().Add(p.idle))
		}
		if m.isStopped() {
			return // after our deadline, so Unsplice's wake-up is not lost
		}
		n, err := src.Read(buf[:want])
		// A chunk read when Unsplice came is written out: it was taken
		// from src, and Unsplice waits for it.
		if n > 0 {
			// Counted before the write, which may deliver the bytes to
			// the peer before it returns (a reader that has them sees
			// them in Len), and taken back for what it did not take.
			p.moved.Add(int64(n))
			w, werr := drain.Write(buf[:n])
			if w < n {
				p.moved.Add(int64(w - n)) // what reached the drain, also before an error
			}
			p.s.counted(w)
			if werr != nil {
				var en syscall.Errno
				if !errors.As(werr, &en) {
					en = syscall.EPIPE
				}
				p.end(endDrain, en)
				return
			}
			if p.max > 0 && p.moved.Load() >= p.max {
				p.end(endMax, syscall.EFBIG)
				return
			}
		}
		if m.isStopped() {
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.end(endEOF, 0)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.end(endIdle, syscall.ETIMEDOUT)
			return
		default:
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EIO
			}
			p.end(endError, en)
			return
		}
	}
}

func (m *tcpCopy) isStopped() bool {
	select {
	case <-m.stopped:
		return true
	default:
		return false
	}
}

func (m *tcpCopy) kick(*stack.Softnet) {}

// stop: an end of the copier's own leaves src's deadline clear; an end
// from outside wakes the copier with a deadline in the past.
func (m *tcpCopy) stop(reason int) {
	if reason != endUnsplice {
		m.src.SetReadDeadline(time.Time{})
		return
	}
	close(m.stopped)
	m.src.SetReadDeadline(time.Unix(1, 0))
}

func (m *tcpCopy) release() {}

// unsplice ends the splice from outside. Unsplice, or closing the drain,
// waits for the copier to return, so that nothing moves after the end and
// src's reader does not meet the deadline that woke the copier; closing
// the drain also wakes a copier blocked writing to it. Closing the
// source: its reader is gone, there is nothing to wait for.
func (m *tcpCopy) unsplice(closing Socket) {
	m.p.end(endUnsplice, 0)
	if closing != nil && closing != Socket(m.drain) {
		return
	}
	if closing != nil {
		m.drain.SetWriteDeadline(time.Unix(1, 0))
	}
	<-m.done
	m.src.SetReadDeadline(time.Time{})
}

func (m *tcpCopy) describe() string { return fmt.Sprintf("copying fallback=%v", m.fallback) }

// udpCopy copies a UDP splice, datagram by datagram.
type udpCopy struct {
	p          *Splice
	src, drain *stack.UDPConn
	done       chan struct{} // closed when run returns
}

func newUDPCopy(p *Splice, src, drain *stack.UDPConn) *udpCopy {
	return &udpCopy{p: p, src: src, drain: drain, done: make(chan struct{})}
}

func (m *udpCopy) start() error {
	go m.run()
	return nil
}

// run is the copier.
func (m *udpCopy) run() {
	defer close(m.done)
	p, src, drain := m.p, m.src, m.drain
	defer src.SetReadDeadline(time.Time{}) // the deadlines were the copier's
	buf := make([]byte, 65536)
	for !p.ended.Load() {
		if p.idle > 0 {
			src.SetReadDeadline(time.Now().Add(p.idle))
		} else {
			src.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // to notice Unsplice
		}
		n, _, err := src.ReadFromUDPAddrPort(buf)
		if p.ended.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if p.idle > 0 {
					p.end(endIdle, syscall.ETIMEDOUT)
					return
				}
				continue
			}
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EIO
			}
			p.end(endError, en)
			return
		}
		if p.max > 0 && p.moved.Load()+int64(n) > p.max {
			p.end(endMax, 0) // the copy relay has read it: it is lost, as a userland relay would lose it
			return
		}
		// Counted before it is sent: whoever sees the datagram arrive
		// sees it in Len.
		moved := p.moved.Add(int64(n))
		if _, err := drain.Write(buf[:n]); err != nil {
			p.moved.Add(-int64(n))
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EPIPE
			}
			p.end(endDrain, en)
			return
		}
		p.s.counted(n)
		if p.max > 0 && moved == p.max {
			p.end(endMax, syscall.EFBIG)
			return
		}
	}
}

func (m *udpCopy) kick(*stack.Softnet) {}
func (m *udpCopy) stop(int)            {}
func (m *udpCopy) release()            {}

// unsplice ends the splice, wakes the copier and waits for it, so that
// nothing it reads after this returns is lost.
func (m *udpCopy) unsplice(Socket) {
	m.p.end(endUnsplice, 0)
	m.src.SetReadDeadline(time.Unix(1, 0))
	<-m.done
	m.src.SetReadDeadline(time.Time{})
}

func (m *udpCopy) describe() string { return "copying" }
