package stack

import (
	"runtime"
	"testing"

	"github.com/netsplice/netsplice/driver/memwire"
)

// TestReserveProcs: reservations raise GOMAXPROCS by their softnets and
// add up; given back in any order, and twice, they restore the count.
func TestReserveProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	a := ReserveProcs(2)
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		t.Fatalf("after reserving 2: GOMAXPROCS %d, want %d", got, base+2)
	}
	b := ReserveProcs(3)
	if got := runtime.GOMAXPROCS(0); got != base+5 {
		t.Fatalf("after reserving 3 more: GOMAXPROCS %d, want %d", got, base+5)
	}
	a()
	a() // a second call gives nothing back again
	if got := runtime.GOMAXPROCS(0); got != base+3 {
		t.Fatalf("after giving the first 2 back (twice): GOMAXPROCS %d, want %d", got, base+3)
	}
	b()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("after giving all back: GOMAXPROCS %d, want %d", got, base)
	}
	ReserveProcs(0)()
	ReserveProcs(-1)()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("reserving nothing changed GOMAXPROCS to %d, want %d", got, base)
	}
}

// TestReserveProcsOperatorChose: with the GOMAXPROCS environment variable
// set, the operator's count stands.
func TestReserveProcsOperatorChose(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	base := runtime.GOMAXPROCS(0)
	restore := ReserveProcs(4)
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("GOMAXPROCS set by the operator: changed to %d, want %d", got, base)
	}
	restore()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("restore changed GOMAXPROCS to %d, want %d", got, base)
	}
}

// TestStackReservesProcs: a stack with Config.ReserveProcs holds one more
// P per softnet from Start to Stop.
func TestStackReservesProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	w := memwire.New()
	p, err := w.AddPort(memwire.Config{Name: "a", Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(Config{Softnets: 2, Poll: PollAdaptive, ReserveProcs: true}, InterfaceConfig{Port: p, Addr: addrA})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("before Start: GOMAXPROCS %d, want %d", got, base)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		t.Errorf("running with 2 softnets: GOMAXPROCS %d, want %d", got, base+2)
	}
	st.Stop()
	st.Stop()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("after Stop: GOMAXPROCS %d, want %d", got, base)
	}
}
