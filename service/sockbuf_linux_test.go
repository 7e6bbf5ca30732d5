package service

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestGrowReadBuffer: the kernel UDP server's socket gets the buffer it
// asks for, past net.core.rmem_max as root (SO_RCVBUFFORCE); without the
// privilege, as much as rmem_max allows.
func TestGrowReadBuffer(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := growReadBuffer(c, kernelUDPBuffer)
	if err != nil {
		t.Fatal(err)
	}
	want := min(kernelUDPBuffer, rmemMax) // the kernel doubles what it grants
	if os.Geteuid() == 0 {
		want = kernelUDPBuffer
	}
	if got < want {
		t.Fatalf("receive buffer %d bytes, want at least %d (rmem_max %d, euid %d)", got, want, rmemMax, os.Geteuid())
	}
}
