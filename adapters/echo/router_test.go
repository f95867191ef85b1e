package sessionecho_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/sessionkit/session"
	sessionecho "github.com/sessionkit/session/adapters/echo"
	"github.com/sessionkit/session/internal/adaptertest"
)

var writeCases = map[string]adaptertest.WriteCase{
	"string":     {Status: http.StatusOK, Body: "body"},
	"json":       {Status: http.StatusCreated, Body: "{\"how\":\"json\"}\n"},
	"blob":       {Status: http.StatusOK, Body: "body"},
	"html":       {Status: http.StatusOK, Body: "<b>body</b>"},
	"nocontent":  {Status: http.StatusNoContent, Body: ""},
	"status":     {Status: http.StatusAccepted, Body: ""},
	"writer":     {Status: http.StatusOK, Body: "body"},
	"stream":     {Status: http.StatusOK, Body: "chunk0;chunk1;chunk2;"},
	"sse":        {Status: http.StatusOK, Body: "data: 0\n\ndata: 1\n\ndata: 2\n\n"},
	"controller": {Status: http.StatusOK, Body: "body"},
	"file":       {Status: http.StatusOK, Body: "file body"},
	"redirect":   {Status: http.StatusSeeOther, Body: ""},
	"error":      {Status: http.StatusForbidden, Body: "{\"message\":\"Forbidden\"}\n"},
	"nethttp":    {Status: http.StatusCreated, Body: "body"},
	"nothing":    {Status: http.StatusOK, Body: ""},
}

func newRouter(t *testing.T, m *session.Manager) http.Handler {
	fail := func(c *echo.Context, err error) error {
		t.Errorf("handler: %v", err)
		return c.String(599, err.Error())
	}
	cart := func(c *echo.Context, items []string) error {
		return c.JSON(http.StatusOK, map[string][]string{"items": append([]string{}, items...)})
	}

	e := echo.New()
	e.Use(sessionecho.Middleware(m))

	e.GET("/untouched", func(c *echo.Context) error { return c.String(http.StatusOK, "hello") })
	e.POST("/cart/:item", func(c *echo.Context) error {
		s := sessionecho.MustFromContext(c)
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			return fail(c, err)
		}
		items = append(items, c.Param("item"))
		if err := s.Set("cart", items); err != nil {
			return fail(c, err)
		}
		return cart(c, items)
	})
	e.GET("/cart", func(c *echo.Context) error {
		s, err := sessionecho.FromContext(c)
		if err != nil {
			return fail(c, err)
		}
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			return fail(c, err)
		}
		return cart(c, items)
	})
	e.GET("/value/:key", func(c *echo.Context) error {
		v, ok, err := session.Get[string](sessionecho.MustFromContext(c), c.Param("key"))
		if err != nil {
			return fail(c, err)
		}
		if !ok {
			v = "-"
		}
		return c.String(http.StatusOK, v)
	})
	e.POST("/login/:user", func(c *echo.Context) error {
		s := sessionecho.MustFromContext(c)
		if err := s.Renew(); err != nil {
			return fail(c, err)
		}
		if err := s.SetUser(c.Param("user")); err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, "welcome")
	})
	e.POST("/logout", func(c *echo.Context) error {
		if err := sessionecho.MustFromContext(c).Destroy(); err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, "bye")
	})
	e.GET("/me", func(c *echo.Context) error {
		u, err := sessionecho.MustFromContext(c).User()
		if err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, u)
	}, sessionecho.RequireUser())
	e.GET("/write/:how", func(c *echo.Context) error {
		how := c.Param("how")
		if err := sessionecho.MustFromContext(c).Set("how", how); err != nil {
			return fail(c, err)
		}
		w := c.Response()
		switch how {
		case "string":
			return c.String(http.StatusOK, "body")
		case "json":
			return c.JSON(http.StatusCreated, map[string]string{"how": how})
		case "blob":
			return c.Blob(http.StatusOK, "text/plain", []byte("body"))
		case "html":
			return c.HTML(http.StatusOK, "<b>body</b>")
		case "nocontent":
			return c.NoContent(http.StatusNoContent)
		case "status":
			w.WriteHeader(http.StatusAccepted)
		case "writer":
			w.Write([]byte("body"))
		case "stream":
			return c.Stream(http.StatusOK, "text/plain", strings.NewReader("chunk0;chunk1;chunk2;"))
		case "sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
			}
		case "controller":
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			w.WriteHeader(http.StatusOK)
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			io.WriteString(w, "body")
		case "file":
			return c.File("testdata/body.txt")
		case "redirect":
			return c.Redirect(http.StatusSeeOther, "/cart")
		case "error":
			return echo.ErrForbidden
		case "nethttp":
			return echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "body")
			}))(c)
		case "nothing":
		}
		return nil
	})
	return e
}

