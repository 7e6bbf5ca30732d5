package splice

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// TestSpliceAfterPartialRead is the relay pattern "read a header, then
// splice": the bytes left in the packet the application partly read move
// first, then the rest, and the splice ends at EOF.
func TestSpliceAfterPartialRead(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			data := randBytes(5000, 1)
			c.Write(data)
			head := readFull(t, rc, 100) // the rest of its packet stays with rc's reader
			h, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			select {
			case <-h.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("the splice did not end at EOF; Len %d", h.Len())
			}
			if err := h.Wait(); err != nil {
				t.Fatalf("Wait: %v, want nil at EOF", err)
			}
			rs.CloseWrite()
			got, _ := io.ReadAll(s)
			if !bytes.Equal(cat(head, got), data) {
				t.Fatalf("server got %d bytes, want the %d after the header, in order", len(got), len(data)-100)
			}
			if n := h.Len(); n != int64(len(data)-100) {
				t.Fatalf("Len %d, want %d", n, len(data)-100)
			}
		})
	}
}

// TestSpliceUDPCloseSource: closing a spliced UDP source ends its splice.
func TestSpliceUDPCloseSource(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			_, src, drain, _ := l.udpConns(t)
			sp := New(mode)
			defer sp.Close()
			h, err := sp.Splice(src, drain, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			done := h.Done()
			src.Close()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("closing the spliced UDP source did not end its splice")
			}
			// A closed socket is forgotten, as TCP's are; its splice
			// ended by the unsplice.
			if err := sp.Lookup(src).Wait(); !errors.Is(err, syscall.EPROTO) {
				t.Fatalf("Wait by the closed socket: %v, want EPROTO", err)
			}
			if err := h.Wait(); err != nil {
				t.Fatalf("Wait: %v, want nil after the close's unsplice", err)
			}
		})
	}
}

// TestSpliceWithParkedReader: an application Read blocked on src (no data
// yet) does not hold the splice up, and gets nothing the splice moves: it
// returns the EOF once the splice has moved everything.
func TestSpliceWithParkedReader(t *testing.T) {
	for _, mode := range []Mode{ModeSoftnet, ModeDedicated} {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			type result struct {
				n   int
				err error
			}
			read := make(chan result, 1)
			go func() {
				n, err := rc.Read(make([]byte, 100))
				read <- result{n, err}
			}()
			time.Sleep(20 * time.Millisecond) // the reader parks
			type spliced struct {
				h   *Splice
				err error
			}
			started := make(chan spliced, 1)
			go func() { h, err := sp.Splice(rc, rs, 0, 0); started <- spliced{h, err} }()
			var h *Splice
			select {
			case r := <-started:
				if r.err != nil {
					t.Fatal(r.err)
				}
				h = r.h
			case <-time.After(3 * time.Second):
				t.Fatal("Splice waited for a parked reader")
			}
			data := randBytes(100000, 9)
			go func() { c.Write(data); c.CloseWrite() }()
			if err := h.Wait(); err != nil {
				t.Fatalf("Wait: %v, want nil at EOF", err)
			}
			rs.CloseWrite()
			got, _ := io.ReadAll(s)
			if !bytes.Equal(got, data) {
				t.Fatalf("server got %d of %d bytes", len(got), len(data))
			}
			select {
			case r := <-read:
				if r.n != 0 || r.err != io.EOF {
					t.Fatalf("the parked Read returned %d, %v; want 0, EOF", r.n, r.err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the parked Read never returned after the splice ended at EOF")
			}
		})
	}
}
