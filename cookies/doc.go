// Package cookies implements the session-ID cookie: signing and verifying
// the ID it carries, key rotation, and the cookie's attributes.
//
// # Quick start
//
//	signer, err := cookies.NewSigner([][]byte{key}, 30*24*time.Hour) // key: 32+ random bytes
//	cfg := cookies.Config{HttpOnly: true, HostPrefix: true, Secure: cookies.SecureAlways}.WithDefaults()
//	err = cfg.Validate()
//
//	// Issuing the cookie:
//	v, err := signer.Sign(cfg.CookieName(), id)
//	http.SetCookie(w, cfg.New(v, 0, cookies.IsSecureRequest(r, false)))
//
//	// Reading it back:
//	c, err := r.Cookie(cfg.CookieName())
//	id, err := signer.Verify(cfg.CookieName(), c.Value) // on error: no session
//
// # Threat model
//
// What is signed: the session ID, the cookie name and the time of signing,
// with HMAC-SHA256 (github.com/gorilla/securecookie). A client cannot forge
// an ID, move a value to a cookie of another name, or extend the signing
// time; Verify rejects such values as ErrTampered, and values older than the
// Signer's maximum age as ErrExpired. The signature is a first filter: a
// forged or garbage cookie is rejected without a store lookup.
//
// What is not protected: the value is not encrypted. Its holder can read the
// session ID and when it was signed. That is acceptable because the ID is a
// random bearer token the holder already owns; it is not acceptable to put
// anything else in it. The signature does not stop replay: a stolen valid
// cookie works until it expires or the session is destroyed on the server.
// Secure, HttpOnly, SameSite and the "__Host-" prefix (see Config) are what
// keep the cookie from being stolen, injected or overwritten in the first
// place, and the server-side session lifetime is what bounds a stolen one.
//
// Verify distinguishes malformed, tampered and expired values for logging
// only. Structure is checked before any key is used, and a value is reported
// as expired only if its MAC is valid, so the reasons reveal nothing about
// the keys. Key rotation: sign with the newest key, verify with all listed
// keys (see NewSigner).
package cookies
