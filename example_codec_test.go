package session_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sessionkit/session"
)

// A tool that holds the application's secret reads stored sessions with the
// manager's codec, here to tell whom each record belongs to.
func ExampleManager_Codec() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser("alice")
	}))
	do(h, "POST", "https://example.com/login", nil)

	ctx := context.Background()
	infos, _ := m.UserSessions(ctx, "alice")
	rec, _, _ := m.Store().Load(ctx, infos[0].Handle)
	d, err := m.Codec().Decode(rec.Blob, []byte(infos[0].Handle))
	fmt.Println(d.UserID, err)
	// Output:
	// alice <nil>
}
