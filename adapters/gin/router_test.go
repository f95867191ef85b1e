package sessiongin_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/session"
	sessiongin "github.com/sessionkit/session/adapters/gin"
	"github.com/sessionkit/session/internal/adaptertest"
	"github.com/sessionkit/session/internal/sessiontest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

var writeCases = map[string]adaptertest.WriteCase{
	"string":          {Status: http.StatusOK, Body: "body"},
	"json":            {Status: http.StatusCreated, Body: `{"how":"json"}`},
	"data":            {Status: http.StatusOK, Body: "body"},
	"writer":          {Status: http.StatusOK, Body: "body"},
	"writestring":     {Status: http.StatusOK, Body: "body"},
	"status":          {Status: http.StatusAccepted, Body: ""},
	"status-now":      {Status: http.StatusAccepted, Body: ""},
	"status-then-set": {Status: http.StatusCreated, Body: "body"},
	"abort":           {Status: http.StatusForbidden, Body: ""},
	"abort-json":      {Status: http.StatusForbidden, Body: `{"error":"forbidden"}`},
	"abort-error":     {Status: http.StatusInternalServerError, Body: ""},
	"stream":          {Status: http.StatusOK, Body: "chunk0;chunk1;chunk2;"},
	"sse":             {Status: http.StatusOK, Body: "event:msg\ndata:hi\n\n"},
	"flush":           {Status: http.StatusOK, Body: "body"},
	"controller":      {Status: http.StatusOK, Body: "body"},
	"file":            {Status: http.StatusOK, Body: "file body"},
	"redirect":        {Status: http.StatusSeeOther, Body: "<a href=\"/cart\">See Other</a>.\n\n"},
	"nethttp":         {Status: http.StatusCreated, Body: "body"},
	"nothing":         {Status: http.StatusOK, Body: ""},
}

func newRouter(t *testing.T, m *session.Manager) http.Handler {
	file := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(file, []byte("file body"), 0o600); err != nil {
		t.Fatal(err)
	}
	fail := func(c *gin.Context, err error) {
		t.Errorf("handler: %v", err)
		c.String(599, err.Error())
	}
	cart := func(c *gin.Context, items []string) {
		c.JSON(http.StatusOK, gin.H{"items": append([]string{}, items...)})
	}

	r := gin.New()
	r.Use(gin.Recovery(), sessiongin.Middleware(m))

	r.GET("/untouched", func(c *gin.Context) { c.String(http.StatusOK, "hello") })
	r.POST("/cart/:item", func(c *gin.Context) {
		s := sessiongin.MustFromContext(c)
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			fail(c, err)
			return
		}
		items = append(items, c.Param("item"))
		if err := s.Set("cart", items); err != nil {
			fail(c, err)
			return
		}
		cart(c, items)
	})
	r.GET("/cart", func(c *gin.Context) {
		s, err := sessiongin.FromContext(c)
		if err != nil {
			fail(c, err)
			return
		}
		items, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			fail(c, err)
			return
		}
		cart(c, items)
	})
	r.GET("/value/:key", func(c *gin.Context) {
		v, ok, err := session.Get[string](sessiongin.MustFromContext(c), c.Param("key"))
		if err != nil {
			fail(c, err)
			return
		}
		if !ok {
			v = "-"
		}
		c.String(http.StatusOK, v)
	})
	r.POST("/login/:user", func(c *gin.Context) {
		s := sessiongin.MustFromContext(c)
		if err := s.Renew(); err != nil {
			fail(c, err)
			return
		}
		if err := s.SetUser(c.Param("user")); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "welcome")
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := sessiongin.MustFromContext(c).Destroy(); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, "bye")
	})
	r.GET("/me", sessiongin.RequireUser(), func(c *gin.Context) {
		u, err := sessiongin.MustFromContext(c).User()
		if err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, u)
	})
	r.GET("/write/:how", func(c *gin.Context) {
		how := c.Param("how")
		s := sessiongin.MustFromContext(c)
		if how != "status-then-set" {
			if err := s.Set("how", how); err != nil {
				fail(c, err)
				return
			}
		}
		switch how {
		case "string":
			c.String(http.StatusOK, "body")
		case "json":
			c.JSON(http.StatusCreated, gin.H{"how": how})
		case "data":
			c.Data(http.StatusOK, "text/plain", []byte("body"))
		case "writer":
			c.Writer.Write([]byte("body"))
		case "writestring":
			c.Writer.WriteString("body")
		case "status":
			c.Status(http.StatusAccepted)
		case "status-now":
			c.Status(http.StatusAccepted)
			c.Writer.WriteHeaderNow()
		case "status-then-set":
			// In gin, c.Status only records the status: the session can
			// still change until the body is written.
			c.Status(http.StatusCreated)
			if err := s.Set("how", how); err != nil {
				t.Errorf("Set after c.Status: %v", err)
			}
			c.Writer.WriteString("body")
		case "abort":
			c.AbortWithStatus(http.StatusForbidden)
		case "abort-json":
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "forbidden"})
		case "abort-error":
			c.AbortWithError(http.StatusInternalServerError, errors.New("boom"))
		case "stream":
			i := 0
			c.Stream(func(w io.Writer) bool {
				fmt.Fprintf(w, "chunk%d;", i)
				i++
				return i < 3
			})
		case "sse":
			c.SSEvent("msg", "hi")
			c.Writer.Flush()
		case "flush":
			c.Writer.Flush()
			c.String(http.StatusOK, "body")
		case "controller":
			rc := http.NewResponseController(c.Writer)
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			c.Writer.WriteString("body")
		case "file":
			c.File(file)
		case "redirect":
			c.Redirect(http.StatusSeeOther, "/cart")
		case "nethttp":
			gin.WrapF(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "body")
			})(c)
		case "nothing":
		}
	})
	return r
}

