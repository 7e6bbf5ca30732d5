package splice

import (
	"bytes"
	"io"
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
			if err := sp.Splice(rc, rs, 0, 0); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			select {
			case <-sp.Done(rc):
			case <-time.After(5 * time.Second):
				t.Fatalf("the splice did not end at EOF; SpliceLen %d", sp.SpliceLen(rc))
			}
			if err := sp.Wait(rc); err != nil {
				t.Fatalf("Wait: %v, want nil at EOF", err)
			}
			rs.CloseWrite()
			got, _ := io.ReadAll(s)
			if !bytes.Equal(cat(head, got), data) {
				t.Fatalf("server got %d bytes, want the %d after the header, in order", len(got), len(data)-100)
			}
			if n := sp.SpliceLen(rc); n != int64(len(data)-100) {
				t.Fatalf("SpliceLen %d, want %d", n, len(data)-100)
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
			if err := sp.SpliceUDP(src, drain, 0, 0); err != nil {
				t.Fatal(err)
			}
			src.Close()
			done := make(chan error, 1)
			go func() { done <- sp.WaitUDP(src) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("WaitUDP after closing the source: %v, want nil (unspliced)", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("closing the spliced UDP source did not end its splice")
			}
		})
	}
}
