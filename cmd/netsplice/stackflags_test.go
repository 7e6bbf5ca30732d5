package main

import (
	"flag"
	"io"
	"net/netip"
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
		{[]string{"2001:db8::1/64"}, "needs one IPv4 CIDR", true},
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

// TestIPFlagRoutable checks that IPv6 destinations must lie in an IPv6
// prefix (there is no IPv6 gateway yet).
func TestIPFlagRoutable(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	sf := addStackFlags(fs)
	if err := fs.Parse([]string{"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--gateway", "192.0.2.254"}); err != nil {
		t.Fatal(err)
	}
	for dst, ok := range map[string]bool{"2001:db8:1::2": true, "fe80::1": true, "2001:db8:2::1": false, "203.0.113.1": true} {
		if err := sf.routable(mustAddr(dst)); (err == nil) != ok {
			t.Errorf("routable(%s) = %v, want ok %v", dst, err, ok)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
