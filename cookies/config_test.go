package cookies_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/cookies"
)

func TestWithDefaults(t *testing.T) {
	got := cookies.Config{}.WithDefaults()
	want := cookies.Config{Name: "session", Path: "/", SameSite: http.SameSiteLaxMode}
	if got != want {
		t.Errorf("zero.WithDefaults() = %+v; want %+v", got, want)
	}
	set := cookies.Config{
		Name: "sid", Domain: "example.com", Path: "/app", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Partitioned: true, Secure: cookies.SecureAlways,
	}
	if got := set.WithDefaults(); got != set {
		t.Errorf("WithDefaults changed set fields: %+v -> %+v", set, got)
	}
	if err := (cookies.Config{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	def := cookies.Config{}.WithDefaults()
	with := func(f func(*cookies.Config)) cookies.Config {
		c := def
		f(&c)
		return c
	}
	hostOK := with(func(c *cookies.Config) { c.HostPrefix = true; c.Secure = cookies.SecureAlways })

	valid := map[string]cookies.Config{
		"defaults":              def,
		"host prefix":           hostOK,
		"strict":                with(func(c *cookies.Config) { c.SameSite = http.SameSiteStrictMode }),
		"browser default":       with(func(c *cookies.Config) { c.SameSite = http.SameSiteDefaultMode }),
		"none with secure":      with(func(c *cookies.Config) { c.SameSite = http.SameSiteNoneMode; c.Secure = cookies.SecureAlways }),
		"partitioned":           with(func(c *cookies.Config) { c.Partitioned = true; c.Secure = cookies.SecureAlways }),
		"never secure":          with(func(c *cookies.Config) { c.Secure = cookies.SecureNever }),
		"domain":                with(func(c *cookies.Config) { c.Domain = "example.com" }),
		"ipv4 domain":           with(func(c *cookies.Config) { c.Domain = "192.0.2.1" }),
		"sub path":              with(func(c *cookies.Config) { c.Path = "/app/" }),
		"token punctuation":     with(func(c *cookies.Config) { c.Name = "my.app-sid_v2!#$%&'*+^`~" }),
		"__Secure- with secure": with(func(c *cookies.Config) { c.Name = "__Secure-sid"; c.Secure = cookies.SecureAlways }),
		"host prefix everything": with(func(c *cookies.Config) {
			*c = hostOK
			c.HttpOnly = true
			c.Partitioned = true
			c.SameSite = http.SameSiteNoneMode
		}),
	}
	for name, c := range valid {
		t.Run("valid/"+name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = %v", c, err)
			}
			ck := c.New("v", time.Hour, true)
			if err := ck.Valid(); err != nil {
				t.Errorf("valid config made an invalid cookie: %v", err)
			}
		})
	}

	invalid := map[string]cookies.Config{
		"zero value":           {},
		"empty name":           with(func(c *cookies.Config) { c.Name = "" }),
		"name with space":      with(func(c *cookies.Config) { c.Name = "my session" }),
		"name with semicolon":  with(func(c *cookies.Config) { c.Name = "a;b" }),
		"name with equals":     with(func(c *cookies.Config) { c.Name = "a=b" }),
		"name with pipe":       with(func(c *cookies.Config) { c.Name = "a|b" }),
		"name with slash":      with(func(c *cookies.Config) { c.Name = "a/b" }),
		"name with control":    with(func(c *cookies.Config) { c.Name = "a\x01" }),
		"name non-ASCII":       with(func(c *cookies.Config) { c.Name = "sessión" }),
		"name spells __Host-":  with(func(c *cookies.Config) { *c = hostOK; c.HostPrefix = false; c.Name = "__Host-sid" }),
		"name spells __host-":  with(func(c *cookies.Config) { c.Name = "__host-sid" }),
		"__Secure- without":    with(func(c *cookies.Config) { c.Name = "__Secure-sid" }),
		"empty path":           with(func(c *cookies.Config) { c.Path = "" }),
		"relative path":        with(func(c *cookies.Config) { c.Path = "app" }),
		"path with semicolon":  with(func(c *cookies.Config) { c.Path = "/a;b" }),
		"path with control":    with(func(c *cookies.Config) { c.Path = "/a\nb" }),
		"bad domain":           with(func(c *cookies.Config) { c.Domain = "exa mple.com" }),
		"ipv6 domain":          with(func(c *cookies.Config) { c.Domain = "2001:db8::1" }),
		"samesite unset":       with(func(c *cookies.Config) { c.SameSite = 0 }),
		"samesite unknown":     with(func(c *cookies.Config) { c.SameSite = 99 }),
		"secure mode unknown":  with(func(c *cookies.Config) { c.Secure = 7 }),
		"host prefix auto":     with(func(c *cookies.Config) { *c = hostOK; c.Secure = cookies.SecureAuto }),
		"host prefix never":    with(func(c *cookies.Config) { *c = hostOK; c.Secure = cookies.SecureNever }),
		"host prefix sub path": with(func(c *cookies.Config) { *c = hostOK; c.Path = "/app" }),
		"host prefix domain":   with(func(c *cookies.Config) { *c = hostOK; c.Domain = "example.com" }),
		"partitioned auto":     with(func(c *cookies.Config) { c.Partitioned = true }),
		"partitioned never":    with(func(c *cookies.Config) { c.Partitioned = true; c.Secure = cookies.SecureNever }),
		"samesite none auto":   with(func(c *cookies.Config) { c.SameSite = http.SameSiteNoneMode }),
		"samesite none never":  with(func(c *cookies.Config) { c.SameSite = http.SameSiteNoneMode; c.Secure = cookies.SecureNever }),
		"defaults not applied": {Name: "session"},
	}
	for name, c := range invalid {
		t.Run("invalid/"+name, func(t *testing.T) {
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil; want error", c)
			}
			if !errors.Is(err, cookies.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestCookieName(t *testing.T) {
	c := cookies.Config{Name: "sid"}
	if got := c.CookieName(); got != "sid" {
		t.Errorf("CookieName() = %q; want sid", got)
	}
	c.HostPrefix = true
	if got := c.CookieName(); got != "__Host-sid" {
		t.Errorf("CookieName() with HostPrefix = %q; want __Host-sid", got)
	}
}

func TestNewSecureAttribute(t *testing.T) {
	tests := []struct {
		mode      cookies.SecureMode
		tls, want bool
	}{
		{cookies.SecureAuto, true, true},
		{cookies.SecureAuto, false, false},
		{cookies.SecureAlways, true, true},
		{cookies.SecureAlways, false, true},
		{cookies.SecureNever, true, false},
		{cookies.SecureNever, false, false},
	}
	for _, tt := range tests {
		c := cookies.Config{Secure: tt.mode}.WithDefaults()
		if got := c.New("v", 0, tt.tls).Secure; got != tt.want {
			t.Errorf("%v, TLS %v: New().Secure = %v; want %v", tt.mode, tt.tls, got, tt.want)
		}
		if got := c.Expired(tt.tls).Secure; got != tt.want {
			t.Errorf("%v, TLS %v: Expired().Secure = %v; want %v", tt.mode, tt.tls, got, tt.want)
		}
	}
}

func TestNewAttributes(t *testing.T) {
	c := cookies.Config{
		Name: "sid", Domain: "example.com", Path: "/app", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Partitioned: true, Secure: cookies.SecureAlways,
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	ck := c.New("value", 0, false)
	want := "sid=value; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Strict; Partitioned"
	if got := ck.String(); got != want {
		t.Errorf("browser-session cookie:\n got %s\nwant %s", got, want)
	}
	if ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Errorf("maxAge 0: MaxAge = %d, Expires = %v; want neither", ck.MaxAge, ck.Expires)
	}
	if ck := c.New("value", -time.Hour, false); ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Errorf("negative maxAge: MaxAge = %d, Expires = %v; want neither", ck.MaxAge, ck.Expires)
	}

	start := time.Now()
	ck = c.New("value", 90*time.Minute, false)
	if ck.MaxAge != 5400 {
		t.Errorf("MaxAge = %d; want 5400", ck.MaxAge)
	}
	if lo, hi := start.Add(90*time.Minute-time.Second), time.Now().Add(90*time.Minute+time.Second); ck.Expires.Before(lo) || ck.Expires.After(hi) {
		t.Errorf("Expires = %v; want about %v", ck.Expires, start.Add(90*time.Minute))
	}
	if s := ck.String(); !strings.Contains(s, "; Max-Age=5400") || !strings.Contains(s, "; Expires=") {
		t.Errorf("persistent cookie %q lacks Max-Age or Expires", s)
	}
	if got := c.New("value", 1500*time.Millisecond, false).MaxAge; got != 2 {
		t.Errorf("maxAge 1.5s: MaxAge = %d; want 2 (rounded up)", got)
	}
	if got := c.New("value", time.Nanosecond, false).MaxAge; got != 1 {
		t.Errorf("maxAge 1ns: MaxAge = %d; want 1 (rounded up)", got)
	}
}

func TestExpiredDeletesTheSameCookie(t *testing.T) {
	c := cookies.Config{
		Name: "sid", Path: "/", HttpOnly: true, HostPrefix: true,
		SameSite: http.SameSiteLaxMode, Secure: cookies.SecureAlways,
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	live, dead := c.New("value", time.Hour, true), c.Expired(true)
	if dead.Value != "" {
		t.Errorf("Expired().Value = %q; want empty", dead.Value)
	}
	if dead.MaxAge >= 0 {
		t.Errorf("Expired().MaxAge = %d; want negative", dead.MaxAge)
	}
	if !dead.Expires.Before(time.Now()) || dead.Expires.IsZero() {
		t.Errorf("Expired().Expires = %v; want a time in the past", dead.Expires)
	}
	if dead.Name != live.Name || dead.Path != live.Path || dead.Domain != live.Domain ||
		dead.Secure != live.Secure || dead.HttpOnly != live.HttpOnly ||
		dead.SameSite != live.SameSite || dead.Partitioned != live.Partitioned {
		t.Errorf("Expired() attributes differ from New():\n%s\n%s", dead, live)
	}
	want := "__Host-sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
	if got := dead.String(); got != want {
		t.Errorf("Expired():\n got %s\nwant %s", got, want)
	}
	if err := dead.Valid(); err != nil {
		t.Errorf("Expired() is not a valid cookie: %v", err)
	}
}

func TestIsSecureRequest(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		proto   []string
		trusted bool
		want    bool
	}{
		{"plain", false, nil, false, false},
		{"tls", true, nil, false, true},
		{"tls, header says http", true, []string{"http"}, true, true},
		{"header untrusted", false, []string{"https"}, false, false},
		{"header trusted", false, []string{"https"}, true, true},
		{"header upper case", false, []string{"HTTPS"}, true, true},
		{"header spaces", false, []string{" https "}, true, true},
		{"header http", false, []string{"http"}, true, false},
		{"header list, first https", false, []string{"https, http"}, true, true},
		{"header list, first http", false, []string{"http,https"}, true, false},
		{"header empty", false, []string{""}, true, false},
		{"header junk", false, []string{"httpsx"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tt.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := cookies.IsSecureRequest(r, tt.trusted); got != tt.want {
				t.Errorf("IsSecureRequest = %v; want %v", got, tt.want)
			}
		})
	}
}

// End to end over a real TLS server with a cookie jar: the cookie set with
// SecureAuto is Secure, the browser-side jar sends it back, and its value
// verifies; after Expired the jar drops it.
func TestCookieRoundTripOverTLS(t *testing.T) {
	signer := mustSigner(t, time.Hour, keyA)
	cfg := cookies.Config{HttpOnly: true}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		v, err := signer.Sign(cfg.CookieName(), testID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, cfg.New(v, time.Hour, cookies.IsSecureRequest(r, false)))
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cfg.CookieName())
		if err != nil {
			w.Write([]byte("anonymous"))
			return
		}
		id, err := signer.Verify(cfg.CookieName(), c.Value)
		if err != nil {
			w.Write([]byte("rejected"))
			return
		}
		w.Write([]byte(id))
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, cfg.Expired(cookies.IsSecureRequest(r, false)))
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	client.Jar = jar
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}

	resp, _ := get("/login")
	set := resp.Cookies()
	if len(set) != 1 || !set[0].Secure || !set[0].HttpOnly || set[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("login Set-Cookie = %v; want one Secure HttpOnly SameSite=Lax cookie", resp.Header["Set-Cookie"])
	}
	if _, body := get("/whoami"); body != testID {
		t.Fatalf("after login: whoami = %q; want %q", body, testID)
	}
	get("/logout")
	if _, body := get("/whoami"); body != "anonymous" {
		t.Fatalf("after logout: whoami = %q; want anonymous", body)
	}
}
