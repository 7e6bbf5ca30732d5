package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/splice"
)

// families are the relayed pairs across address families: client side
// (the relay's listening address) and backend side.
var families = []struct {
	name       string
	relay, srv string
}{
	{"v6-v6", "2001:db8:1::2", "2001:db8:1::3"},
	{"v6-v4", "2001:db8:1::2", "192.0.2.3"},
	{"v4-v6", "192.0.2.2", "2001:db8:1::3"},
}

// TestRelayAcrossFamilies relays TCP and UDP from a client of one family
// to a backend of the same or the other family, in every mode: the data
// comes back intact, and in softnet mode the pair stays on one softnet.
func TestRelayAcrossFamilies(t *testing.T) {
	for _, fam := range families {
		for _, mode := range modes {
			t.Run(fam.name+"/"+mode.String(), func(t *testing.T) {
				l := newLab(t)
				listen := netip.AddrPortFrom(netip.MustParseAddr(fam.relay), 80)
				to := netip.AddrPortFrom(netip.MustParseAddr(fam.srv), 81)
				before := l.relay.Counters()

				// TCP: an echo server on [::]:81, a 1 MiB round trip.
				serveTCP(t, l.server, netip.MustParseAddrPort("[::]:81"), echo)
				sp := splice.New(mode)
				t.Cleanup(sp.Close)
				r, err := start(l.relay, sp, Config{Listen: listen, To: to}, nil, hooks{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close(time.Second) })
				c, err := l.client.DialTCP(context.Background(), netip.AddrPort{}, listen)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(testDeadline))
				data := make([]byte, 1<<20)
				for i := range data {
					data[i] = byte(i * 7)
				}
				go func() { c.Write(data); c.CloseWrite() }()
				got, err := io.ReadAll(c)
				if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("TCP: %d of %d bytes back, err %v\n%s", len(got), len(data), err, r.Describe())
				}
				c.Close()

				// UDP: an echo server on [::]:54, datagrams up to what
				// the smaller family carries.
				srv, err := l.server.ListenUDP(netip.MustParseAddrPort("[::]:54"), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { srv.Close() })
				go func() {
					buf := make([]byte, 65536)
					for {
						n, from, err := srv.ReadFromUDPAddrPort(buf)
						if err != nil {
							return
						}
						srv.WriteToUDPAddrPort(buf[:n], from)
					}
				}()
				ur, err := StartUDP(l.relay, sp, UDPConfig{Listen: netip.AddrPortFrom(listen.Addr(), 53), To: netip.AddrPortFrom(to.Addr(), 54)}, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ur.Close(0) })
				uc, err := l.client.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(listen.Addr(), 53), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { uc.Close() })
				for _, n := range []int{0, 1, 100, 1000, 1452} {
					d := bytes.Repeat([]byte{byte(n)}, n)
					if got := exchange(t, uc, d, 2*time.Second); got == nil || !bytes.Equal(got, d) {
						t.Fatalf("UDP %d bytes: got %d back (nil: none)", n, len(got))
					}
				}
				if fam.name == "v4-v6" {
					// 1472 bytes fit IPv4's MTU, not IPv6's (1452): the
					// datagram is dropped, the session lives on.
					if got := exchange(t, uc, make([]byte, 1472), 200*time.Millisecond); got != nil {
						t.Fatalf("UDP 1472 bytes v4 -> v6: got %d back, want a drop", len(got))
					}
					if got := exchange(t, uc, []byte("after"), 2*time.Second); string(got) != "after" {
						t.Fatalf("UDP after an oversize datagram: got %q", got)
					}
				}
				wantSessions, wantOversize := uint64(1), uint64(0)
				if fam.name == "v4-v6" {
					// A new client whose first datagram is too big: dropped
					// from the session's backlog (or by its splice), the
					// next one goes through.
					uc2, err := l.client.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(listen.Addr(), 53), nil)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { uc2.Close() })
					if _, err := uc2.Write(make([]byte, 1472)); err != nil {
						t.Fatal(err)
					}
					if got := exchange(t, uc2, []byte("next"), 2*time.Second); string(got) != "next" {
						t.Fatalf("UDP after an oversize first datagram: got %q", got)
					}
					wantSessions, wantOversize = 2, 2
				}
				if st := ur.Stats(); st.Oversize != wantOversize {
					t.Fatalf("UDP relay stats %+v, want %d oversize datagrams", st, wantOversize)
				}
				if st := ur.Stats(); st.Sessions != wantSessions || st.Failed != 0 {
					t.Fatalf("UDP relay stats %+v, want one session", st)
				}
				if mode == splice.ModeSoftnet {
					after := l.relay.Counters()
					crossed := after.Handoffs() - before.Handoffs()
					if crossed != 0 {
						t.Errorf("softnet-mode relay crossed softnets %d times, want 0", crossed)
					}
				}
			})
		}
	}
}
