package codec

import (
	"bytes"
	"encoding/gob"
)

// Gob is a Serializer using encoding/gob. Each value is a self-contained gob
// stream (type description included), so small values are larger than with
// JSON; in exchange Go types round-trip exactly (integers stay integers,
// time.Time keeps its location offset). Types stored inside interface
// values must be registered with gob.Register.
//
// Gob data is only readable from Go. Decoding gob from an untrusted source
// can cost a lot of CPU and memory; use Gob with a keyring (so that values
// are authenticated before they are decoded) or with a store that only the
// application can write.
type Gob struct{}

// Name returns "gob".
func (Gob) Name() string { return "gob" }

// Marshal encodes v as a gob stream.
func (Gob) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Unmarshal decodes the gob stream data into v, which must be a pointer.
func (Gob) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}
