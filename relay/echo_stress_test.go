package relay

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// TestRelayEchoStress runs the relayed echo of TestRelayEcho over and over
// in every mode while goroutines load the CPUs and GOMAXPROCS varies, the
// conditions under which make test once saw a 30 s stall (issue 14: a
// window update dropped at the right edge of the peer's window). A
// connection that makes no progress for stallAfter is reported with the
// state of every connection and splice involved: what each was waiting
// for. make test runs one round per mode; make soak (NETSPLICE_SOAK=1)
// runs NETSPLICE_ROUNDS rounds [30].
func TestRelayEchoStress(t *testing.T) {
	rounds, size := 1, 512<<10
	if os.Getenv("NETSPLICE_SOAK") != "" {
		rounds, size = 30, 2<<20
		if n, err := fmt.Sscan(os.Getenv("NETSPLICE_ROUNDS"), &rounds); n == 1 && err == nil && rounds < 1 {
			rounds = 1
		}
	}
	const stallAfter = 10 * time.Second
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			for round := 0; round < rounds; round++ {
				procs := []int{1, 2, 3, 4}[round%4]
				old := runtime.GOMAXPROCS(procs)
				stop := loadCPUs(round % 3)
				err := echoRound(t, mode, round, size, stallAfter)
				stop()
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatalf("round %d (GOMAXPROCS %d): %v", round, procs, err)
				}
			}
		})
	}
}

// loadCPUs starts n spinning goroutines; the returned function stops them.
func loadCPUs(n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			for x := 0; !done.Load(); x++ {
				if x%1000 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	return func() { done.Store(true); wg.Wait() }
}

// echoRound relays size bytes through a fresh lab's echo and back, and
// describes everything when the data stops moving.
func echoRound(t *testing.T, mode splice.Mode, round, size int, stallAfter time.Duration) error {
	l := newLab(t)
	var mu sync.Mutex
	var servers []*stack.TCPConn
	r := l.start(t, mode, Config{}, func(c *stack.TCPConn) {
		mu.Lock()
		servers = append(servers, c)
		mu.Unlock()
		c.SetDeadline(time.Time{}) // a stall is reported by the client's progress check
		echo(c)
	})
	c := l.dial(t)
	defer c.Close()
	c.SetDeadline(time.Time{})
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(round), 14))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.CloseWrite()
		wrote <- err
	}()
	got := make([]byte, 0, size)
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(stallAfter))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			var b strings.Builder
			fmt.Fprintf(&b, "stalled with %d of %d bytes back (%v); state:\n", len(got), size, err)
			fmt.Fprintf(&b, "client %s\n", c.Describe())
			b.WriteString(r.Describe())
			mu.Lock()
			for _, s := range servers {
				fmt.Fprintf(&b, "echo server %s\n", s.Describe())
			}
			mu.Unlock()
			return fmt.Errorf("%s", b.String())
		}
	}
	if err := <-wrote; err != nil {
		return fmt.Errorf("client write: %v", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%d bytes back, want %d, or altered", len(got), size)
	}
	return nil
}
