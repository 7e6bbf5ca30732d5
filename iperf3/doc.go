// Package iperf3 is a server and a client that speak the iperf3 3.x
// protocol, on plain Go interfaces: a net.Listener and a function that
// opens UDP sockets for the server, a dial function for the client. Stock
// iperf3 clients run their tests against the Server unchanged, and Run
// runs a test against a stock `iperf3 -s`. The Go standard library's
// sockets plug in through StdDial and StdListenUDP; a netsplice stack's
// TCPListener, TCPConn and UDPConn plug in the same way (see DialFunc and
// ListenUDPFunc).
//
// # Protocol
//
// A test is one TCP control connection and one or more data streams. The
// control connection carries single signed bytes, the states of
// iperf_api.h, and three length-prefixed JSON messages (a 4-byte
// big-endian length, then the JSON). A test goes:
//
//	client                                  server
//	connect, 37-byte cookie (36 chars, NUL) →
//	                                        ← PARAM_EXCHANGE (9)
//	parameters JSON                         →
//	                                        ← CREATE_STREAMS (10)
//	data streams connect                    →
//	                                        ← TEST_START (1)
//	                                        ← TEST_RUNNING (2)
//	   … data flows: client → server, server → client (-R), or both (--bidir) …
//	TEST_END (4)                            →
//	                                        ← EXCHANGE_RESULTS (13)
//	client's results JSON                   →
//	                                        ← server's results JSON
//	                                        ← DISPLAY_RESULTS (14)
//	IPERF_DONE (16)                         →
//
// A TCP data stream is a TCP connection to the server's port that starts
// with the test's cookie. A UDP data stream is a UDP socket connected to
// the server's port: it sends the 4-byte datagram "9876" (iperf3's
// UDP_CONNECT_MSG 0x36373839 as little-endian iperf3 writes it) and the
// server answers "6789" (UDP_CONNECT_REPLY); the client also takes the
// reply in the other byte order and the pre-3.1 reply 987654321. Every UDP
// test datagram starts with the sender's clock in seconds and
// microseconds and a packet number counted from 1, big-endian: 32 bits
// (12-byte header) or, when the client asks with --udp-counters-64bit, 64
// bits (16-byte header). The receiver counts loss as gaps in the packet
// numbers, less one for each datagram that arrives late, and jitter as
// RFC 1889's running mean of transit-time differences (1/16 gain), exactly
// as iperf_udp_recv does; the results JSON carries them as "errors",
// "jitter" (seconds) and "packets" (the highest packet number seen). In a
// bidirectional test the client opens its sending streams first, then its
// receiving streams, and both sides number streams 1, 3, 4, 5, … in that
// order (iperf3 skips 2).
//
// Each side's results JSON lists, per stream, the bytes that side sent or
// received (after the -O omit period), retransmits (-1: unknown), jitter,
// errors, packets and the start and end times, so that each side prints
// the other's figures: the stock client's "receiver" lines are the
// Server's own counts, which TestStats also reports.
//
// Other control messages: ACCESS_DENIED (-1), sent instead of
// PARAM_EXCHANGE to a client that connects while a test runs (stock
// iperf3 prints "the server is busy running a test"), and to a data stream
// with the wrong cookie; SERVER_ERROR (-2) followed by iperf3's error
// number and an errno, 4 bytes each, big-endian, when the server refuses
// or aborts a test; SERVER_TERMINATE (11) when the server shuts down
// during a test; CLIENT_TERMINATE (12) when the client gives up.
//
// # What the server supports
//
// TCP and UDP; -t, -n and -k (the client decides when the test ends; a
// sending server stops a TCP stream once -n or -k worth was sent over all
// streams and keeps UDP streams going until TEST_END, as iperf3 does); -P
// up to MaxStreams (or Config.MaxStreams) per direction; -R; --bidir; -b
// per stream, with --burst, on TCP and UDP; -l (TCP up to 1 MiB, UDP 16 to
// 65507 bytes); -O; -w and -N where the connection has SetReadBuffer,
// SetWriteBuffer or SetNoDelay; --udp-counters-64bit;
// --repeating-payload; --get-server-output (a short text report); -T and
// --extra-data (recorded). It ignores what only the client's or the
// kernel's sockets could do: -M, -S, --dscp, -L, -C, --fq-rate,
// --dont-fragment, -A, and newer clients' --gso/--gro and MPTCP, and it
// reports no retransmits, congestion window or CPU use (zeros and -1, as
// iperf3 does where it cannot tell).
//
// It refuses, with SERVER_ERROR, so that the stock client prints the
// reason: SCTP (--sctp: "no SCTP support available"); authentication
// (--username/--rsa-public-key-path: "test authorization failed": there
// are no RSA keys or user lists); --zerocopy when the server would send
// (-R or --bidir: "this OS does not support sendfile"; with the client
// sending, -Z is the client's business); UDP when Config.ListenUDP is nil
// ("protocol does not exist"); both -R and --bidir; and out-of-range -P,
// -t, -O, --burst and -l. The server is IPv4 or IPv6 as its listener is
// (netsplice serve --iperf3 listens on [::], both families), and the
// client either, as its server address is.
//
// # Limits on what the peer sends
//
// The cookie is 37 bytes; parameters JSON at most MaxParamsJSON (8 KiB,
// as iperf3 3.17+) and results JSON at most MaxResultsJSON (1 MiB), each
// refused from the length prefix before anything more is read, as is a
// length of 0; a results JSON lists at most 2×MaxStreams streams, and
// numbers are read leniently but clamped. An unknown state byte, a state
// out of turn, an early close, a stall longer than Config.ControlTimeout
// on the control connection outside the running test, a data stream or UDP
// handshake that does not come within ControlTimeout, no data for
// IdleTimeout while running, or a time-based test running past -t + -O +
// Grace ends that test with an error (TestStats.Err), never the server;
// where the client can still read it, the server first sends SERVER_ERROR
// with iperf3's number for the failure (110: unknown message, 114: bad
// parameters, 204: streams did not connect, 206/205: stream read/write
// failed, 144: idle). A test with neither -t nor -n nor -k (iperf3 -t 0)
// runs until the client ends it or goes idle. At most 64 refused
// connections are answered at once; beyond that they are closed.
//
// The client applies the same limits to the server, bounds connecting,
// each control message outside the running test and each UDP handshake by
// ClientConfig.ControlTimeout, and ends a test in which no data moved for
// IdleTimeout.
//
// # Threading
//
// Server.Serve runs the accept loop on the caller's goroutine. A
// connection that arrives while the server is idle becomes the control
// connection of a new test, run on one goroutine of its own (srvTest.run),
// which owns the control connection and the test's state. While that test
// creates its streams, the accept loop reads each TCP data stream's cookie
// itself (bounded by ControlTimeout), so that the streams keep the order
// the client opened them in, and hands the stream over on a channel; any
// other connection gets ACCESS_DENIED from a short-lived goroutine. Each
// TCP data stream has one goroutine, reading or writing; a UDP test has
// one goroutine that alone reads the test's UDP socket (it takes the
// streams' connect datagrams and keeps the receiving streams' loss and
// jitter state) and, when the server sends, one goroutine that paces and
// writes every sending stream's datagrams, round robin. While the test
// runs, one goroutine reads the control connection and delivers each
// message on a channel, so the test goroutine waits on messages, data
// failures, timers and ctx at once. Counters are atomics written by the
// data goroutines and read by the test goroutine and by Stats at any
// time. TEST_END stops the counting, closes the streams and waits for
// their goroutines before the results are sent. Config.OnTestDone runs on
// the test's goroutine after the test released everything, one call at a
// time, in test order.
//
// Run works the same way on the caller's goroutine: one goroutine per
// data stream, and one reading the control connection while the test
// runs. OnInterval runs on the caller's goroutine.
//
// The client's Result takes the sending and receiving sides' bytes and
// times per direction from its own counts and from the server's results,
// summed over the streams as iperf3's summary lines are (seconds from the
// first stream of the direction; jitter the mean over the streams; loss
// over the sender's packet count).
package iperf3
