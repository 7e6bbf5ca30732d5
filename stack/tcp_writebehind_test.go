package stack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/impair"
)

// startedConns dials B from A on a started pair and returns both ends.
func startedConns(t *testing.T, p *pair, port uint16) (client, server *TCPConn) {
	t.Helper()
	l, err := p.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan *TCPConn, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), port))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	if server == nil {
		t.Fatal("accept failed")
	}
	return client, server
}

// TestWriteBehind: small writes return before the softnet queued them
// (write-behind), mixed with writes too large for it and followed at once
// by Close; the peer reads every byte in order and then EOF, with and
// without loss on the wire.
func TestWriteBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		imp  *impair.Config
	}{
		{name: "clean"},
		{name: "loss", imp: &impair.Config{Seed: 7, Drop: 0.02, Reorder: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairConfig{poll: PollAdaptive, start: true, quiet: true, impairA: tc.imp})
			client, server := startedConns(t, p, 7)
			type result struct {
				b   []byte
				err error
			}
			read := make(chan result, 1)
			go func() {
				server.SetReadDeadline(time.Now().Add(60 * time.Second))
				b, err := io.ReadAll(server)
				read <- result{b, err}
			}()
			rng := rand.New(rand.NewSource(1))
			var want bytes.Buffer
			for i := 0; want.Len() < 1<<20; i++ {
				n := 1 + rng.Intn(writeBehindMax)
				if i%50 == 49 {
					n = writeBehindMax + 1 + rng.Intn(8192) // the blocking path, behind a staged write
				}
				b := make([]byte, n)
				rng.Read(b)
				if got, err := client.Write(b); err != nil || got != n {
					t.Fatalf("write %d (%d bytes): %d, %v", i, n, got, err)
				}
				want.Write(b)
			}
			if err := client.Close(); err != nil {
				t.Fatal(err)
			}
			if n := p.a.Counters()[TCPWriteBehind]; n < 100 {
				t.Errorf("tcp_write_behind %d after %d writes of up to %d bytes: want most of them behind", n, 1<<20/(writeBehindMax/2), writeBehindMax)
			}
			r := <-read
			got, err := r.b, r.err
			if err != nil {
				t.Fatalf("server read after %d of %d bytes: %v", len(got), want.Len(), err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("server read %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.Bytes()))
			}
			server.Close()
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWriteBehindCloseWrite: a FIN from CloseWrite right after a staged
// write follows it: the peer reads the byte, then EOF, and can still
// answer.
func TestWriteBehindCloseWrite(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true, quiet: true})
	for i := 0; i < 50; i++ {
		client, server := startedConns(t, p, uint16(1000+i))
		if _, err := client.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := client.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		server.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(server)
		if err != nil || len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("round %d: server read %v, %v; want the one byte, then EOF", i, got, err)
		}
		if _, err := server.Write([]byte("ok")); err != nil {
			t.Fatal(err)
		}
		server.Close()
		client.SetDeadline(time.Now().Add(10 * time.Second))
		if got, err := io.ReadAll(client); err != nil || string(got) != "ok" {
			t.Fatalf("round %d: client read %q, %v; want ok", i, got, err)
		}
		client.Close()
	}
}

// TestWriteBehindErrors: a write that finds the connection reset or its
// deadline passed fails at once, staged or not: the error a staged write
// could not return is the next call's.
func TestWriteBehindErrors(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true, quiet: true})
	client, server := startedConns(t, p, 7)
	client.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := client.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("small write past its deadline: %v, want a deadline error", err)
	}
	client.SetWriteDeadline(time.Time{})
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = client.Write([]byte("x")) // staged ones may succeed until the RST arrives
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write after the peer's reset: %v, want ECONNRESET", err)
	}
	if _, err := client.Write([]byte("y")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("next write: %v, want ECONNRESET again", err)
	}
	client.Close()
}

// TestWriteBehindBeforeWritePackets: a staged write whose task has not run
// yet goes ahead of packets a splice then writes on the softnet.
func TestWriteBehindBeforeWritePackets(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true, quiet: true})
	client, server := startedConns(t, p, 7)
	taken := -1
	p.a.call(client.sn, func() {
		client.wsn, client.wsdone = copy(client.wstage[:], "staged,"), 0
		client.wstaged.Store(true)
		pk := client.NewPacket()
		copy(pk.Append(7), "spliced")
		rest, n := client.WritePackets(pk)
		if rest != nil {
			client.sn.free(rest)
		}
		taken = n
	})
	if taken != 7 {
		t.Fatalf("WritePackets took %d bytes, want 7", taken)
	}
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 14)
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "staged,spliced" {
		t.Fatalf("server read %q, %v; want the staged write first", got, err)
	}
	client.Close()
	server.Close()
}
