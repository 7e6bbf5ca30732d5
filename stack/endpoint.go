package stack

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack/task"
)

// endpoint is the part of a datagram socket (UDP, ICMP echo) shared by
// the softnets and the application.
//
// Receive: softnets push packets onto rcv (any softnet may, the ring is
// multi-producer); the application pops them under rmu (one consumer at a
// time), copies the payload out and frees the packet back to its pool.
// A reader about to block sets waiting, and a softnet that pushes then
// signals notify, so no channel operation happens per packet while the
// reader keeps up.
//
// Send: the application fills the socket's request, adds the socket's
// send task to its home softnet and waits on sendDone; the task builds the
// datagram in a buffer of that softnet's pool. One request is in flight
// per socket (wmu), so nothing is allocated per send.
type endpoint struct {
	st   *Stack
	home *Softnet

	rcv     ring.MPSC[driver.Packet]
	rmu     sync.Mutex
	waiting atomic.Bool
	notify  chan struct{}
	rdl     atomic.Int64 // read deadline, Unix nanoseconds, 0 for none
	wdl     atomic.Int64 // write deadline

	closed atomic.Bool
	done   chan struct{}

	received atomic.Uint64
	drops    atomic.Uint64
	softErr  atomic.Uint32 // errno the next read returns once

	wmu      sync.Mutex
	sendRun  func()
	sendTask task.Task
	sendErr  error
	sendDone chan struct{}
}

func (e *endpoint) init(st *Stack, home *Softnet, queue int, send func(sn *Softnet) error) error {
	e.st, e.home = st, home
	if err := e.rcv.Init(queue); err != nil {
		return err
	}
	e.notify = make(chan struct{}, 1)
	e.done = make(chan struct{})
	e.sendDone = make(chan struct{}, 1)
	e.sendRun = func() {
		e.sendErr = send(home)
		e.sendDone <- struct{}{}
	}
	e.sendTask.Init(e.sendRun, nil)
	return nil
}

// deliver queues pk for the reader. It runs on a softnet and reports false,
// having freed pk, when the ring is full.
func (e *endpoint) deliver(sn *Softnet, pk *driver.Packet) bool {
	if !e.rcv.Push(pk) {
		e.drops.Add(1)
		sn.free(pk)
		return false
	}
	e.received.Add(1)
	if e.waiting.Load() {
		e.poke()
	}
	return true
}

func (e *endpoint) poke() {
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// recv returns the next packet, blocking until one arrives, the deadline
// passes or the socket closes. The caller holds rmu.
func (e *endpoint) recv() (*driver.Packet, error) {
	tm := e.st.deadline()
	defer tm.release()
	for {
		if en := e.softErr.Swap(0); en != 0 {
			return nil, syscall.Errno(en)
		}
		if pk := e.rcv.Pop(); pk != nil {
			return pk, nil
		}
		if e.closed.Load() {
			return nil, net.ErrClosed
		}
		var timeout <-chan time.Time
		if dl := e.rdl.Load(); dl != 0 {
			d := time.Until(time.Unix(0, dl))
			if d <= 0 {
				return nil, os.ErrDeadlineExceeded
			}
			timeout = tm.after(d)
		}
		e.waiting.Store(true)
		if pk := e.rcv.Pop(); pk != nil {
			e.waiting.Store(false)
			return pk, nil
		}
		select {
		case <-e.notify:
		case <-e.done:
		case <-timeout:
		case <-e.st.stop:
			e.waiting.Store(false)
			if pk := e.rcv.Pop(); pk != nil {
				return pk, nil
			}
			return nil, ErrStopped
		}
		e.waiting.Store(false)
	}
}

// send runs the socket's send task on its home softnet and waits for it.
// The caller holds wmu and has filled the request.
func (e *endpoint) send() error {
	if e.closed.Load() {
		return net.ErrClosed
	}
	if dl := e.wdl.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return os.ErrDeadlineExceeded
	}
	if !e.st.started.Load() {
		// Driven by Poll from this goroutine: run it here.
		e.sendRun()
		e.home.publish()
		<-e.sendDone
		return e.sendErr
	}
	if e.st.stopped.Load() {
		return ErrStopped
	}
	e.home.tasks.Add(&e.sendTask, -1)
	select {
	case <-e.sendDone:
		return e.sendErr
	case <-e.st.stop:
		e.st.wg.Wait() // the task may be running: let the softnets finish
		return ErrStopped
	}
}

// setDeadline stores a deadline and wakes a blocked reader to look at it.
func (e *endpoint) setDeadline(d *atomic.Int64, t time.Time) {
	if t.IsZero() {
		d.Store(0)
	} else {
		d.Store(max(t.UnixNano(), 1))
	}
	e.poke()
}

// close marks the endpoint closed, wakes readers, and frees what is
// queued once uninstall has removed it from every softnet.
func (e *endpoint) close(uninstall func() error) error {
	if e.closed.Swap(true) {
		return net.ErrClosed
	}
	close(e.done)
	err := uninstall()
	e.rmu.Lock()
	for pk := e.rcv.Pop(); pk != nil; pk = e.rcv.Pop() {
		pk.Free()
	}
	e.rmu.Unlock()
	return err
}
