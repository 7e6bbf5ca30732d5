package main

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// TestIPFlag checks --ip's per-port lists of IPv4 and IPv6 CIDRs.
func TestIPFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string // ipFlag.String, or the error's text
		wantErr bool
	}{
		{[]string{"192.0.2.1/24"}, "192.0.2.1/24", false},
		{[]string{"192.0.2.1/24,2001:db8:1::1/64"}, "192.0.2.1/24,2001:db8:1::1/64", false},
		{[]string{"2001:db8:1::1/64,192.0.2.1/24,2001:db8:2::1/48", "198.51.100.1/24"}, "192.0.2.1/24,2001:db8:1::1/64,2001:db8:2::1/48 198.51.100.1/24", false},
		{[]string{"bogus"}, "is not an IPv4 CIDR such as 192.0.2.1/24", true},
		{[]string{"192.0.2.1/24", "192.0.2.1/16"}, "given twice", true},
		{[]string{"127.0.0.1/8"}, "cannot be an interface address", true},
		{[]string{"2001:db8::1/64"}, "2001:db8::1/64", false}, // an IPv6-only port
		{[]string{"2001:db8::1/64,2001:db8:2::1/64", "198.51.100.1/24"}, "2001:db8::1/64,2001:db8:2::1/64 198.51.100.1/24", false},
		{[]string{""}, "is not an IPv4 CIDR", true},
		{[]string{"192.0.2.1/24,198.51.100.1/24"}, "two IPv4 CIDRs", true},
		{[]string{"192.0.2.1/24,2001:db8::1/200"}, "not an IPv6 CIDR", true},
		{[]string{"192.0.2.1/24,fe80::1/64"}, "link-local", true},
		{[]string{"192.0.2.1/24,ff02::1/64"}, "cannot be an interface address", true},
		{[]string{"192.0.2.1/24,2001:db8::1/64", "198.51.100.1/24,2001:db8::1/64"}, "given twice", true},
		{[]string{"192.0.2.1/24,::ffff:192.0.2.9/120"}, "not an IPv6 CIDR", true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sf := addStackFlags(fs)
		var args []string
		for _, a := range tc.args {
			args = append(args, "--ip", a)
		}
		err := fs.Parse(args)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--ip %q: got error %v, want one containing %q", tc.args, err, tc.want)
		case !tc.wantErr && err != nil:
			t.Errorf("--ip %q: got error %v", tc.args, err)
		case !tc.wantErr:
			if got := (ipFlag{sf}).String(); got != tc.want {
				t.Errorf("--ip %q: got %q, want %q", tc.args, got, tc.want)
			}
			if len(sf.ips) != len(tc.args) || len(sf.ips6) != len(tc.args) {
				t.Errorf("--ip %q: %d IPv4 and %d IPv6 port entries, want %d each", tc.args, len(sf.ips), len(sf.ips6), len(tc.args))
			}
		}
	}
}

