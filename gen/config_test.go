package gen

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestParseTargetIPv6: targets take IPv6 addresses in brackets; the
// unspecified, loopback, multicast, zoned and IPv4-mapped ones are
// refused, and a UDP datagram over IPv6 is at most MaxUDPSize6 bytes.
func TestParseTargetIPv6(t *testing.T) {
	for _, s := range []string{"tcp:[2001:db8::2]:80", "udp:[2001:db8:1::2]:7", "tcp:[fe80::1]:7"} {
		tg, err := ParseTarget(s)
		if err != nil || tg.String() != s {
			t.Errorf("ParseTarget(%q) = %v, %v", s, tg, err)
		}
	}
	for s, want := range map[string]string{
		"tcp:2001:db8::2:80":          "brackets",
		"tcp:[::]:80":                 "unicast",
		"udp:[::1]:7":                 "unicast",
		"udp:127.0.0.1:7":             "unicast",
		"udp:[ff02::1]:7":             "unicast",
		"tcp:[fe80::1%eth0]:7":        "zones",
		"tcp:[::ffff:198.51.100.2]:7": "IPv4-mapped",
		"tcp:[2001:db8::2]:0":         "port",
	} {
		if _, err := ParseTarget(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTarget(%q): %v, want an error with %q", s, err, want)
		}
	}
	v6 := Target{"udp", netip.MustParseAddrPort("[2001:db8::2]:7")}
	if err := Check(Config{To: v6, Duration: time.Second, Size: MaxUDPSize6}); err != nil {
		t.Errorf("size %d over IPv6: %v", MaxUDPSize6, err)
	}
	if err := Check(Config{To: v6, Duration: time.Second, Size: MaxUDPSize6 + 1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "over IPv6") {
		t.Errorf("size %d over IPv6: %v, want ErrConfig", MaxUDPSize6+1, err)
	}
	v4 := Target{"udp", netip.MustParseAddrPort("198.51.100.2:7")}
	if err := Check(Config{To: v4, Duration: time.Second, Size: MaxUDPSize}); err != nil {
		t.Errorf("size %d over IPv4: %v", MaxUDPSize, err)
	}
}

// TestHTTPHostHeader: the Host header names an IPv6 target in brackets
// (RFC 9110 section 7.2), an IPv4 one as is.
func TestHTTPHostHeader(t *testing.T) {
	for _, tc := range []struct{ to, want string }{
		{"tcp:192.0.2.2:80", "\r\nHost: 192.0.2.2\r\n"},
		{"tcp:[2001:db8::2]:80", "\r\nHost: [2001:db8::2]\r\n"},
	} {
		to, err := ParseTarget(tc.to)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{To: to, HTTP: true, Response: 10}
		for _, last := range []bool{false, true} {
			if req := httpRequest(cfg, last); !strings.Contains(string(req), tc.want) {
				t.Errorf("%s: request %q lacks %q", tc.to, req, tc.want)
			}
		}
	}
}
