package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// seed runs /seed once and returns the request cookies that carry the new
// session (none for the bare handler).
func seed(tb testing.TB, h http.Handler) []*http.Cookie {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/seed", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("seed: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Result().Cookies()
}

// serve runs one request. The request is copied first: gorilla/sessions
// stores its registry in the request it is given (*r = *r.WithContext(...)),
// which would let later iterations skip decoding. Every library, and the
// bare handler, pays for the same copy.
func serve(h http.Handler, w http.ResponseWriter, base *http.Request) {
	r := new(http.Request)
	*r = *base
	h.ServeHTTP(w, r)
}

// TestWorkloadsAgree checks that every library gives the bare handler's
// response on every workload, so that the benchmarks compare equal work.
func TestWorkloadsAgree(t *testing.T) {
	targets := newTargets(t)
	want := map[string]string{}
	for _, tg := range targets {
		cookies := seed(t, tg.handler)
		if tg.name != "Bare" && len(cookies) != 1 {
			t.Fatalf("%s: seed set %d cookies, want 1", tg.name, len(cookies))
		}
		for _, wl := range workloads {
			for range 3 {
				req := httptest.NewRequest("GET", wl.path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				rec := httptest.NewRecorder()
				serve(tg.handler, rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s %s: status %d: %s", tg.name, wl.path, rec.Code, rec.Body)
				}
				if tg.name == "Bare" {
					want[wl.path] = rec.Body.String()
				} else if got := rec.Body.String(); got != want[wl.path] {
					t.Fatalf("%s %s: body %q, want %q", tg.name, wl.path, got, want[wl.path])
				}
			}
		}
	}
}

// BenchmarkCompare runs the workload through each library in one run, so
// that the figures are comparable. Sub-benchmarks are named
// Library/Workload.
func BenchmarkCompare(b *testing.B) {
	for _, tg := range newTargets(b) {
		cookies := seed(b, tg.handler)
		for _, wl := range workloads {
			b.Run(tg.name+"/"+wl.name, func(b *testing.B) {
				req := httptest.NewRequest("GET", wl.path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				b.ReportAllocs()
				for b.Loop() {
					serve(tg.handler, httptest.NewRecorder(), req)
				}
			})
		}
	}
}
