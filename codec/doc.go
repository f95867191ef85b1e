// Package codec turns session data into the blobs that stores keep, and back.
//
// A Pipeline applies, in this order: the envelope (the session's metadata
// and its values, each value already serialized on its own by a Serializer,
// CBOR by default), zstd compression (only for payloads above a threshold),
// padding to a size bucket (optional), and AEAD encryption with a Keyring
// (optional; AES-256-GCM or XChaCha20-Poly1305). Decode reverses it and
// authenticates the blob before it decompresses or parses anything.
//
// # Quick start
//
//	key, _ := codec.DeriveKey(appSecret, "store-encryption")
//	kr, _ := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: key})
//	p, _ := codec.New(codec.WithKeyring(kr))
//	blob, err := p.Encode(data, sessionIDHash)
//	data, err = p.Decode(blob, sessionIDHash)
//
// # Serializers and upgrades
//
// CBOR (RFC 8949) is the default value serializer: on session values it
// decodes several times faster than encoding/json and is about a fifth
// smaller, needs no type registration, and decodes untrusted input with
// bounded nesting and without allocating from lengths the input does not
// hold. JSON (values readable from other languages) and Gob remain
// available through WithSerializer, as does any Serializer of your own.
//
// Every blob names the serializer that wrote its values. A pipeline whose
// serializer is a Converter reads blobs written with the serializers it
// converts from: CBOR reads JSON blobs (the default of earlier releases)
// and JSON reads CBOR blobs, so switching between them keeps every
// session, and each session is written back with the configured
// serializer on its next save. A value converted from JSON is carried
// as the original JSON, embedded in CBOR tag 262, and decoded with
// encoding/json, so it means exactly what it meant before. Blobs of a
// serializer the pipeline cannot convert from fail with
// ErrSerializerMismatch.
//
// # Threat model
//
// With a keyring, a blob is confidential and authenticated: whoever can
// read or write the store learns only the blob's length, the serializer
// name, the cipher and the key ID, and cannot alter, forge or replay a blob
// under another session's ID hash (the associated data) without Decode
// failing with ErrAuthFailed. A pipeline with a keyring refuses unencrypted
// blobs. Within one session ID, an older blob of the same session can be
// replayed by whoever can write the store; the store's version numbers and
// expiries are the defence there.
//
// Without a keyring, blobs are readable by anyone with access to the store
// and carry only a CRC-32C against accidental corruption, not against
// tampering.
//
// Compression leaks information through length: see WithCompression. Padding
// (WithPadding) reduces what the length reveals.
//
// Decode never allocates more than about the configured maximum size for a
// hostile blob (WithMaxSize), never panics, and reports every unreadable blob
// with an error that satisfies IsCorrupt; callers treat such a session as
// absent.
//
// # Stored format, version 1
//
// All integers in the header are big-endian.
//
//	magic      1 byte   0xC5
//	version    1 byte   1
//	flags      1 byte   0x01 zstd-compressed, 0x02 padded, 0x04 encrypted;
//	                    other bits set: ErrUnsupportedVersion
//	nameLen    1 byte   length of the serializer name, 1..255
//	name       nameLen  serializer name, for example "cbor", "json" or "gob"
//	if encrypted:
//	  cipher   1 byte   1 AES-256-GCM, 2 XChaCha20-Poly1305
//	  keyID    4 bytes  the Key.ID that encrypted the blob
//	  nonce    12 or 24 bytes, random per blob
//	body
//	if not encrypted:
//	  crc      4 bytes  CRC-32C (Castagnoli) of everything before it
//
// Everything up to and including the nonce is the header. When encrypted,
// body is the AEAD ciphertext and 16-byte tag of the content, with the
// header followed by the caller's associated data (the session ID hash) as
// additional data, so the header is authenticated too. Otherwise body is
// the content itself.
//
// The content, when padded, is followed by a 0x80 byte and zero bytes up to
// a multiple of the padding bucket (ISO/IEC 7816-4 padding). When
// compressed, the content is a single zstd frame that declares its content
// size; otherwise it is the envelope itself.
//
// The envelope holds the session metadata and values:
//
//	meta      1 byte   0x01 Persistent, 0x02 Created present, 0x04 Deadline present
//	created   varint   Unix nanoseconds (if present)
//	deadline  varint   Unix nanoseconds (if present)
//	idle      varint   IdleTimeout in nanoseconds
//	userID    uvarint length, then the bytes
//	count     uvarint  number of values
//	count times: key (uvarint length, bytes), value (uvarint length, bytes)
//
// Varints are encoding/binary's (zig-zag for signed ones) in their shortest
// form. Decode refuses truncated fields, lengths that overrun the payload,
// non-shortest varints, duplicate keys and trailing bytes with ErrCorrupt.
package codec
