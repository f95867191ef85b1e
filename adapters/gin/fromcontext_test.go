package sessiongin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/session"
	sessiongin "github.com/sessionkit/session/adapters/gin"
	"github.com/sessionkit/session/internal/adaptertest"
)

// session.FromContext(c) with a *gin.Context (which is a context.Context,
// but does not carry the request's context values unless the engine has
// ContextWithFallback) says how to fix the call instead of asking whether
// the middleware is installed; with ContextWithFallback it finds the
// session.
func TestRootFromContextWithGinContextPointsToTheFix(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, fallback := range []bool{false, true} {
		r := gin.New()
		r.ContextWithFallback = fallback
		r.Use(sessiongin.Middleware(m))
		var got error
		r.GET("/", func(c *gin.Context) {
			if _, err := sessiongin.FromContext(c); err != nil {
				t.Errorf("sessiongin.FromContext: %v", err)
			}
			_, got = session.FromContext(c)
			c.String(http.StatusOK, "ok")
		})
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if fallback {
			if got != nil {
				t.Errorf("with ContextWithFallback: %v", got)
			}
			continue
		}
		if !errors.Is(got, session.ErrNoSession) {
			t.Fatalf("without ContextWithFallback: %v, want ErrNoSession", got)
		}
		msg := got.Error()
		if !strings.Contains(msg, "sessiongin.FromContext") || !strings.Contains(msg, "ContextWithFallback") || strings.Contains(msg, "is the middleware installed") {
			t.Errorf("the error does not point to the fix: %s", msg)
		}
	}
}