// TestIPFlagRoutable checks that destinations must lie in a prefix of
// their family or behind the --gateway of their family.
func TestIPFlagRoutable(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   map[string]bool
	}{
		{[]string{"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--gateway", "192.0.2.254"},
			map[string]bool{"2001:db8:1::2": true, "fe80::1": true, "2001:db8:2::1": false, "203.0.113.1": true}},
		{[]string{"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--gateway", "fe80::1"},
			map[string]bool{"2001:db8:2::1": true, "203.0.113.1": false, "192.0.2.9": true}},
		{[]string{"--ip", "192.0.2.1/24", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--gateway", "2001:db8:1::fe,198.51.100.254"},
			map[string]bool{"2001:db8:2::1": true, "203.0.113.1": true}},
		{[]string{"--ip", "192.0.2.1/24", "--gateway", "192.0.2.254"},
			map[string]bool{"2001:db8:1::2": false, "fe80::1": false, "203.0.113.1": true}},
		// An IPv6-only port: IPv4 destinations have no way out.
		{[]string{"--ip", "2001:db8:1::1/64", "--gateway", "2001:db8:1::fe"},
			map[string]bool{"2001:db8:7::2": true, "192.0.2.2": false}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		sf := addStackFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if _, err := sf.checkAs(false); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		for dst, ok := range tc.ok {
			if err := sf.routable(mustAddr(dst)); (err == nil) != ok {
				t.Errorf("%q: routable(%s) = %v, want ok %v", tc.args, dst, err, ok)
			}
		}
	}
}

// TestGatewayFlag checks --gateway: at most one address per family, each
// on an --ip port (IPv6: inside an IPv6 prefix or link-local), mapped to
// that port; bad ones are one-line usage errors naming --gateway.
func TestGatewayFlag(t *testing.T) {
	for _, tc := range []struct {
		ips, gateway string // --ip values (space-separated), --gateway
		gw4, gw6     string // want: per port, space-separated, "-" for none
		err          string // or an error containing this
	}{
		{ips: "192.0.2.1/24", gateway: "192.0.2.254", gw4: "192.0.2.254", gw6: "-"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "192.0.2.254,2001:db8:1::fe", gw4: "192.0.2.254", gw6: "2001:db8:1::fe"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "2001:db8:1::fe,192.0.2.254", gw4: "192.0.2.254", gw6: "2001:db8:1::fe"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "fe80::1", gw4: "-", gw6: "fe80::1"},
		// The link-local gateway goes to the first port with IPv6.
		{ips: "192.0.2.1/24 198.51.100.1/24,2001:db8:2::1/64 203.0.113.1/24,2001:db8:3::1/64", gateway: "fe80::1", gw4: "- - -", gw6: "- fe80::1 -"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64 198.51.100.1/24,2001:db8:2::1/64", gateway: "198.51.100.254,2001:db8:2::fe", gw4: "- 198.51.100.254", gw6: "- 2001:db8:2::fe"},
		{ips: "2001:db8:1::1/64 192.0.2.1/24,2001:db8:2::1/64", gateway: "fe80::1,192.0.2.254", gw4: "- 192.0.2.254", gw6: "fe80::1 -"},
		{ips: "2001:db8:1::1/64", gateway: "192.0.2.254", err: "an IPv4 gateway needs an IPv4 address"},
		{ips: "192.0.2.1/24", gateway: "192.0.2.254,198.51.100.254", err: "two IPv4 gateways"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "fe80::1,2001:db8:1::fe", err: "two IPv6 gateways"},
		{ips: "192.0.2.1/24", gateway: "198.51.100.254", err: "inside no --ip prefix"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "2001:db8:2::fe", err: "inside no IPv6 --ip prefix"},
		{ips: "192.0.2.1/24", gateway: "2001:db8:1::fe", err: "needs an IPv6 address on some --ip"},
		{ips: "192.0.2.1/24", gateway: "fe80::1", err: "needs an IPv6 address on some --ip"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "2001:db8:1::1", err: "is the address of an --ip interface"},
		{ips: "192.0.2.1/24", gateway: "192.0.2.1", err: "is the address of an --ip interface"},
		{ips: "192.0.2.1/24", gateway: "gw.example", err: "is not an IPv4 or IPv6 address"},
		{ips: "192.0.2.1/24", gateway: "192.0.2.254,", err: "is not an IPv4 or IPv6 address"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "fe80::1%eth0", err: "zones"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "ff02::1", err: "unicast"},
		{ips: "192.0.2.1/24,2001:db8:1::1/64", gateway: "::ffff:192.0.2.254", err: "not an IPv4 or IPv6 address"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sf := addStackFlags(fs)
		args := []string{"--gateway", tc.gateway}
		for _, ip := range strings.Fields(tc.ips) {
			args = append(args, "--ip", ip)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		c, err := sf.checkAs(false)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--gateway") || strings.Contains(err.Error(), "\n") || !errors.Is(err, errUsage) {
				t.Errorf("%q: error %v, want a usage error naming --gateway with %q", args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		gw4, gw6 := sf.portGateways(c)
		show := func(as []netip.Addr) string {
			var s []string
			for _, a := range as {
				if a.IsValid() {
					s = append(s, a.String())
				} else {
					s = append(s, "-")
				}
			}
			return strings.Join(s, " ")
		}
		if got4, got6 := show(gw4), show(gw6); got4 != tc.gw4 || got6 != tc.gw6 {
			t.Errorf("%q: gateways per port IPv4 %q, IPv6 %q; want %q, %q", args, got4, got6, tc.gw4, tc.gw6)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestNeighborFlag checks --neighbor's parsing, its checks against --ip,
// and which port each entry goes to.
func TestNeighborFlag(t *testing.T) {
	ips := []string{"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--ip", "198.51.100.1/24", "--eal", "x"}
	for _, tc := range []struct {
		neigh []string
		want  string // the error's text, "" for none
	}{
		{[]string{"192.0.2.2=02:00:00:00:00:02"}, ""},
		{[]string{"192.0.2.2=02:00:00:00:00:02", "198.51.100.7=02:00:00:00:00:07", "2001:db8:1::2=02:00:00:00:00:03", "fe80::9=02:00:00:00:00:09"}, ""},
		{[]string{"192.0.2.2"}, "want IP=MAC"},
		{[]string{"192.0.2.300=02:00:00:00:00:02"}, "not an IP address"},
		{[]string{"192.0.2.2=01:00:5e:00:00:01"}, "not a unicast Ethernet address"},
		{[]string{"192.0.2.2=00:00:00:00:00:00"}, "not a unicast Ethernet address"},
		{[]string{"192.0.2.2=02:00:00:00:00:00:00:02"}, "not a unicast Ethernet address"},
		{[]string{"192.0.2.2=02:00:00:00:00:02", "192.0.2.2=02:00:00:00:00:03"}, "given twice"},
		{[]string{"203.0.113.2=02:00:00:00:00:02"}, "not another address inside an --ip prefix"},
		{[]string{"192.0.2.1=02:00:00:00:00:02"}, "not another address inside an --ip prefix"},
		{[]string{"2001:db8:9::2=02:00:00:00:00:02"}, "not another address inside an --ip prefix"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sf := addStackFlags(fs)
		args := append([]string(nil), ips...)
		for _, n := range tc.neigh {
			args = append(args, "--neighbor", n)
		}
		err := fs.Parse(args)
		if err == nil {
			_, err = sf.check()
		}
		switch {
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--neighbor %q: got error %v, want one containing %q", tc.neigh, err, tc.want)
		case tc.want == "" && err != nil:
			t.Errorf("--neighbor %q: got error %v", tc.neigh, err)
		case tc.want == "" && len(tc.neigh) == 4:
			var got []string
			for i, p := range sf.ips {
				var p6 []netip.Prefix
				if i < len(sf.ips6) {
					p6 = sf.ips6[i]
				}
				var s []string
				for _, n := range sf.neighborsFor(i, p, p6) {
					s = append(s, n.Addr.String())
				}
				got = append(got, strings.Join(s, ","))
			}
			if want := []string{"192.0.2.2,2001:db8:1::2,fe80::9", "198.51.100.7"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("neighbours per port: got %q, want %q", got, want)
			}
		}
	}
}

// TestTCPBufferFlag: --tcp-buffer reaches the stack's TCP configuration
// and is checked before DPDK starts.
func TestTCPBufferFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want string // the error's text, "" for none
	}{
		{"1048576", ""},
		{"4096", ""},
		{"4095", "want 4096 to 1073741824"},
		{"1073741825", "want 4096 to 1073741824"},
		{"-1", "want 4096 to 1073741824"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sf := addStackFlags(fs)
		err := fs.Parse([]string{"--ip", "192.0.2.1/24", "--eal", "x", "--tcp-buffer", tc.arg})
		if err == nil {
			_, err = sf.check()
		}
		switch {
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--tcp-buffer %s: got error %v, want one containing %q", tc.arg, err, tc.want)
		case tc.want == "" && err != nil:
			t.Errorf("--tcp-buffer %s: got error %v", tc.arg, err)
		case tc.want == "" && strconv.Itoa(sf.tcpBuffer) != tc.arg:
			t.Errorf("--tcp-buffer %s: parsed %d", tc.arg, sf.tcpBuffer)
		}
	}
}
