package csrf

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/sessionkit/session"
)

// SessionKey is the session key under which the session's CSRF secret is
// kept. It is reserved: the application must not write it.
const SessionKey = "csrf.secret"

const (
	// secretLen is the length of the session's secret, and of a token's
	// mask.
	secretLen = 32
	// TokenLength is the length in characters of every token Token
	// returns: the mask and the masked secret, 64 bytes in unpadded
	// base64url. Anything else is refused without decoding.
	TokenLength = (2*secretLen*8 + 5) / 6
)

// encoding is the token's alphabet: URL-safe (a token needs no escaping in
// a URL, a header or a form), unpadded, and strict, so that each token has
// exactly one spelling.
var encoding = base64.RawURLEncoding.Strict()

// secretRecord is what the session keeps under SessionKey: the secret and
// the user the session was bound to when the secret was made. A secret
// made for another user (before a login, a logout or a change of user) is
// stale: it validates nothing and Token replaces it.
type secretRecord struct {
	Key  []byte `json:"k"`
	User string `json:"u,omitempty"`
}

// current returns the session's secret if it is there and was made for
// the session's present user.
func current(s *session.Session) ([]byte, bool, error) {
	rec, ok, err := session.Get[secretRecord](s, SessionKey)
	if err != nil {
		return nil, false, fmt.Errorf("csrf: read the secret: %w", err)
	}
	user, err := s.User()
	if err != nil {
		return nil, false, fmt.Errorf("csrf: read the session's user: %w", err)
	}
	if !ok || len(rec.Key) != secretLen || rec.User != user {
		return nil, false, nil
	}
	return rec.Key, true, nil
}

// Token returns a token for a form or a request header of the request's
// session (see Protector.Middleware). The session's secret is made on the
// first call, so a page that asks for a token gives its visitor a session
// (and a cookie). Every call returns a different token (the secret masked
// with a fresh one-time pad, so that compressed responses cannot leak it:
// BREACH), and every one of them is valid until the session ends, its user
// changes (login, logout) or Rotate is called.
//
// Ask for the token before the response is committed: the first token of
// a session stores its secret, which fails with session.ErrCommitted once
// the headers were sent. It returns session.ErrNoSession when r did not
// pass through the session middleware, and the session's error when the
// session cannot be loaded or saved.
func Token(r *http.Request) (string, error) {
	s, err := session.FromContext(r.Context())
	if err != nil {
		return "", fmt.Errorf("csrf: %w", err)
	}
	secret, ok, err := current(s)
	if err != nil {
		return "", err
	}
	if !ok {
		user, err := s.User()
		if err != nil {
			return "", fmt.Errorf("csrf: read the session's user: %w", err)
		}
		secret = make([]byte, secretLen)
		rand.Read(secret)
		if err := s.Set(SessionKey, secretRecord{Key: secret, User: user}); err != nil {
			return "", fmt.Errorf("csrf: store the secret: %w", err)
		}
	}
	return mask(secret), nil
}

// Rotate replaces the session's secret: every token handed out before is
// refused from now on, and the next Token call makes a new secret. Call it
// on a change of privilege that keeps the session's user (a second factor,
// an administrator mode), together with Session.Renew. A change of user
// (login, logout) needs no call: the secret is bound to the user, and
// Destroy removes it with the rest of the session.
func Rotate(r *http.Request) error {
	s, err := session.FromContext(r.Context())
	if err != nil {
		return fmt.Errorf("csrf: %w", err)
	}
	if err := s.Delete(SessionKey); err != nil {
		return fmt.Errorf("csrf: delete the secret: %w", err)
	}
	return nil
}

// mask returns a one-time pad followed by the secret XOR the pad, encoded.
func mask(secret []byte) string {
	var buf [2 * secretLen]byte
	rand.Read(buf[:secretLen])
	for i := range secretLen {
		buf[secretLen+i] = buf[i] ^ secret[i]
	}
	return encoding.EncodeToString(buf[:])
}

// unmask parses a token (untrusted input) and returns the secret it
// carries. ok is false for anything Token cannot have produced.
func unmask(token string) (secret []byte, ok bool) {
	if len(token) != TokenLength {
		return nil, false
	}
	var buf [2 * secretLen]byte
	n, err := encoding.Decode(buf[:], []byte(token))
	if err != nil || n != len(buf) {
		return nil, false
	}
	secret = make([]byte, secretLen)
	for i := range secretLen {
		secret[i] = buf[i] ^ buf[secretLen+i]
	}
	return secret, true
}

// equal compares a token's secret with the session's in constant time.
func equal(got, want []byte) bool {
	return subtle.ConstantTimeCompare(got, want) == 1
}
