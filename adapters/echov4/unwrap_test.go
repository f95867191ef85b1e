package sessionecho_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/sessionkit/session"
	sessionecho "github.com/sessionkit/session/adapters/echov4"
	"github.com/sessionkit/session/internal/adaptertest"
)

// Echo v4 has no echo.UnwrapResponse: a handler reaches the writer under
// c.Response() through its Writer field, its Unwrap method, or
// http.ResponseController. Each of these saves the session before the
// headers go out.
func TestWritesBelowTheResponseSaveTheSession(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := echo.New()
	e.Use(sessionecho.Middleware(m))
	e.GET("/:how", func(c echo.Context) error {
		if err := sessionecho.MustFromContext(c).Set("k", "v"); err != nil {
			return err
		}
		var err error
		switch c.Param("how") {
		case "writer":
			_, err = c.Response().Writer.Write([]byte("body"))
		case "unwrap":
			c.Response().Unwrap().WriteHeader(http.StatusAccepted)
		case "unwrap-twice":
			w := c.Response().Unwrap().(interface{ Unwrap() http.ResponseWriter }).Unwrap()
			_, err = w.Write([]byte("body"))
		case "controller":
			err = http.NewResponseController(c.Response()).Flush()
		}
		return err
	})
	for _, how := range []string{"writer", "unwrap", "unwrap-twice", "controller"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/"+how, nil))
		if len(rec.Result().Cookies()) != 1 {
			t.Errorf("%s: no session cookie before the body (status %d)", how, rec.Code)
		}
	}
}
