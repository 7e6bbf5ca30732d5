package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoftHTTPProtocol drives the softnet HTTP service with raw requests:
// keep-alive, pipelining, a head split over writes, Connection: close,
// HTTP/1.0, and the error answers.
func TestSoftHTTPProtocol(t *testing.T) {
	sts := wirePair(t)
	cl, sv := sts[0], sts[1]
	sc, closer, err := Start(sv, Spec{HTTP, "tcp", 80})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	dst := netip.MustParseAddrPort("192.0.2.2:80")
	dial := func(t *testing.T) (*bufio.Reader, func(string), func()) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := cl.DialTCP(ctx, netip.AddrPort{}, dst)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return bufio.NewReader(c), func(s string) { c.Write([]byte(s)) }, func() { c.Close() }
	}
	read := func(t *testing.T, br *bufio.Reader, status int, body string, wantClose bool) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != status || resp.Close != wantClose {
			t.Fatalf("status %d close %v err %v; want %d close %v", resp.StatusCode, resp.Close, err, status, wantClose)
		}
		if body != "" && string(b) != body {
			t.Fatalf("body %q, want %q", b, body)
		}
		if status == 200 && (int64(len(b)) != resp.ContentLength || PatternMismatch(b, 0) != -1) {
			t.Fatalf("body of %d bytes (Content-Length %d) is not the pattern", len(b), resp.ContentLength)
		}
	}
	eof := func(t *testing.T, br *bufio.Reader) {
		t.Helper()
		if b, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the last response: %q, %v; want EOF", b, err)
		}
	}

	t.Run("keepalive and pipelining", func(t *testing.T) {
		br, w, done := dial(t)
		defer done()
		w("GET /bytes/100 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/3000000 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/0 HTTP/1.1\r\n\r\n")
		read(t, br, 200, "", false)
		read(t, br, 200, "", false)
		read(t, br, 200, "", false)
		w("GET /bytes/7 HTTP/1.1\r\nConnection: close\r\n\r\n")
		read(t, br, 200, "", true)
		eof(t, br)
	})
	t.Run("split head", func(t *testing.T) {
		br, w, done := dial(t)
		defer done()
		for _, part := range []string{"GE", "T /bytes/5", "00 HTTP/1.1\r", "\nHost: x\r\n", "\r", "\n"} {
			w(part)
			time.Sleep(2 * time.Millisecond)
		}
		read(t, br, 200, "", false)
	})
	t.Run("http/1.0 closes", func(t *testing.T) {
		br, w, done := dial(t)
		defer done()
		w("GET /bytes/10 HTTP/1.0\r\n\r\n")
		read(t, br, 200, "", true)
		eof(t, br)
	})
	for _, tc := range []struct {
		name, req string
		status    int
		close     bool
	}{
		{"not found", "GET /other HTTP/1.1\r\n\r\n", 404, false},
		{"head", "HEAD /bytes/5 HTTP/1.1\r\n\r\n", 405, false},
		{"post", "POST /bytes/5 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400, true},
		{"bad size", "GET /bytes/-4 HTTP/1.1\r\n\r\n", 400, false},
		{"too big", "GET /bytes/99999999999999 HTTP/1.1\r\n\r\n", 400, false},
		{"bad line", "NONSENSE\r\n\r\n", 400, true},
		{"bad header", "GET /bytes/1 HTTP/1.1\r\nno colon here\r\n\r\n", 400, true},
		{"long head", "GET /bytes/1 HTTP/1.1\r\nX: " + strings.Repeat("a", maxRequestHead+100), 431, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br, w, done := dial(t)
			defer done()
			w(tc.req)
			read(t, br, tc.status, "", tc.close)
			if tc.close {
				eof(t, br)
			} else {
				w("GET /bytes/3 HTTP/1.1\r\n\r\n") // the connection still serves
				read(t, br, 200, "", false)
			}
		})
	}
	if sc.Conns() == 0 || sc.Bytes() < 3000000 {
		t.Errorf("counters: %d requests, %d bytes", sc.Conns(), sc.Bytes())
	}
}

// TestSoftHTTPConcurrent: many clients at once with Go's HTTP client over
// the stack, each body verified, and the connection states are reused.
func TestSoftHTTPConcurrent(t *testing.T) {
	sts := wirePair(t)
	cl, sv := sts[0], sts[1]
	_, closer, err := Start(sv, Spec{HTTP, "tcp", 80})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return cl.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
		},
		MaxIdleConnsPerHost: 4,
	}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 8; j++ {
				n := 1000 * (i*8 + j + 1)
				resp, err := client.Get(fmt.Sprintf("http://192.0.2.2/bytes/%d", n))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || len(b) != n || PatternMismatch(b, 0) != -1 {
					errs <- fmt.Errorf("/bytes/%d: %d bytes, err %v", n, len(b), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFields checks the request-line splitter against bytes.Fields on
// spaces and tabs, and that it allocates nothing.
func TestFields(t *testing.T) {
	for _, line := range []string{"", " ", "GET", "GET /bytes/1 HTTP/1.1", "  GET\t/x   HTTP/1.0  ", "a b c d e", "\t\t", "GET /a HTTP/1.1 extra"} {
		want := bytes.Fields([]byte(line))
		var out [3][]byte
		n := fields([]byte(line), out[:])
		if n != len(want) {
			t.Errorf("fields(%q) = %d, want %d", line, n, len(want))
			continue
		}
		for i := 0; i < min(n, 3); i++ {
			if !bytes.Equal(out[i], want[i]) {
				t.Errorf("fields(%q)[%d] = %q, want %q", line, i, out[i], want[i])
			}
		}
	}
	line := []byte("GET /bytes/100 HTTP/1.1")
	if a := testing.AllocsPerRun(100, func() {
		var out [3][]byte
		fields(line, out[:])
	}); a != 0 {
		t.Errorf("fields allocates %v times", a)
	}
}
