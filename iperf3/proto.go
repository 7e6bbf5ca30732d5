package iperf3

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// state is one control-connection message: a single signed byte on the
// wire. The numbers are iperf3's (iperf_api.h); 3, 5, 6, 7 and 8 are
// defined there but never sent.
type state int8

const (
	stateTestStart       state = 1
	stateTestRunning     state = 2
	stateTestEnd         state = 4
	stateParamExchange   state = 9
	stateCreateStreams   state = 10
	stateServerTerminate state = 11
	stateClientTerminate state = 12
	stateExchangeResults state = 13
	stateDisplayResults  state = 14
	stateIperfStart      state = 15
	stateIperfDone       state = 16
	stateAccessDenied    state = -1
	stateServerError     state = -2
)

func (s state) String() string {
	switch s {
	case stateTestStart:
		return "TEST_START"
	case stateTestRunning:
		return "TEST_RUNNING"
	case stateTestEnd:
		return "TEST_END"
	case stateParamExchange:
		return "PARAM_EXCHANGE"
	case stateCreateStreams:
		return "CREATE_STREAMS"
	case stateServerTerminate:
		return "SERVER_TERMINATE"
	case stateClientTerminate:
		return "CLIENT_TERMINATE"
	case stateExchangeResults:
		return "EXCHANGE_RESULTS"
	case stateDisplayResults:
		return "DISPLAY_RESULTS"
	case stateIperfStart:
		return "IPERF_START"
	case stateIperfDone:
		return "IPERF_DONE"
	case stateAccessDenied:
		return "ACCESS_DENIED"
	case stateServerError:
		return "SERVER_ERROR"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// iperf3's error numbers (i_errno, iperf_api.h) that this package sends
// after SERVER_ERROR or recognises in a ServerError.
const (
	ieDuration       = 5   // test duration too long
	ieNumStreams     = 6   // too many parallel streams
	ieBlockSize      = 7   // block size too large
	ieNoSendfile     = 11  // no sendfile (refused --zerocopy)
	ieOmit           = 12  // bogus --omit
	ieUnimp          = 13  // option not implemented
	ieBurst          = 15  // bad burst count
	ieNoSCTP         = 18  // no SCTP support
	ieUDPBlockSize   = 20  // bad UDP block size
	ieReverseBidir   = 25  // both reverse and bidirectional
	ieCtrlClose      = 109 // control connection closed
	ieMessage        = 110 // unknown control message
	ieRecvParams     = 114 // cannot receive parameters
	ieRecvResults    = 117 // cannot receive results
	ieClientTerm     = 119 // client terminated
	ieServerTerm     = 120 // server terminated
	ieAccessDenied   = 121 // server busy
	ieProtocol       = 131 // protocol does not exist
	ieAuthTest       = 142 // test authorisation failed
	ieNoMsg          = 144 // no data for the receive timeout
	ieStreamListen   = 202 // cannot start stream listener
	ieStreamConnect  = 203 // cannot connect stream
	ieStreamAccept   = 204 // cannot accept stream
	ieStreamWrite    = 205 // stream write failed
	ieStreamRead     = 206 // stream read failed
	ieStreamID       = 208 // invalid stream id
	errnoEINVAL      = 22  // Linux EINVAL, sent with malformed-input errors
	errnoEPROTONOSUP = 93  // Linux EPROTONOSUPPORT
)

var errorText = map[int32]string{
	ieDuration:      "test duration too long",
	ieNumStreams:    "number of parallel streams too large",
	ieBlockSize:     "block size too large",
	ieNoSendfile:    "this OS does not support sendfile",
	ieOmit:          "bogus value for --omit",
	ieUnimp:         "an option you are trying to set is not implemented yet",
	ieBurst:         "invalid burst count",
	ieNoSCTP:        "no SCTP support available",
	ieUDPBlockSize:  "block size invalid",
	ieReverseBidir:  "cannot be both reverse and bidirectional",
	ieCtrlClose:     "control socket has closed unexpectedly",
	ieMessage:       "received an unknown control message",
	ieRecvParams:    "unable to receive parameters from client",
	ieRecvResults:   "unable to receive results",
	ieClientTerm:    "the client has terminated",
	ieServerTerm:    "the server has terminated",
	ieAccessDenied:  "the server is busy running a test. try again later",
	ieProtocol:      "protocol does not exist",
	ieAuthTest:      "test authorization failed",
	ieNoMsg:         "idle timeout for receiving data",
	ieStreamListen:  "unable to start stream listener",
	ieStreamConnect: "unable to connect stream",
	ieStreamAccept:  "unable to accept stream connection",
	ieStreamWrite:   "unable to write to stream socket",
	ieStreamRead:    "unable to read from stream socket",
	ieStreamID:      "stream has an invalid id",
}

// Protocol sizes and limits.
const (
	// CookieSize is the test cookie's length on the wire: 36 characters
	// and a NUL.
	CookieSize = 37
	// MaxParamsJSON bounds the client's parameter JSON (iperf3 3.17+
	// applies the same 8 KiB limit).
	MaxParamsJSON = 8 << 10
	// MaxResultsJSON bounds a results JSON, in either direction.
	MaxResultsJSON = 1 << 20
	// MaxStreams is the most parallel streams a test may ask for
	// (iperf3's MAX_STREAMS); a bidirectional test has twice as many.
	MaxStreams = 128
	// MaxTCPBlockSize is the largest TCP block (iperf3's MAX_BLOCKSIZE).
	MaxTCPBlockSize = 1 << 20
	// MinUDPBlockSize and MaxUDPBlockSize bound a UDP datagram's payload.
	MinUDPBlockSize = 16
	MaxUDPBlockSize = 65535 - 8 - 20
	// MaxDuration is the longest -t (iperf3's MAX_TIME).
	MaxDuration = 86400
	// MaxBurst is the largest --burst (iperf3's MAX_BURST).
	MaxBurst = 1000

	defaultTCPBlockSize  = 128 << 10
	defaultUDPBlockSize  = 1460
	defaultUDPBlockSize6 = 1440    // over IPv6: the IPv6 header is 20 bytes longer
	defaultUDPRate       = 1 << 20 // bits/s, iperf3's UDP_RATE
)

// The UDP stream handshake: the client sends udpConnectMsg, the server
// answers udpConnectReply. iperf3 writes its 32-bit constants in host
// order; these are the bytes every little-endian iperf3 (and 3.17+ on any
// host) puts on the wire. legacyUDPReply is what iperf3 before 3.1 answered.
var (
	udpConnectMsg   = [4]byte{'9', '8', '7', '6'}
	udpConnectReply = [4]byte{'6', '7', '8', '9'}
	legacyUDPReply  = [4]byte{0xb1, 0x68, 0xde, 0x3a} // 987654321 little-endian
)

// isUDPReply reports whether b is a server's answer to the UDP connect
// datagram, in either byte order.
func isUDPReply(b []byte) bool {
	if len(b) != 4 {
		return false
	}
	var w [4]byte
	copy(w[:], b)
	rev := [4]byte{w[3], w[2], w[1], w[0]}
	return w == udpConnectReply || rev == udpConnectReply || w == legacyUDPReply || rev == legacyUDPReply
}

// newCookie returns a fresh test cookie: 36 characters from iperf3's
// alphabet and a terminating NUL.
func newCookie() [CookieSize]byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var c [CookieSize]byte
	_, _ = rand.Read(c[:])
	for i := 0; i < CookieSize-1; i++ {
		c[i] = alphabet[int(c[i])%len(alphabet)]
	}
	c[CookieSize-1] = 0
	return c
}

// cookieString is the cookie up to its NUL, as iperf3 compares cookies.
func cookieString(c []byte) string {
	for i, b := range c {
		if b == 0 {
			return string(c[:i])
		}
	}
	return string(c)
}

// Errors at the edge of the package. Errors returned by Run and recorded
// in TestStats wrap these, so errors.Is works on them.
var (
	// ErrProtocol marks malformed or unexpected input on the control
	// connection or in the UDP handshake.
	ErrProtocol = errors.New("iperf3: protocol error")
	// ErrAccessDenied: the server is busy with another test.
	ErrAccessDenied = errors.New("iperf3: the server is busy running a test")
	// ErrServerTerminated: the server sent SERVER_TERMINATE.
	ErrServerTerminated = errors.New("iperf3: the server has terminated")
	// ErrClientTerminated: the client sent CLIENT_TERMINATE.
	ErrClientTerminated = errors.New("iperf3: the client has terminated")
	// ErrControlClosed: the peer closed the control connection early.
	ErrControlClosed = errors.New("iperf3: control connection closed unexpectedly")
	// ErrTimeout: a control message, a stream or data did not come in time.
	ErrTimeout = errors.New("iperf3: timed out")
	// ErrUnsupported: the test asks for something this package refuses
	// (SCTP, authentication, zero copy on the sending server, UDP without
	// a UDP socket).
	ErrUnsupported = errors.New("iperf3: unsupported option")
)

// ServerError is a SERVER_ERROR message: the server refused or aborted
// the test. Code is iperf3's error number (i_errno), Errno the server's
// errno (0 when none).
type ServerError struct {
	Code  int32
	Errno int32
}

func (e *ServerError) Error() string {
	s := "iperf3: server error " + strconv.Itoa(int(e.Code))
	if t, ok := errorText[e.Code]; ok {
		s += " (" + t + ")"
	}
	if e.Errno != 0 {
		s += ", errno " + strconv.Itoa(int(e.Errno))
	}
	return s
}

// Is makes errors.Is(err, ErrAccessDenied) and friends hold for the
// matching codes.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrAccessDenied:
		return e.Code == ieAccessDenied
	case ErrServerTerminated:
		return e.Code == ieServerTerm
	case ErrUnsupported:
		switch e.Code {
		case ieNoSCTP, ieNoSendfile, ieAuthTest, ieProtocol, ieUnimp:
			return true
		}
	}
	return false
}

// testError is how the server's test loop reports a failure: the cause,
// and the SERVER_ERROR code to send when the client can still read one.
type testError struct {
	code   int32
	errno  int32
	notify bool // send SERVER_ERROR before closing
	err    error
}

func (e *testError) Error() string { return e.err.Error() }
func (e *testError) Unwrap() error { return e.err }

// refuse is a testError the client is told about.
func refuse(code, errno int32, sentinel error, format string, a ...any) *testError {
	return &testError{code: code, errno: errno, notify: true,
		err: fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)}
}

// readJSONFrame reads one length-prefixed JSON message: a 4-byte
// big-endian length, then that many bytes. A length of 0 or above max is
// refused before anything more is read.
func readJSONFrame(r io.Reader, max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: JSON length %d (limit %d)", ErrProtocol, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// jsonFrame prefixes body with its length, for one Write.
func jsonFrame(body []byte) []byte {
	b := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	copy(b[4:], body)
	return b
}
