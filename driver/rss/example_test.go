package rss_test

import (
	"fmt"
	"net/netip"

	"github.com/netsplice/netsplice/driver/rss"
)

func ExampleHasher_HashAddrPort() {
	h := rss.NewHasher(rss.DefaultKey())
	src := netip.MustParseAddrPort("66.9.149.187:2794")
	dst := netip.MustParseAddrPort("161.142.100.80:1766")
	hash := h.HashAddrPort(src, dst)

	reta, err := rss.NewRETA(128, 4)
	if err != nil {
		panic(err)
	}
	fmt.Printf("hash %#08x, queue %d\n", hash, reta.Queue(hash))
	// Output: hash 0x51ccc178, queue 0
}

func ExampleParseKey() {
	k, err := rss.ParseKey("0x6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa")
	if err != nil {
		panic(err)
	}
	fmt.Println(k == rss.DefaultKey())
	// Output: true
}

func ExampleHashTypes_String() {
	fmt.Println(rss.AllIPv4)
	fmt.Println(rss.TCPv4 | rss.UDPv6)
	// Output:
	// ipv4,tcpv4,udpv4
	// tcpv4,udpv6
}
