package rss

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the size in bytes of a Toeplitz RSS key.
const KeySize = 40

// Key is a Toeplitz RSS hash key.
type Key [KeySize]byte

// DefaultKey returns the key from Microsoft's RSS verification suite,
// 6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa.
// It is the default key of many NICs and drivers.
func DefaultKey() Key {
	return Key{
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
		0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
		0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
		0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
		0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	}
}

// SymmetricKey returns the key consisting of the bytes 0x6d, 0x5a repeated
// 20 times. Its 16-bit period makes the hash of a tuple equal to the hash of
// the tuple with source and destination swapped.
func SymmetricKey() Key {
	var k Key
	for i := 0; i < KeySize; i += 2 {
		k[i], k[i+1] = 0x6d, 0x5a
	}
	return k
}

// ParseKey parses a key written in hexadecimal. An optional "0x" prefix is
// accepted, and colons between digits are ignored, so both
// "6d5a56da..." and "6d:5a:56:da:..." are valid. The key must be exactly
// KeySize bytes long.
func ParseKey(s string) (Key, error) {
	var k Key
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	t = strings.ReplaceAll(t, ":", "")
	if len(t)%2 != 0 {
		return k, fmt.Errorf("rss: invalid key %q: odd number of hex digits", s)
	}
	if n := len(t) / 2; n != KeySize {
		return k, fmt.Errorf("rss: invalid key %q: %d bytes, want %d", s, n, KeySize)
	}
	if _, err := hex.Decode(k[:], []byte(t)); err != nil {
		return Key{}, fmt.Errorf("rss: invalid key %q: %v", s, err)
	}
	return k, nil
}

// String returns the key as 80 lowercase hexadecimal digits.
func (k Key) String() string {
	return hex.EncodeToString(k[:])
}
