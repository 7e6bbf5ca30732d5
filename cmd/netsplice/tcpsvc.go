package main

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// tcpService runs an echo or discard service over the stack's
// net.Listener: one goroutine per connection, as any Go server.
type tcpService struct {
	l     *stack.TCPListener
	conns *atomic.Uint64
	bytes *atomic.Uint64
}

func startTCPService(st *stack.Stack, s service, sc *serviceCounters) (io.Closer, error) {
	l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), s.port), 0)
	if err != nil {
		return nil, err
	}
	if s.kind == "http" {
		srv := &http.Server{Handler: bytesHandler(sc), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		return srv, nil
	}
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			sc.conns.Add(1)
			go func() {
				defer c.Close()
				var dst io.Writer = io.Discard
				if s.kind == "echo" {
					dst = c
				}
				n, _ := io.Copy(dst, c)
				sc.bytes.Add(uint64(n))
				if s.kind == "echo" {
					c.CloseWrite()
				}
			}()
		}
	}()
	return l, nil
}

// bytesHandler serves /bytes/N: N bytes where byte i is i % 251, a
// payload whose SHA-256 a client can compute on its own.
func bytesHandler(sc *serviceCounters) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			http.Error(w, "size must be 0..2^40", http.StatusBadRequest)
			return
		}
		sc.conns.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		// 251 * 256 bytes: a whole number of periods, so every chunk
		// starts at pattern offset 0.
		var chunk [251 * 256]byte
		for i := range chunk {
			chunk[i] = byte(i % 251)
		}
		for left := n; left > 0; {
			k := min(left, int64(len(chunk)))
			m, err := w.Write(chunk[:k])
			sc.bytes.Add(uint64(m))
			if err != nil {
				return
			}
			left -= k
		}
	})
	return mux
}
