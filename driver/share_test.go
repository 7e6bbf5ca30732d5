package driver

import (
	"bytes"
	"sync"
	"testing"
)

// TestShare: views read the root's bytes without a copy, cannot write
// past them, and keep the root's buffer from reuse until the root's holder
// and every view let go, in any order, from any goroutine; each view gets
// its own buffer back.
func TestShare(t *testing.T) {
	a, b := mustPool(t, 4, 16, 64), mustPool(t, 8, 16, 64)
	root := a.Get()
	copy(root.Append(40), bytes.Repeat([]byte("0123456789"), 4))
	v1, v2, v3 := b.Get(), b.Get(), b.Get()
	ownLen := len(v1.Buf)
	if !v1.Share(root, 5, 10) || !v2.Share(root, 20, 20) {
		t.Fatal("Share refused a range inside the frame")
	}
	if !v3.Share(v2, 5, 5) { // a view of a view holds the root
		t.Fatal("Share refused a view's range")
	}
	if got := string(v1.Data()); got != "5678901234" {
		t.Fatalf("view 1 reads %q", got)
	}
	if got := string(v3.Data()); got != "56789" {
		t.Fatalf("view of view reads %q", got)
	}
	if &v1.Data()[0] != &root.Data()[5] {
		t.Fatal("view 1 holds a copy, not the root's bytes")
	}
	if !v1.Shared() || root.Shared() {
		t.Fatalf("Shared: view %v, root %v", v1.Shared(), root.Shared())
	}
	if v1.Prepend(1) != nil || v1.Append(1) != nil || v1.CopyFrom(root) {
		t.Fatal("a view could write outside its bytes (Prepend, Append or CopyFrom)")
	}
	// Refused: a packet not empty, ranges outside the frame.
	if v1.Share(root, 0, 1) || b.Get().Share(root, 30, 11) || b.Get().Share(root, -1, 2) || b.Get().Share(root, 0, 0) {
		t.Fatal("Share took a bad request")
	}
	free := a.Available()
	a.Put(root) // the holder lets go first: views still read it
	if got := a.Available(); got != free {
		t.Fatalf("root reused while viewed: %d free, want %d", got, free)
	}
	v1.Free()
	b.Put(v3)
	if got := a.Available(); got != free {
		t.Fatalf("root reused while view 2 reads it: %d free, want %d", got, free)
	}
	b.Put(v2) // the last reference returns the root
	if got := a.Available(); got != free+1 {
		t.Fatalf("root not back after the last view: %d free, want %d", got, free+1)
	}
	for range b.Available() {
		pk := b.Get()
		if len(pk.Buf) != ownLen || pk.Shared() || pk.Headroom() != 16 {
			t.Fatalf("a view came back without its own buffer: %d bytes, shared %v, headroom %d", len(pk.Buf), pk.Shared(), pk.Headroom())
		}
		defer b.Put(pk)
	}
	// The root, reused, is a plain packet again: freed with no view, it
	// goes straight back.
	again := a.Get()
	for again != nil && again != root {
		defer a.Put(again)
		again = a.Get()
	}
	if again == nil {
		t.Fatal("root not found in its pool")
	}
	a.Put(again)
	if got := a.Available(); got != free+1 {
		t.Fatalf("a reused root, unshared, did not go back: %d free, want %d", got, free+1)
	}
}

// TestShareUnshare: a view taken back before it was handed over is an
// empty packet of its own buffer, and the root goes back with its holder.
func TestShareUnshare(t *testing.T) {
	a, b := mustPool(t, 2, 16, 64), mustPool(t, 2, 16, 64)
	root := a.Get()
	root.Append(30)
	v := b.Get()
	if !v.Share(root, 0, 30) {
		t.Fatal("Share refused")
	}
	v.Unshare()
	if v.Shared() || v.Len() != 0 || v.Headroom() != 16 || len(v.Buf) != 16+64 {
		t.Fatalf("after Unshare: shared %v, len %d, headroom %d, buffer %d", v.Shared(), v.Len(), v.Headroom(), len(v.Buf))
	}
	free := a.Available()
	a.Put(root)
	if a.Available() != free+1 {
		t.Fatal("root held after its only view was taken back")
	}
	b.Put(v)
}

// TestShareConcurrent: views freed from many goroutines while the holder
// frees the root return the root exactly once (run with -race).
func TestShareConcurrent(t *testing.T) {
	const views = 64
	a, b := mustPool(t, 1, 0, 64), mustPool(t, views, 0, 64)
	for round := range 50 {
		root := a.Get()
		if root == nil {
			t.Fatalf("round %d: root not back", round)
		}
		root.Append(64)
		vs := make([]*Packet, views)
		for i := range vs {
			vs[i] = b.Get()
			if !vs[i].Share(root, i%64, 1) {
				t.Fatal("Share refused")
			}
		}
		var wg sync.WaitGroup
		for _, v := range vs {
			wg.Add(1)
			go func() { defer wg.Done(); v.Free() }()
		}
		a.Put(root)
		wg.Wait()
		if got := b.Available(); got != views {
			t.Fatalf("round %d: %d views back, want %d", round, got, views)
		}
	}
}
