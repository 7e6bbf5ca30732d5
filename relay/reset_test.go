package relay

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/gate"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/header"
)

// waitUntil waits for cond, checking every millisecond, up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// resetCase is one phase of a relayed pair with a reset from one side.
// run drives the pair into the phase, resets side "client" or "server",
// and returns the error the other side's application then sees.
type resetCase struct {
	phase string
	run   func(t *testing.T, l *lab, mode splice.Mode, side string) (r *Relay, other error)
}

// TestRelayResetPhases: a reset on either side reaches the other side as
// a reset, never as a clean close, in every phase of a relayed pair and
// in every splice mode, and the relay counts it (issue 9). The in-memory
// wire's gates and the relay's hooks put the reset exactly into each
// phase.
func TestRelayResetPhases(t *testing.T) {
	for _, tc := range resetCases() {
		for _, side := range []string{"client", "server"} {
			if tc.phase == "backend connecting" && side == "server" {
				continue // the server side of this phase is a refused dial: TestRelayBackendRefusedResetsClient
			}
			for _, mode := range modes {
				t.Run(fmt.Sprintf("%s/%s resets/%v", tc.phase, side, mode), func(t *testing.T) {
					l := newLab(t)
					r, err := tc.run(t, l, mode, side)
					if !isReset(err) {
						t.Fatalf("the other side saw %v, want ECONNRESET\n%s", err, r.Describe())
					}
					waitUntil(t, "the relay to count the reset", func() bool { return r.Stats().Resets == 1 })
					if st := r.Stats(); st.DialFailed != 0 {
						t.Fatalf("stats %+v: a reset counted as a failed dial", st)
					}
				})
			}
		}
	}
}

// eventually waits for cond like waitUntil, from any goroutine: it
// reports a timeout with t.Error.
func eventually(t *testing.T, what string, cond func() bool) {
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
	}
}

// conns are the applications' two ends of a relayed pair.
type conns struct{ client, server *stack.TCPConn }

// reset resets side's end.
func (p conns) reset(side string) {
	if side == "client" {
		p.client.Reset()
	} else {
		p.server.Reset()
	}
}

// otherReadErr reads the other side's end to its end and returns the error.
func (p conns) otherReadErr(side string) error {
	other := p.server
	if side == "server" {
		other = p.client
	}
	_, err := io.Copy(io.Discard, other)
	return err
}

