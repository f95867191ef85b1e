package session_test

import (
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/sessionkit/session"
)

// An application's own check against cross-site request forgery reports
// its refusals like package csrf does: in the audit log (and to the
// Observer, for metrics).
func ExampleSession_ReportCSRFRejected() {
	audit := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	m, err := session.New(session.WithSecret(exampleSecret), session.WithAuditLogger(audit))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
			session.MustFromContext(r.Context()).ReportCSRFRejected("no X-Requested-With header")
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/transfer", nil))
	// Output:
	// level=WARN msg="session: request refused by the CSRF check" event=csrf_rejected reason="no X-Requested-With header" method=POST path=/transfer remote=192.0.2.1:1234
}
