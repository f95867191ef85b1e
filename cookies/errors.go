package cookies

import "errors"

// Reasons a cookie value fails Verify. Verify always returns an *Error whose
// Reason is one of these, so errors.Is works on the result and on anything
// that wraps it. All three mean the same thing to a server: treat the cookie
// as absent. They differ only in what they tell an operator reading logs.
var (
	// ErrMalformed reports a value that cannot be a signed session ID: empty,
	// longer than MaxValueLen bytes, not canonical padded URL-safe base64,
	// or not of the securecookie form "timestamp|base64(id)|mac"; also a
	// cookie name containing '|', for which no value can be authenticated
	// unambiguously. It is checked before any MAC is computed, so it
	// reveals nothing about the keys.
	ErrMalformed = errors.New("cookies: malformed session cookie")

	// ErrTampered reports a well-formed value whose MAC does not verify
	// under any of the Signer's keys: it was altered, forged, signed with a
	// key that has since been removed, or signed for another cookie name.
	ErrTampered = errors.New("cookies: session cookie signature invalid")

	// ErrExpired reports a value with a valid MAC whose signing timestamp is
	// older than the Signer's maximum age or more than MaxClockSkew in the
	// future. Only a value genuinely signed by one of the keys can be
	// reported as expired, so this reason does not help an attacker probe
	// for keys.
	ErrExpired = errors.New("cookies: session cookie expired")

	// ErrInvalidConfig is wrapped by every error NewSigner and
	// Config.Validate return.
	ErrInvalidConfig = errors.New("cookies: invalid configuration")
)

// Error is the error Verify returns. Reason is ErrMalformed, ErrTampered or
// ErrExpired; Err, when not nil, is the underlying cause (usually an error
// from github.com/gorilla/securecookie, otherwise a description of the
// structural problem). Neither ever contains the cookie value or the ID.
//
// errors.Is(err, ErrTampered) and errors.As(err, &e) both work, as does
// errors.Is against the underlying securecookie error.
type Error struct {
	Reason error
	Err    error
}

// Error returns the reason's message followed by the cause's, if any.
func (e *Error) Error() string {
	msg := "cookies: invalid session cookie"
	if e.Reason != nil {
		msg = e.Reason.Error()
	}
	if e.Err == nil {
		return msg
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the reason and, when set, the underlying cause, so that
// errors.Is and errors.As match either.
func (e *Error) Unwrap() []error {
	switch {
	case e.Reason == nil && e.Err == nil:
		return nil
	case e.Reason == nil:
		return []error{e.Err}
	case e.Err == nil:
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}