func TestRequireUserWithoutMiddlewareIsServerError(t *testing.T) {
	e := echo.New()
	e.GET("/", func(c *echo.Context) error {
		t.Error("handler reached without a session")
		return nil
	}, sessionecho.RequireUser())
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	c := echo.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	if _, err := sessionecho.FromContext(c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("FromContext without middleware: %v, want ErrNoSession", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustFromContext without middleware did not panic")
		}
	}()
	sessionecho.MustFromContext(c)
}

// Echo's own bookkeeping stays right: the handler reaches an *echo.Response
// of its own with echo.UnwrapResponse (one whose writes save the session),
// which records the status; the application's *echo.Response records it
// too, and is c.Response() again for the middleware before the session's
// once the chain returns.
func TestResponseKeepsEchoBookkeeping(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := echo.New()
	var outer *echo.Response
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			outer, _ = echo.UnwrapResponse(c.Response())
			before := c.Response()
			err := next(c)
			if c.Response() != before {
				t.Error("c.Response() not restored after the session middleware")
			}
			if !outer.Committed || outer.Status != http.StatusCreated || outer.Size != 4 {
				t.Errorf("echo.Response: committed %v status %d size %d", outer.Committed, outer.Status, outer.Size)
			}
			return err
		}
	}, sessionecho.Middleware(m))
	e.GET("/", func(c *echo.Context) error {
		inner, err := echo.UnwrapResponse(c.Response())
		if err != nil || inner == outer {
			t.Errorf("UnwrapResponse: %v, %v: want the handler's own response", inner, err)
		}
		if err := sessionecho.MustFromContext(c).Set("k", "v"); err != nil {
			return err
		}
		err = c.String(http.StatusCreated, "body")
		if !inner.Committed || inner.Status != http.StatusCreated || inner.Size != 4 {
			t.Errorf("the handler's echo.Response: committed %v status %d size %d", inner.Committed, inner.Status, inner.Size)
		}
		return err
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
	if rec.Code != http.StatusCreated || rec.Header().Get("Set-Cookie") == "" {
		t.Fatalf("status %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
}

// When saving fails, the error handler's answer goes through Echo's
// response, so Echo records the status that was sent and does not answer a
// second time for a handler that returned an error.
func TestFailedSaveIsRecordedByEcho(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret), session.WithStore(adaptertest.BrokenStore{}))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	var status int
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			err := next(c)
			r, _ := echo.UnwrapResponse(c.Response())
			status = r.Status
			return err
		}
	}, sessionecho.Middleware(m))
	e.GET("/", func(c *echo.Context) error {
		if err := sessionecho.MustFromContext(c).Set("k", "v"); err != nil {
			return err
		}
		return echo.ErrForbidden
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
	if rec.Code != http.StatusInternalServerError || status != http.StatusInternalServerError {
		t.Fatalf("sent %d, echo recorded %d; want 500 for both", rec.Code, status)
	}
	if body := rec.Body.String(); body != "Internal Server Error\n" {
		t.Fatalf("body %q", body)
	}
}
