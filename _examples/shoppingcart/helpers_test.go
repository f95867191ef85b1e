package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session/internal/redistest"
)

var testSecret = []byte("shoppingcart-test-secret-0123456789abcdef")

// cookieName is the session cookie's name (the library's default).
const cookieName = "session"

// logBuffer collects the app's logs; they are printed when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// shop is the app under test behind an httptest server on 127.0.0.1.
type shop struct {
	t    *testing.T
	cfg  config
	app  *app
	srv  *httptest.Server
	logs *logBuffer
}

// startShop starts the app with cfg (the test secret unless cfg has one).
// It is closed when the test ends.
func startShop(t *testing.T, cfg config) *shop {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{t: t, cfg: cfg, app: a, srv: httptest.NewServer(a), logs: logs}
	t.Cleanup(func() {
		s.close()
		if t.Failed() {
			t.Logf("app log:\n%s", logs.String())
		}
	})
	return s
}

// close stops the server and the app. It may be called more than once.
func (s *shop) close() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
	if s.app != nil {
		if err := s.app.Close(); err != nil {
			s.t.Errorf("closing the app: %v", err)
		}
		s.app = nil
	}
}

// client returns an HTTP client of the shop with its own cookie jar, which
// does not follow redirects.
func (s *shop) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// expect returns an httpexpect instance for a new visitor (its own jar).
func (s *shop) expect() *httpexpect.Expect { return s.expectWith(s.client()) }

func (s *shop) expectWith(c *http.Client) *httpexpect.Expect {
	return httpexpect.WithConfig(httpexpect.Config{
		TestName: s.t.Name(),
		BaseURL:  s.srv.URL,
		Client:   c,
		Reporter: httpexpect.NewAssertReporter(s.t),
	})
}

// bare returns an httpexpect instance without a cookie jar: cookies are
// given per request with WithCookie.
func (s *shop) bare() *httpexpect.Expect {
	return s.expectWith(&http.Client{
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	})
}

// sessionCookie returns the value of the session cookie that c's jar holds,
// or "".
func (s *shop) sessionCookie(c *http.Client) string {
	req, _ := http.NewRequest("GET", s.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

// eachStore runs fn with the in-memory store and with a Redis server the
// test starts.
func eachStore(t *testing.T, fn func(t *testing.T, cfg config)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, config{})
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		r := redistest.StartServer(t)
		fn(t, config{RedisURL: r.URL()})
	})
}

// cartJSON is the wire form of GET /api/cart.
type cartJSON struct {
	Items []struct {
		ProductID string `json:"productId"`
		Name      string `json:"name"`
		Price     int64  `json:"price"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
	Count int   `json:"count"`
	Total int64 `json:"total"`
}

// quantities returns the cart as product ID -> quantity.
func (c cartJSON) quantities() map[string]int {
	m := make(map[string]int, len(c.Items))
	for _, it := range c.Items {
		m[it.ProductID] = it.Quantity
	}
	return m
}

// getCart reads the cart through the API.
func getCart(e *httpexpect.Expect) cartJSON {
	var c cartJSON
	e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Decode(&c)
	return c
}

// add adds qty of product through the API and expects success.
func add(e *httpexpect.Expect, product string, qty int) *httpexpect.Object {
	return e.POST("/api/cart/items").WithJSON(map[string]any{"productId": product, "quantity": qty}).
		Expect().Status(http.StatusOK).JSON().Object()
}

// login logs in through the API and expects success.
func login(e *httpexpect.Expect, user, password string) *httpexpect.Response {
	r := e.POST("/api/login").WithJSON(map[string]string{"username": user, "password": password}).Expect()
	r.Status(http.StatusOK).JSON().Object().IsEqual(map[string]string{"user": user})
	return r
}

// expectError checks a JSON error response: the status, the content type
// and a non-empty {"error": "..."} body. It returns the message.
func expectError(r *httpexpect.Response, status int) string {
	r.Status(status)
	r.HasContentType("application/json")
	obj := r.JSON().Object()
	obj.Keys().ContainsOnly("error")
	msg := obj.Value("error").String().NotEmpty().Raw()
	return msg
}
