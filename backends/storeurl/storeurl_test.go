package storeurl_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storeurl"
)

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	st, err := storeurl.Open(ctx, "memory://?max_sessions=64&shards=2&max_bytes=1048576&janitor_interval=-1s")
	if err != nil {
		t.Fatal(err)
	}
	defer storeurl.Close(st)
	ms, ok := st.(*memstore.Store)
	if !ok {
		t.Fatalf("memory:// opened %T", st)
	}
	if _, err := ms.Save(ctx, "k", []byte("v"), time.Now().Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if rec, found, err := ms.Load(ctx, "k"); err != nil || !found || string(rec.Blob) != "v" {
		t.Fatalf("Load = %q %v %v", rec.Blob, found, err)
	}
}

func TestOpenRedisDoesNoIO(t *testing.T) {
	st, err := storeurl.Open(context.Background(), "redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer storeurl.Close(st)
	if _, ok := st.(*redisstore.Store); !ok {
		t.Fatalf("redis:// opened %T", st)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"nosuch://x", storeurl.ErrUnknownScheme},
		{"localhost:6379", storeurl.ErrUnknownScheme},
		{"", storeurl.ErrBadURL},
		{"memory://?max_sessions=lots", storeurl.ErrBadURL},
		{"memory://?colour=blue", storeurl.ErrBadURL},
		{"memory://host", storeurl.ErrBadURL},
		{"redis://user:s3cret@127.0.0.1:6379/99999999999999999999", storeurl.ErrBadURL},
		{"redis://user:s3cret@127.0.0.1:6379?read_only=true", storeurl.ErrBadURL},
		{"%zz://x", storeurl.ErrBadURL},
	} {
		st, err := storeurl.Open(context.Background(), tc.url)
		if err == nil {
			storeurl.Close(st)
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("Open(%q) = %v, want %v", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) error leaks the password: %v", tc.url, err)
		}
	}
}

func TestRegister(t *testing.T) {
	var got string
	storeurl.Register("test-scheme", func(_ context.Context, u *url.URL, raw string) (backends.Store, error) {
		got = u.Host + "|" + raw
		return memstore.New(memstore.Options{})
	})
	st, err := storeurl.Open(context.Background(), "TEST-SCHEME://db1")
	if err != nil {
		t.Fatal(err)
	}
	storeurl.Close(st)
	if got != "db1|TEST-SCHEME://db1" {
		t.Fatalf("opener saw %q", got)
	}
	found := false
	for _, s := range storeurl.Schemes() {
		found = found || s == "test-scheme"
	}
	if !found {
		t.Fatalf("Schemes() = %v", storeurl.Schemes())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	storeurl.Register("test-scheme", func(context.Context, *url.URL, string) (backends.Store, error) { return nil, nil })
}

func TestOpenRedisKeyPrefix(t *testing.T) {
	for _, raw := range []string{
		"redis://127.0.0.1:1/0?key_prefix=shop:",
		"redis://:secret@127.0.0.1:1/2?key_prefix=shop:&dial_timeout=1s",
	} {
		st, err := storeurl.Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		rs, ok := st.(*redisstore.Store)
		if !ok || rs.Prefix() != "shop:" {
			t.Errorf("%s: opened %T with prefix %q, want shop:", raw, st, rs.Prefix())
		}
		_ = storeurl.Close(st)
	}
	if _, err := storeurl.Open(context.Background(), "redis://127.0.0.1:1/0?key_prefix="); !errors.Is(err, storeurl.ErrBadURL) {
		t.Errorf("empty key_prefix: %v, want ErrBadURL", err)
	}
}
