package session_test

import (
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/sessionkit/session"
)

// An active session gets a new ID every interval (here the shortest, one
// second). The response that rotates carries the new cookie; a request
// still on its way with the previous ID is served during the grace,
// without a cookie.
func ExampleWithRotationInterval() {
	m, err := session.New(session.WithSecret(exampleSecret),
		session.WithRotationInterval(session.MinRotationInterval),
		session.WithRotationGrace(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleBindingHandler())
	prev := exampleLogin(h, "alice", "curl/8.5.0", "192.0.2.1:1")

	time.Sleep(session.MinRotationInterval + 100*time.Millisecond)
	rotating := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "https://example.com/me", nil)
	req.AddCookie(prev)
	h.ServeHTTP(rotating, req)
	next := rotating.Result().Cookies()[0]
	fmt.Println(rotating.Body.String(), next.Value != prev.Value)

	late := httptest.NewRecorder()
	req = httptest.NewRequest("GET", "https://example.com/me", nil)
	req.AddCookie(prev)
	h.ServeHTTP(late, req)
	fmt.Println(late.Body.String(), len(late.Result().Cookies()))
	// Output:
	// alice true
	// alice 0
}

// The grace only makes sense with rotation.
func ExampleWithRotationGrace() {
	_, err := session.New(session.WithSecret(exampleSecret), session.WithRotationGrace(2*time.Second))
	fmt.Println(errors.Is(err, session.ErrInvalidConfig))
	// Output: true
}