func resetCases() []resetCase {
	return []resetCase{
		{"backend connecting", func(t *testing.T, l *lab, mode splice.Mode, side string) (*Relay, error) {
			// The backend's SYN-ACK is held: the relay is opening it when
			// the client resets. The open is aborted, so the SYN-ACK
			// released later meets an RST: the server never accepts, its
			// half-open connection is reset.
			synAck := uint8(header.TCPFlagSyn | header.TCPFlagAck)
			l.gates["s"].Hold(gate.TCPFlags(synAck, synAck|uint8(header.TCPFlagRst)))
			srv := make(chan *stack.TCPConn, 1)
			r := l.start(t, mode, Config{}, func(c *stack.TCPConn) { srv <- c })
			c := l.dial(t)
			c.Write(make([]byte, 4096))
			waitUntil(t, "the backend's SYN-ACK to be held", func() bool { return l.gates["s"].Matched() > 0 })
			rstBefore := l.server.Counters()[stack.TCPRstRx]
			c.Reset()
			waitUntil(t, "the relay to abort the open", func() bool { return r.Stats().Resets == 1 })
			l.gates["s"].Release()
			waitUntil(t, "the server's half-open connection to be reset", func() bool {
				return l.server.Counters()[stack.TCPRstRx] > rstBefore
			})
			select {
			case sc := <-srv:
				_, err := sc.Read(make([]byte, 1))
				return r, err
			default:
				return r, syscall.ECONNRESET // never accepted: the reset ended it half-open
			}
		}},
		{"splice starting", func(t *testing.T, l *lab, mode splice.Mode, side string) (*Relay, error) {
			// The backend is open, the splices not started: the reset
			// comes now, and the relay sees it before splicing.
			pairs := make(chan conns, 1)
			srv := make(chan *stack.TCPConn, 1)
			cl := make(chan *stack.TCPConn, 1)
			h := hooks{afterDial: func(rc, rb *stack.TCPConn) {
				p := conns{client: <-cl, server: <-srv}
				p.reset(side)
				eventually(t, "the reset at the relay", func() bool { return rc.Err() != nil || rb.Err() != nil })
				pairs <- p
			}}
			r := l.startWith(t, mode, Config{}, func(c *stack.TCPConn) { srv <- c }, h)
			cl <- l.dial(t)
			return r, (<-pairs).otherReadErr(side)
		}},
		{"spliced", func(t *testing.T, l *lab, mode splice.Mode, side string) (*Relay, error) {
			srv := make(chan *stack.TCPConn, 1)
			r := l.start(t, mode, Config{}, func(c *stack.TCPConn) { srv <- c })
			c := l.dial(t)
			c.Write([]byte("hello"))
			sc := <-srv
			if _, err := io.ReadFull(sc, make([]byte, 5)); err != nil {
				t.Fatalf("server read before the reset: %v", err)
			}
			sc.Write([]byte("olleh"))
			if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
				t.Fatalf("client read before the reset: %v", err)
			}
			p := conns{client: c, server: sc}
			p.reset(side)
			return r, p.otherReadErr(side)
		}},
		{"draining", func(t *testing.T, l *lab, mode splice.Mode, side string) (*Relay, error) {
			// One direction ended (its sender shut down for writing), the
			// other still open.
			srv := make(chan *stack.TCPConn, 1)
			r := l.start(t, mode, Config{}, func(c *stack.TCPConn) { srv <- c })
			c := l.dial(t)
			c.Write([]byte("hello"))
			sc := <-srv
			if side == "client" {
				// Server to client is done; the client still sends.
				sc.CloseWrite()
				if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
					t.Fatalf("client saw %d bytes, %v; want EOF", n, err)
				}
			} else {
				c.CloseWrite()
				if b, err := io.ReadAll(sc); string(b) != "hello" || err != nil {
					t.Fatalf("server read %q, %v; want hello then EOF", b, err)
				}
			}
			return r, resetAndWatch(side, c, sc)
		}},
		{"idle re-splice", func(t *testing.T, l *lab, mode splice.Mode, side string) (*Relay, error) {
			// Client to server moves a byte every 10 ms; server to client
			// is idle, and is spliced again after each idle time because
			// the other direction moved: the reset comes just before that.
			pairs := make(chan conns, 1)
			done := make(chan struct{})
			var once sync.Once
			h := hooks{beforeResplice: func(src, dst *stack.TCPConn) {
				once.Do(func() {
					p := <-pairs
					p.reset(side)
					eventually(t, "the reset at the relay", func() bool { return src.Err() != nil || dst.Err() != nil })
					pairs <- p
					close(done)
				})
			}}
			srv := make(chan *stack.TCPConn, 1)
			// The idle time is 30 write intervals: on a loaded machine a
			// shorter one let the pair close as idle before the hook ran.
			r := l.startWith(t, mode, Config{Idle: 300 * time.Millisecond}, func(c *stack.TCPConn) { srv <- c }, h)
			c := l.dial(t)
			c.Write([]byte{0})
			pairs <- conns{client: c, server: <-srv}
			go func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-done:
						return
					case <-tick.C:
						c.Write([]byte{1})
					}
				}
			}()
			<-done
			return r, (<-pairs).otherReadErr(side)
		}},
	}
}

// resetAndWatch resets side and waits for the other side's connection to
// end, returning its error (reads there may already have seen EOF).
func resetAndWatch(side string, c, sc *stack.TCPConn) error {
	other := sc
	if side == "client" {
		c.Reset()
	} else {
		sc.Reset()
		other = c
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := other.Err(); err != nil {
			return err
		}
	}
	return errors.New("the other side's connection never ended")
}

// TestRelayIdleKeepsOneWayTraffic is relayd's idle rule in every mode: a
// direction idle for the timeout is spliced again when the other
// direction moved data meanwhile. A client that sends a byte every 50 ms
// and never reads, under a 400 ms idle time, keeps its connection: the
// server gets every byte; once the client stops, the idle pair closes.
func TestRelayIdleKeepsOneWayTraffic(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			got := make(chan int, 1)
			errs := make(chan error, 1)
			r := l.start(t, mode, Config{Idle: 400 * time.Millisecond}, func(c *stack.TCPConn) {
				n, err := io.Copy(io.Discard, c)
				got <- int(n)
				errs <- err
			})
			c := l.dial(t)
			const bytes = 16
			for i := 0; i < bytes; i++ {
				if _, err := c.Write([]byte{byte(i)}); err != nil {
					t.Fatalf("write %d: %v (cut off while sending)", i, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case n := <-got:
				if err := <-errs; n != bytes || err != nil {
					t.Fatalf("server got %d of %d bytes, then %v; want all, then EOF", n, bytes, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the idle pair never closed")
			}
			if st := r.Stats(); st.Resets != 0 {
				t.Fatalf("stats %+v: resets", st)
			}
		})
	}
}
