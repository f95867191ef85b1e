package codec

import (
	"encoding/json"
	"time"
)

// Data is the decoded content of one stored session: its metadata and its
// values, each value serialized on its own so that readers decode only what
// they ask for and concurrent change sets can be merged key by key.
type Data struct {
	// Created is when the session was first created. It survives renewal.
	Created time.Time
	// Deadline is the absolute deadline: the session is dead after it,
	// however active it is. Never zero in a stored record.
	Deadline time.Time
	// IdleTimeout overrides the manager's idle timeout for this session
	// when not zero (remember me).
	IdleTimeout time.Duration
	// Persistent reports whether the ID cookie carries Max-Age/Expires
	// (remember me) rather than being a browser-session cookie.
	Persistent bool
	// UserID is the user the session is bound to, or "".
	UserID string
	// Values maps each key to its serialized value.
	Values map[string][]byte
}

// Serializer turns one session value into bytes and back. Implementations
// must be safe for concurrent use.
type Serializer interface {
	// Name identifies the serializer in the stored format; a blob written
	// with one serializer is refused by a pipeline using another.
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Serializer: encoding/json, readable from other
// languages.
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Marshal encodes v with encoding/json.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v with encoding/json.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
