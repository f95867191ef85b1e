package sessionchi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sessionkit/session"
	sessionchi "github.com/sessionkit/session/adapters/chi"
	"github.com/sessionkit/session/internal/adaptertest"
	"github.com/sessionkit/session/internal/sessiontest"
)

var writeCases = map[string]adaptertest.WriteCase{
	"string":      {Status: http.StatusOK, Body: "body"},
	"write":       {Status: http.StatusOK, Body: "body"},
	"readfrom":    {Status: http.StatusOK, Body: "body"},
	"flush-first": {Status: http.StatusOK, Body: "body"},
	"stream":      {Status: http.StatusOK, Body: "chunk0;chunk1;chunk2;"},
	"controller":  {Status: http.StatusOK, Body: "body"},
	"status":      {Status: http.StatusAccepted, Body: ""},
	"error":       {Status: http.StatusForbidden, Body: "Forbidden\n"},
	"redirect":    {Status: http.StatusSeeOther, Body: ""},
	"json":        {Status: http.StatusCreated, Body: "{\"how\":\"json\"}\n"},
	"nothing":     {Status: http.StatusOK, Body: ""},
	// behind chi's middleware.Compress
	"compressed": {Status: http.StatusOK, Body: strings.Repeat("compressible ", 20)},
}

func newRouter(t *testing.T, m *session.Manager) http.Handler {
	fail := func(w http.ResponseWriter, err error) {
		t.Errorf("handler: %v", err)
		http.Error(w, err.Error(), 599)
	}
	cart := func(w http.ResponseWriter, items []string) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string][]string{"items": append([]string{}, items...)})
	}

	root := chi.NewRouter()
	root.Use(middleware.Recoverer)
	// chi's middleware.Compress outside the session middleware: the
	// session's writer sits inside chi's. (chi's compressing writer itself
	// sends a second status line when flushed before the first write, so
	// the flush cases use the other group.)
	root.Group(func(r chi.Router) {
		r.Use(middleware.Compress(5, "text/plain"), sessionchi.Middleware(m))
		r.Get("/write/compressed", func(w http.ResponseWriter, r *http.Request) {
			if err := sessionchi.MustFromRequest(r).Set("how", "compressed"); err != nil {
				fail(w, err)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strings.Repeat("compressible ", 20))
		})
	})
	r := root.With(sessionchi.Middleware(m))

	r.Get("/untouched", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	r.Post("/cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		s := sessionchi.MustFromRequest(r)
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			fail(w, err)
			return
		}
		items = append(items, chi.URLParam(r, "item"))
		if err := s.Set("cart", items); err != nil {
			fail(w, err)
			return
		}
		cart(w, items)
	})
	r.Get("/cart", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessionchi.FromRequest(r)
		if err != nil {
			fail(w, err)
			return
		}
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			fail(w, err)
			return
		}
		cart(w, items)
	})
	r.Get("/value/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := session.Get[string](sessionchi.MustFromRequest(r), chi.URLParam(r, "key"))
		if err != nil {
			fail(w, err)
			return
		}
		if !ok {
			v = "-"
		}
		io.WriteString(w, v)
	})
	r.Post("/login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sessionchi.MustFromRequest(r)
		if err := s.Renew(); err != nil {
			fail(w, err)
			return
		}
		if err := s.SetUser(chi.URLParam(r, "user")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "welcome")
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessionchi.MustFromRequest(r).Destroy(); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "bye")
	})
	r.With(sessionchi.RequireUser).Get("/me", func(w http.ResponseWriter, r *http.Request) {
		u, err := sessionchi.MustFromRequest(r).User()
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, u)
	})
	r.Get("/write/{how}", func(w http.ResponseWriter, r *http.Request) {
		how := chi.URLParam(r, "how")
		if err := sessionchi.MustFromRequest(r).Set("how", how); err != nil {
			fail(w, err)
			return
		}
		switch how {
		case "string":
			io.WriteString(w, "body")
		case "write":
			w.Write([]byte("body"))
		case "readfrom":
			if _, ok := w.(io.ReaderFrom); !ok {
				t.Error("the writer lost io.ReaderFrom")
			}
			io.Copy(w, io.LimitReader(strings.NewReader("body"), 4))
		case "flush-first":
			w.(http.Flusher).Flush()
			io.WriteString(w, "body")
		case "stream":
			for i := range 3 {
				fmt.Fprintf(w, "chunk%d;", i)
				w.(http.Flusher).Flush()
			}
		case "controller":
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			io.WriteString(w, "body")
		case "status":
			w.WriteHeader(http.StatusAccepted)
		case "error":
			http.Error(w, "Forbidden", http.StatusForbidden)
		case "redirect":
			w.Header().Set("Location", "/cart")
			w.WriteHeader(http.StatusSeeOther)
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]string{"how": how})
		case "nothing":
		}
	})
	return root
}

// The response really was compressed by chi's middleware, with the cookie.
func TestCompressOutsideSessionMiddleware(t *testing.T) {
	ev := adaptertest.NewEnv(t, adapter, sessiontest.NewMemstore(t))
	e, _ := ev.Browser()
	r := e.GET("/write/compressed").WithHeader("Accept-Encoding", "gzip").Expect().Status(http.StatusOK)
	r.Header("Content-Encoding").IsEqual("gzip")
	r.Cookie("session").Value().NotEmpty()
}

func TestRequireUserWithoutMiddlewareIsServerError(t *testing.T) {
	r := chi.NewRouter()
	r.With(sessionchi.RequireUser).Get("/", func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached without a session")
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}

func TestFromRequestWithoutMiddleware(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	if _, err := sessionchi.FromRequest(r); err != session.ErrNoSession {
		t.Fatalf("FromRequest without middleware: %v, want ErrNoSession", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustFromRequest without middleware did not panic")
		}
	}()
	sessionchi.MustFromRequest(r)
}
