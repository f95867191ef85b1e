package cookies_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessionkit/session/cookies"
)

func ExampleSigner() {
	// In production the key comes from crypto/rand or an HKDF of the
	// application secret, and is at least 32 bytes.
	key := bytes.Repeat([]byte{7}, 32)
	signer, err := cookies.NewSigner([][]byte{key}, 24*time.Hour)
	if err != nil {
		panic(err)
	}

	value, err := signer.Sign("session", "a-256-bit-random-session-id")
	if err != nil {
		panic(err)
	}
	id, err := signer.Verify("session", value)
	fmt.Println(id, err)

	// A value moved to another cookie name does not verify.
	_, err = signer.Verify("other", value)
	fmt.Println(errors.Is(err, cookies.ErrTampered))
	// Output:
	// a-256-bit-random-session-id <nil>
	// true
}

func ExampleNewSigner_keyRotation() {
	oldKey := bytes.Repeat([]byte{1}, 32)
	newKey := bytes.Repeat([]byte{2}, 32)

	before, _ := cookies.NewSigner([][]byte{oldKey}, time.Hour)
	issued, _ := before.Sign("session", "id-1")

	// Rotate: the new key first (it signs), the old one kept (it still
	// verifies) until every cookie it signed has expired.
	during, _ := cookies.NewSigner([][]byte{newKey, oldKey}, time.Hour)
	id, err := during.Verify("session", issued)
	fmt.Println(id, err)

	// Then drop the old key: its cookies no longer verify.
	after, _ := cookies.NewSigner([][]byte{newKey}, time.Hour)
	_, err = after.Verify("session", issued)
	fmt.Println(errors.Is(err, cookies.ErrTampered))
	// Output:
	// id-1 <nil>
	// true
}

func ExampleSigner_Verify() {
	signer, _ := cookies.NewSigner([][]byte{bytes.Repeat([]byte{7}, 32)}, time.Hour)

	for _, value := range []string{"", "bm90IHNpZ25lZA==", "MTcwMDAwMDAwMHxhV1E9fDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"} {
		_, err := signer.Verify("session", value)
		var e *cookies.Error
		if errors.As(err, &e) {
			// Treat the cookie as absent and log the reason, never the value.
			switch e.Reason {
			case cookies.ErrMalformed:
				fmt.Println("malformed")
			case cookies.ErrTampered:
				fmt.Println("tampered")
			case cookies.ErrExpired:
				fmt.Println("expired")
			}
		}
	}
	// Output:
	// malformed
	// malformed
	// tampered
}

func ExampleConfig() {
	cfg := cookies.Config{
		HttpOnly:   true,
		HostPrefix: true,
		Secure:     cookies.SecureAlways,
	}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(cfg.CookieName())
	fmt.Println(cfg.New("signed-value", 0, true))

	// A __Host- cookie must always be Secure: Validate refuses SecureAuto.
	cfg.Secure = cookies.SecureAuto
	fmt.Println(errors.Is(cfg.Validate(), cookies.ErrInvalidConfig))
	// Output:
	// __Host-session
	// __Host-session=signed-value; Path=/; HttpOnly; Secure; SameSite=Lax
	// true
}

func ExampleConfig_Expired() {
	cfg := cookies.Config{HttpOnly: true}.WithDefaults()
	fmt.Println(cfg.Expired(false))
	// Output:
	// session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax
}

func ExampleIsSecureRequest() {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")

	// Only behind a proxy that sets the header may it be trusted.
	fmt.Println(cookies.IsSecureRequest(r, false))
	fmt.Println(cookies.IsSecureRequest(r, true))
	// Output:
	// false
	// true
}
