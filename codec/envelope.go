package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The payload envelope (see the package documentation):
//
//	meta     byte     bit 0 Persistent, bit 1 Created set, bit 2 Deadline set
//	created  varint   Unix nanoseconds, only if bit 1
//	deadline varint   Unix nanoseconds, only if bit 2
//	idle     varint   IdleTimeout in nanoseconds
//	userID   uvarint length, bytes
//	count    uvarint number of values
//	count times: key (uvarint length, bytes), value (uvarint length, bytes)
const (
	metaPersistent = 0x01
	metaCreated    = 0x02
	metaDeadline   = 0x04
	knownMeta      = metaPersistent | metaCreated | metaDeadline
)

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// maxMapHint caps the size hint of the decoded Values map.
const maxMapHint = 1024

var errTimeRange = errors.New("codec: time outside the range of int64 Unix nanoseconds")

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func timeLen(t time.Time) (int, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, errTimeRange
	}
	return varintLen(t.UnixNano()), nil
}

// envelopeSize returns the exact size of d's envelope, or ErrTooLarge as
// soon as it is known to exceed limit.
func envelopeSize(d *Data, limit int) (int, error) {
	n := 1
	for _, t := range [2]time.Time{d.Created, d.Deadline} {
		l, err := timeLen(t)
		if err != nil {
			return 0, err
		}
		n += l
	}
	n += varintLen(int64(d.IdleTimeout))
	n += uvarintLen(uint64(len(d.UserID))) + len(d.UserID)
	n += uvarintLen(uint64(len(d.Values)))
	for k, v := range d.Values {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
		if n > limit {
			break
		}
	}
	if n > limit {
		return 0, fmt.Errorf("%w: payload over %d bytes", ErrTooLarge, limit)
	}
	return n, nil
}

func appendEnvelope(b []byte, d *Data) []byte {
	var meta byte
	if d.Persistent {
		meta |= metaPersistent
	}
	if !d.Created.IsZero() {
		meta |= metaCreated
	}
	if !d.Deadline.IsZero() {
		meta |= metaDeadline
	}
	b = append(b, meta)
	if meta&metaCreated != 0 {
		b = binary.AppendVarint(b, d.Created.UnixNano())
	}
	if meta&metaDeadline != 0 {
		b = binary.AppendVarint(b, d.Deadline.UnixNano())
	}
	b = binary.AppendVarint(b, int64(d.IdleTimeout))
	b = binary.AppendUvarint(b, uint64(len(d.UserID)))
	b = append(b, d.UserID...)
	b = binary.AppendUvarint(b, uint64(len(d.Values)))
	for k, v := range d.Values {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// reader reads the envelope. Every read checks the remaining length first;
// nothing is allocated based on a length that was not checked against the
// input.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: envelope: %s", ErrCorrupt, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || n != varintLen(v) {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a length-prefixed field and returns it with its capacity
// clipped, so that appending to it never writes into what follows.
func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what + " overruns payload")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// parseEnvelope decodes an envelope. Values alias payload; keys and the user
// ID share one newly allocated string buffer.
func parseEnvelope(payload []byte) (*Data, error) {
	r := reader{b: payload}
	if len(r.b) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrCorrupt)
	}
	meta := r.b[0]
	r.b = r.b[1:]
	if meta&^knownMeta != 0 {
		return nil, fmt.Errorf("%w: envelope: unknown metadata flags %#02x", ErrCorrupt, meta&^knownMeta)
	}
	d := &Data{Persistent: meta&metaPersistent != 0}
	if meta&metaCreated != 0 {
		d.Created = time.Unix(0, r.varint("created")).UTC()
	}
	if meta&metaDeadline != 0 {
		d.Deadline = time.Unix(0, r.varint("deadline")).UTC()
	}
	d.IdleTimeout = time.Duration(r.varint("idle timeout"))
	user := r.bytes("user ID")
	count := r.uvarint("value count")
	if r.err != nil {
		return nil, r.err
	}
	// Each value takes at least two bytes (two empty lengths).
	if count > uint64(len(r.b)/2) {
		return nil, fmt.Errorf("%w: envelope: value count %d overruns payload", ErrCorrupt, count)
	}
	// First pass: validate the entries and size the key buffer.
	entries := r.b
	strLen := len(user)
	for i := uint64(0); i < count; i++ {
		k := r.bytes("key")
		r.bytes("value")
		strLen += len(k)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: envelope: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	// Second pass: keys and the user ID are copied into one string (one
	// allocation, through strings.Builder) and sliced from it.
	var strs string
	if strLen > 0 {
		var sb strings.Builder
		sb.Grow(strLen)
		sb.Write(user)
		r.b = entries
		for i := uint64(0); i < count; i++ {
			sb.Write(r.bytes("key"))
			r.bytes("value")
		}
		strs = sb.String()
	}
	d.UserID = strs[:len(user)]
	off := len(user)
	// count is bounded by the payload; the hint is capped as well so that
	// a payload of many tiny entries does not allocate a huge map upfront.
	d.Values = make(map[string][]byte, min(count, maxMapHint))
	r.b = entries
	for i := uint64(0); i < count; i++ {
		k := r.bytes("key")
		v := r.bytes("value")
		key := strs[off : off+len(k)]
		off += len(k)
		if _, dup := d.Values[key]; dup {
			return nil, fmt.Errorf("%w: envelope: duplicate key %q", ErrCorrupt, key)
		}
		d.Values[key] = v
	}
	return d, nil
}
