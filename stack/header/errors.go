package header

// Error is the result of validating a header. It is a small integer code
// rather than an error interface value so that validation on the per-packet
// path involves no interface conversions. The zero value, OK, means the
// header is valid.
//
// Error does not implement the error interface; use [Error.Err] to obtain an
// error value.
type Error uint8

// Validation results.
const (
	// OK means the header passed validation.
	OK Error = iota
	// ErrTruncated means the buffer is shorter than the fixed part of the
	// header.
	ErrTruncated
	// ErrVersion means the IP version field is wrong.
	ErrVersion
	// ErrHeaderLen means a header length field (IPv4 IHL, TCP data offset)
	// is below the minimum or extends past the end of the buffer.
	ErrHeaderLen
	// ErrTotalLen means the IPv4 total length is shorter than the header or
	// longer than the buffer, or the IPv6 payload length extends past the
	// end of the buffer.
	ErrTotalLen
	// ErrChecksum means a checksum did not verify.
	ErrChecksum
	// ErrBadLength means a length field other than those above (the UDP
	// length) is inconsistent with the buffer.
	ErrBadLength
	// ErrUnsupported means the header is well formed but describes a
	// variant this package does not handle (for example ARP for a hardware
	// type other than Ethernet).
	ErrUnsupported
	// ErrExtHeader means an IPv6 extension header chain is malformed: a
	// header extends past the end of the payload, a second Fragment header
	// follows the first, or the chain is longer than IPv6MaxExtHeaders.
	ErrExtHeader
	// ErrUnknownNextHeader means an IPv6 Next Header field names an
	// extension header that this package does not walk (see
	// [IPv6.WalkExtHeaders]). The answer RFC 8200 prescribes is an ICMPv6
	// Parameter Problem, code 1, pointing at that field.
	ErrUnknownNextHeader
	// ErrOption means a Neighbor Discovery option is malformed: its length
	// is zero, it extends past the end of the message, or a link-layer
	// address option is not the 8 bytes of an Ethernet address.
	ErrOption

	// NumErrors is the number of distinct Error values, including OK. It is
	// intended for sizing arrays of counters indexed by Error.
	NumErrors = iota
)

// String returns a stable snake_case name for e, suitable as a metrics label.
func (e Error) String() string {
	switch e {
	case OK:
		return "ok"
	case ErrTruncated:
		return "truncated"
	case ErrVersion:
		return "bad_version"
	case ErrHeaderLen:
		return "bad_header_len"
	case ErrTotalLen:
		return "bad_total_len"
	case ErrChecksum:
		return "bad_checksum"
	case ErrBadLength:
		return "bad_length"
	case ErrUnsupported:
		return "unsupported"
	case ErrExtHeader:
		return "bad_ext_header"
	case ErrUnknownNextHeader:
		return "unknown_next_header"
	case ErrOption:
		return "bad_option"
	}
	return "unknown"
}

// Err returns e as an error value, or nil if e is OK. The values returned
// for a given code are equal to each other, so they may be compared with ==
// or errors.Is: err == header.ErrChecksum.Err().
func (e Error) Err() error {
	if e == OK {
		return nil
	}
	return codeError(e)
}

// codeError is the error interface implementation behind Error.Err. Being a
// single byte, converting it to an interface does not allocate.
type codeError Error

func (e codeError) Error() string {
	switch Error(e) {
	case ErrTruncated:
		return "header: packet truncated"
	case ErrVersion:
		return "header: bad IP version"
	case ErrHeaderLen:
		return "header: bad header length"
	case ErrTotalLen:
		return "header: bad IP total length"
	case ErrChecksum:
		return "header: bad checksum"
	case ErrBadLength:
		return "header: bad length field"
	case ErrUnsupported:
		return "header: unsupported header"
	case ErrExtHeader:
		return "header: bad IPv6 extension header"
	case ErrUnknownNextHeader:
		return "header: unknown IPv6 next header"
	case ErrOption:
		return "header: bad neighbor discovery option"
	}
	return "header: unknown error"
}
