package sessionecho_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/sessionkit/session"
	sessionecho "github.com/sessionkit/session/adapters/echo"
	"github.com/sessionkit/session/internal/adaptertest"
)

// A handler that writes through the *echo.Response that echo.UnwrapResponse
// finds (as Echo's own helpers and middleware do) sends the session cookie
// before the body; so does one that sets the status through it.
func TestUnwrapResponseWritesSaveTheSession(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := echo.New()
	e.Use(sessionecho.Middleware(m))
	e.GET("/:how", func(c *echo.Context) error {
		s := sessionecho.MustFromContext(c)
		if err := s.Set("k", "v"); err != nil {
			return err
		}
		resp, err := echo.UnwrapResponse(c.Response())
		if err != nil {
			return err
		}
		switch c.Param("how") {
		case "write":
			_, err = resp.Write([]byte("body"))
		case "status":
			resp.WriteHeader(http.StatusAccepted)
		case "flush":
			resp.Flush()
			_, err = resp.Write([]byte("body"))
		}
		return err
	})
	for _, how := range []string{"write", "status", "flush"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/"+how, nil))
		if len(rec.Result().Cookies()) != 1 {
			t.Errorf("%s through echo.UnwrapResponse: no session cookie (status %d, header %v)", how, rec.Code, rec.Header())
		}
	}
}