func TestRequireUserWithoutMiddlewareIsServerError(t *testing.T) {
	r := gin.New()
	r.GET("/", sessiongin.RequireUser(), func(c *gin.Context) {
		t.Error("handler reached without a session")
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("GET", "/", nil)
	if _, err := sessiongin.FromContext(c); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("FromContext without middleware: %v, want ErrNoSession", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustFromContext without middleware did not panic")
		}
	}()
	sessiongin.MustFromContext(c)
}

// The handlers after the middleware see a gin.ResponseWriter that still
// reports gin's status and size, and the original writer is back for the
// handlers before it once the chain returns.
func TestWriterKeepsGinBookkeeping(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := gin.New()
	var before, inside gin.ResponseWriter
	r.Use(func(c *gin.Context) {
		before = c.Writer
		c.Next()
		if c.Writer != before {
			t.Error("c.Writer not restored after the session middleware")
		}
		if c.Writer.Status() != http.StatusCreated || c.Writer.Size() != 4 {
			t.Errorf("status %d size %d, want 201 and 4", c.Writer.Status(), c.Writer.Size())
		}
	}, sessiongin.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		inside = c.Writer
		sessiongin.MustFromContext(c).Set("k", "v")
		c.String(http.StatusCreated, "body")
		if !c.Writer.Written() || c.Writer.Status() != http.StatusCreated {
			t.Errorf("Written %v, status %d", c.Writer.Written(), c.Writer.Status())
		}
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
	if inside == before {
		t.Error("handlers after the middleware got gin's own writer")
	}
	if rec.Code != http.StatusCreated || rec.Header().Get("Set-Cookie") == "" {
		t.Fatalf("status %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
}

// A handler that takes over the connection (a WebSocket upgrade) commits
// its session first; the middleware then leaves the connection alone.
func TestHijackAfterCommit(t *testing.T) {
	m, err := session.New(session.WithSecret(adaptertest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := gin.New()
	r.Use(sessiongin.Middleware(m))
	r.GET("/upgrade", func(c *gin.Context) {
		s := sessiongin.MustFromContext(c)
		if err := s.Set("k", "v"); err != nil {
			t.Error(err)
		}
		if err := s.Commit(); err != nil {
			t.Error(err)
		}
		cookie := c.Writer.Header().Get("Set-Cookie")
		conn, buf, err := c.Writer.Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nSet-Cookie: %s\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked", cookie)
		buf.Flush()
	})
	srvLog := &sessiontest.LogBuffer{}
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ErrorLog = log.New(srvLog, "", 0)
	srv.Start()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/upgrade")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hijacked" || len(resp.Cookies()) != 1 {
		t.Fatalf("body %q, cookies %v", body, resp.Cookies())
	}
	srv.Close()
	if s := srvLog.String(); s != "" {
		t.Fatalf("server log: %s", s)
	}
}
