package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestHTTPOverNetsplice runs Go's own net/http server and client,
// unchanged, over two netsplice stacks on the in-memory wire.
func TestHTTPOverNetsplice(t *testing.T) {
	p := newPair(t, pairConfig{softnets: 2, poll: PollAdaptive, start: true, verify: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("192.0.2.2:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, 32<<10)
		for off := 0; off < n; {
			k := min(len(buf), n-off)
			for i := range buf[:k] {
				buf[i] = byte((off + i) % 251)
			}
			w.Write(buf[:k])
			off += k
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body) // HTTP/1.x: read the body before writing
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(body)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil {
					return nil, err
				}
				return p.a.DialTCP(ctx, netip.AddrPort{}, ap)
			},
			MaxIdleConnsPerHost: 4,
		},
	}
	for _, n := range []int{0, 1, 1448, 100000, 4 << 20} {
		resp, err := client.Get("http://192.0.2.2/bytes/" + strconv.Itoa(n))
		if err != nil {
			t.Fatalf("GET /bytes/%d: %v", n, err)
		}
		h := sha256.New()
		got, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		want := sha256.New()
		for i := 0; i < n; i++ {
			want.Write([]byte{byte(i % 251)})
		}
		if err != nil || got != int64(n) || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
			t.Fatalf("GET /bytes/%d: %d bytes, err %v, sha256 match %v", n, got, err, bytes.Equal(h.Sum(nil), want.Sum(nil)))
		}
	}
	// Concurrent requests with bodies both ways.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := bytes.Repeat([]byte(fmt.Sprintf("req%02d-", i)), 5000+i*100)
			resp, err := client.Post("http://192.0.2.2/echo", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(got, body) {
				errs <- fmt.Errorf("echo %d: %d bytes back of %d, err %v", i, len(got), len(body), err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, tp := range []*tap{p.ta, p.tb} {
		if n, err := tp.verified(); err != nil || n == 0 {
			t.Fatalf("gopacket oracle: %d frames, first error %v", n, err)
		}
	}
}

// TestTCPShortConnections opens many short connections (connect, 1 KiB
// each way, close) and checks that nothing leaks: flow tables, timers
// and buffer pools return to where they started.
func TestTCPShortConnections(t *testing.T) {
	total := 10000
	if raceEnabled && os.Getenv("NETSPLICE_SOAK") == "" {
		total = 2000 // the race detector makes each connection ~10x dearer
	}
	p := newPair(t, pairConfig{softnets: 2, poll: PollAdaptive, start: true,
		cfg: Config{TCP: TCPConfig{MSL: 5 * time.Millisecond}}})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 1024)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf)
				}
				c.Close()
			}()
		}
	}()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1024)
			for range work {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"))
				cancel()
				if err != nil {
					errs <- err
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(msg); err != nil {
					errs <- err
				} else if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
					errs <- fmt.Errorf("echo: %v", err)
				}
				c.Close()
			}
		}()
	}
	for i := 0; i < total; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	nerr := 0
	for err := range errs {
		if nerr < 5 {
			t.Error(err)
		}
		nerr++
	}
	if nerr > 0 {
		t.Fatalf("%d of %d connections failed", nerr, total)
	}
	l.Close()
	// Everything drains: TIME-WAIT is 10ms here.
	waitFor(t, 10*time.Second, "flow tables and timers to empty", func() bool {
		n := 0
		for _, s := range []*Stack{p.a, p.b} {
			for _, sn := range s.sn {
				s.call(sn, func() { n += sn.tcp.len() + sn.wheel.Len() })
			}
		}
		return n == 0
	})
	ca, cb := p.a.Counters(), p.b.Counters()
	if ca[TCPActiveOpens] != uint64(total) || cb[TCPPassiveOpens] != uint64(total) {
		t.Fatalf("active opens %d, passive opens %d, want %d", ca[TCPActiveOpens], cb[TCPPassiveOpens], total)
	}
	if ca[TCPClosed] != uint64(total) || cb[TCPClosed] != uint64(total) {
		t.Fatalf("closed %d and %d, want %d each", ca[TCPClosed], cb[TCPClosed], total)
	}
	if ca[TCPRstTx]+cb[TCPRstTx] != 0 {
		t.Fatalf("resets sent: %d and %d, want none (no connection: %d and %d; data after close: %d and %d; timeouts %d and %d)",
			ca[TCPRstTx], cb[TCPRstTx], ca[TCPNoConn], cb[TCPNoConn], ca[TCPDropAfterClose], cb[TCPDropAfterClose], ca[TCPTimeouts], cb[TCPTimeouts])
	}
	p.a.mu.Lock()
	ports := len(p.a.tcpPorts.use) + len(p.a.tcpPorts.perPort)
	p.a.mu.Unlock()
	if ports != 0 {
		t.Fatalf("%d local ports still held", ports)
	}
}
