// Package rss implements the Toeplitz receive-side-scaling (RSS) hash the
// way network cards compute it, together with the redirection table that
// maps a hash to a receive queue.
//
// # Where it is used
//
// The same code serves three parties, which must agree bit for bit:
//
//   - The software wire hashes every frame it delivers with
//     [Hasher.HashIPv4Packet] (or [Hasher.HashPacket]) and steers it to the
//     queue chosen by [RETA.Queue], exactly as a NIC would.
//   - The stack predicts which queue, and so which softnet, the packets of
//     a flow will arrive on. When it picks an ephemeral source port for an
//     outgoing connection it can hash candidate 4-tuples with
//     [Hasher.HashAddrPort] and keep one whose replies land on the
//     connecting softnet's own queue.
//   - The command-line tool prints hashes and queues for given tuples and
//     keys, for debugging a port's [Config].
//
// # The hash
//
// The Toeplitz hash of an input of n bytes under a 40-byte key K is the XOR,
// over every set bit b of the input (numbering bits from the most
// significant bit of the first byte), of the 32-bit window of K starting at
// bit b. The input is the concatenation, in network byte order, of the
// source address, the destination address and, for TCP and UDP, the source
// and destination ports, as specified by Microsoft's RSS documentation. The
// longest input, an IPv6 4-tuple, is 36 bytes; a 40-byte key provides the
// 36*8+32 = 320 key bits it needs.
//
// Because the hash is linear over XOR, the contribution of each input byte
// depends only on its position and its value. [NewHasher] therefore
// precomputes a table T[36][256]uint32 with T[i][v] the XOR of the key
// windows selected by the set bits of v at byte position i, and
// [Hasher.Hash] reduces to one table lookup and one XOR per input byte. The
// table is 36 KiB; a Hasher is immutable after construction and safe for
// concurrent use.
//
// # Symmetric hashing
//
// With [SymmetricKey], whose 16-bit pattern repeats, swapping the source and
// destination (addresses and ports together) leaves the hash unchanged, so
// both directions of a flow land on the same queue.
package rss
