package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessionkit/session/internal/redistest"
)

// BenchmarkCartSessionBytes measures what one shop session costs in Redis:
// a visitor who put three products in the cart and logged in. It reports
// the stored blob (encrypted, compressed above the threshold) and Redis's
// own MEMORY USAGE of the record, per session; docs/operations.md uses
// these figures for capacity planning. Run it with
//
//	go test -run '^$' -bench CartSessionBytes -benchtime 200x .
func BenchmarkCartSessionBytes(b *testing.B) {
	redistest.Require(b)
	r := redistest.StartServer(b)
	a, err := newApp(config{StoreURL: r.URL() + "?key_prefix=capacity:", Secret: testSecret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	post := func(c *http.Client, path string, body any) {
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", srv.URL)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("POST %s: %d %s", path, resp.StatusCode, msg)
		}
	}
	for b.Loop() {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		for _, p := range []string{"p003", "p017", "p077"} {
			post(c, "/api/cart/items", map[string]any{"productId": p, "quantity": 2})
		}
		post(c, "/api/login", map[string]any{"username": "alice", "password": "wonderland"})
	}
	b.StopTimer()
	ctx := b.Context()
	rc := r.Client()
	var n, blobs, mem int64
	iter := rc.Scan(ctx, 0, "capacity:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if strings.Contains(k, "user:") {
			continue
		}
		l, err := rc.HStrLen(ctx, k, "d").Result()
		if err != nil {
			b.Fatal(err)
		}
		u, err := rc.MemoryUsage(ctx, k).Result()
		if err != nil {
			b.Fatal(err)
		}
		n, blobs, mem = n+1, blobs+l, mem+u
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	if n == 0 {
		b.Fatal("no session stored")
	}
	var entries, idxMem int64
	ui := rc.Scan(ctx, 0, "capacity:user:*", 1000).Iterator()
	for ui.Next(ctx) {
		k := ui.Val()
		if strings.HasSuffix(k, ":revoking") {
			continue
		}
		z, err := rc.ZCard(ctx, k).Result()
		if err != nil {
			b.Fatal(err)
		}
		u, err := rc.MemoryUsage(ctx, k).Result()
		if err != nil {
			b.Fatal(err)
		}
		entries, idxMem = entries+z, idxMem+u
	}
	if entries > 0 {
		b.ReportMetric(float64(idxMem)/float64(entries), "index-bytes/entry")
	}
	b.ReportMetric(float64(n), "sessions")
	b.ReportMetric(float64(blobs)/float64(n), "blob-bytes/session")
	b.ReportMetric(float64(mem)/float64(n), "redis-bytes/session")
}
