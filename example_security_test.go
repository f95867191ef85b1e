package session_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessionkit/session"
)

// Sessions last a day, or 30 days for "remember me". Cookies signed more
// than 30 days ago are refused without a store lookup, and no session can
// be given more than 30 days.
func ExampleWithMaxLifetime() {
	m, _ := session.New(
		session.WithSecret(exampleSecret),
		session.WithLifetime(24*time.Hour),
		session.WithMaxLifetime(30*24*time.Hour),
	)
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		fmt.Println("30 days:", s.SetLifetime(7*24*time.Hour, 30*24*time.Hour))
		err := s.SetLifetime(7*24*time.Hour, 60*24*time.Hour)
		fmt.Println("60 days refused:", errors.Is(err, session.ErrLifetimeTooLong))
	}))
	do(h, "POST", "https://example.com/login", nil)
	// Output:
	// 30 days: <nil>
	// 60 days refused: true
}

// New refuses a secret that is obviously not random, and says how to make
// one.
func ExampleWithSecret() {
	_, err := session.New(session.WithSecret([]byte("changeme-changeme-changeme-changeme")))
	fmt.Println(errors.Is(err, session.ErrWeakSecret))
	fmt.Println(err)
	// Output:
	// true
	// session: invalid configuration: WithSecret: secret 0: session: secret is not random: a pattern of 9 bytes repeated (generate one with: openssl rand -base64 48, or head -c 48 /dev/urandom | base64)
}
