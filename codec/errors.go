package codec

import "errors"

// Sentinel errors. Every error returned by Decode that is caused by the blob
// (rather than by a programming error such as a nil pipeline) matches one of
// them with errors.Is, also when wrapped, and satisfies IsCorrupt.
var (
	// ErrUnsupportedVersion reports a blob written in a format version or
	// with a format feature this package does not know (for example by a
	// newer release).
	ErrUnsupportedVersion = errors.New("codec: unsupported format version")

	// ErrUnknownKey reports an encrypted blob whose key ID (or cipher) is
	// not in the pipeline's keyring, or an encrypted blob read by a pipeline
	// without a keyring. After a key is retired from the keyring, the
	// sessions it encrypted fail with this error and should be treated as
	// absent.
	ErrUnknownKey = errors.New("codec: unknown encryption key")

	// ErrAuthFailed reports a blob that failed authentication: it was
	// tampered with, encrypted for another session (different associated
	// data), or encrypted with a different secret under the same key ID. It
	// is also returned when a pipeline with a keyring reads an unencrypted
	// blob, so that whoever can write to the store cannot inject plaintext
	// sessions.
	ErrAuthFailed = errors.New("codec: authentication failed")

	// ErrTooLarge reports a payload over the pipeline's maximum size. Encode
	// returns it for a session whose payload exceeds the maximum (the
	// session cannot be stored as it is). Decode returns it for a blob, or
	// the decompressed content of a blob, over the maximum; Decode stops
	// before allocating more than the maximum.
	ErrTooLarge = errors.New("codec: session too large")

	// ErrCorrupt reports a blob that is not well formed: wrong magic,
	// truncated or overlong fields, bad checksum, bad padding, invalid
	// compressed data.
	ErrCorrupt = errors.New("codec: corrupt blob")

	// ErrSerializerMismatch reports a blob written by a pipeline that used
	// another value Serializer; its values cannot be read by this one.
	ErrSerializerMismatch = errors.New("codec: blob written with another serializer")
)

// decodeError marks an error as coming from Decode, so that IsCorrupt can
// tell a Decode ErrTooLarge (the blob cannot be read) from an Encode one
// (the session cannot be written).
type decodeError struct {
	err error
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

func decodeErr(err error) error { return &decodeError{err: err} }

// IsCorrupt reports whether err means that a stored blob cannot be read:
// any error returned by Decode (unsupported version, unknown key, failed
// authentication, corrupt data, serializer mismatch, too large), also when
// wrapped. A caller should treat such a session as absent (start a fresh
// one) and log a security event rather than fail the request. IsCorrupt is
// false for ErrTooLarge returned by Encode, which means the session is too
// big to be written.
func IsCorrupt(err error) bool {
	if err == nil {
		return false
	}
	var de *decodeError
	if errors.As(err, &de) {
		return true
	}
	return errors.Is(err, ErrCorrupt) ||
		errors.Is(err, ErrUnsupportedVersion) ||
		errors.Is(err, ErrUnknownKey) ||
		errors.Is(err, ErrAuthFailed) ||
		errors.Is(err, ErrSerializerMismatch)
}
