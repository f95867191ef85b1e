package pgstore_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/storeurl"
)

func hour() time.Time { return time.Now().Add(time.Hour) }

// TestErrorClasses: failures of the connection and timeouts match
// ErrUnavailable; a wrong database, missing tables and a newer schema match
// ErrMisconfigured; data the database refuses matches neither.
func TestErrorClasses(t *testing.T) {
	srv, pool := startServer(t)
	ctx := context.Background()

	t.Run("UnknownDatabase", func(t *testing.T) {
		st, err := pgstore.Open(ctx, srv.URL("nosuchdb"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		err = st.Ping(ctx)
		if !backends.IsMisconfigured(err) || backends.IsUnavailable(err) {
			t.Fatalf("Ping of a missing database = %v, want misconfigured, not unavailable", err)
		}
	})

	t.Run("MissingTables", func(t *testing.T) {
		st := newStore(t, pool, pgstore.WithCreateSchema(false))
		_, _, err := st.Load(ctx, "k")
		if !backends.IsMisconfigured(err) || backends.IsUnavailable(err) {
			t.Fatalf("Load without tables = %v, want misconfigured", err)
		}
		// Created by the published SQL, the tables are accepted.
		if _, err := pool.Exec(ctx, pgstore.Schema(st.Prefix())); err != nil {
			t.Fatalf("running Schema(): %v", err)
		}
		if _, _, err := st.Load(ctx, "k"); err != nil {
			t.Fatalf("Load after the schema was created: %v", err)
		}
	})

	t.Run("RoleWithoutCreate", func(t *testing.T) {
		// Tables created by migrations, used by a role that may not
		// create tables: the store checks the version and works.
		for _, q := range []string{
			pgstore.Schema("lim_"),
			"CREATE ROLE limited LOGIN",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON lim_records, lim_user_keys, lim_schema TO limited",
		} {
			if _, err := pool.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		url := strings.Replace(srv.URL(""), "postgres://postgres@", "postgres://limited@", 1)
		st, err := pgstore.Open(ctx, url, pgstore.WithPrefix("lim_"), pgstore.WithJanitor(-1, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Save(ctx, "k", []byte("v"), hour(), 0); err != nil {
			t.Fatalf("Save as a role without CREATE on existing tables: %v", err)
		}
		// Tables it would have to create: refused, a misconfiguration.
		other, err := pgstore.Open(ctx, url, pgstore.WithPrefix("nocreate_"), pgstore.WithJanitor(-1, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, _, err := other.Load(ctx, "k"); !backends.IsMisconfigured(err) {
			t.Fatalf("Load needing tables the role cannot create = %v, want misconfigured", err)
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		st := newStore(t, pool)
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "INSERT INTO "+st.Prefix()+"schema (version) VALUES (2)"); err != nil {
			t.Fatal(err)
		}
		again, err := pgstore.New(pool, pgstore.WithPrefix(st.Prefix()), pgstore.WithJanitor(-1, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		err = again.Ping(ctx)
		if !errors.Is(err, pgstore.ErrSchemaVersion) || !backends.IsMisconfigured(err) {
			t.Fatalf("Ping on a newer schema = %v, want ErrSchemaVersion", err)
		}
	})

	t.Run("RefusedData", func(t *testing.T) {
		st := newStore(t, pool)
		_, err := st.Save(ctx, "bad\xffutf8", []byte("x"), hour(), 0)
		if err == nil {
			t.Fatal("Save of a key that is not UTF-8 succeeded")
		}
		if backends.IsUnavailable(err) || backends.IsMisconfigured(err) || backends.IsConflict(err) {
			t.Fatalf("Save of a key that is not UTF-8 = %v: classed as an outage, a misconfiguration or a conflict", err)
		}
		var oe *backends.OpError
		if !errors.As(err, &oe) || oe.Op != "save" {
			t.Fatalf("error %v does not name the operation", err)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		st, err := pgstore.Open(ctx, "postgres://u:s3cret@127.0.0.1:"+strconv.Itoa(port)+"/db?sslmode=disable", pgstore.WithJanitor(-1, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, _, err = st.Load(ctx, "k")
		if !backends.IsUnavailable(err) {
			t.Fatalf("Load from a closed port = %v, want unavailable", err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error leaks the password: %v", err)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		// A server that accepts connections and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
		st, err := pgstore.Open(ctx, "postgres://u@"+l.Addr().String()+"/db?sslmode=disable",
			pgstore.WithTimeout(200*time.Millisecond), pgstore.WithJanitor(-1, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.Save(ctx, "k", []byte("x"), hour(), 0)
		if !backends.IsUnavailable(err) {
			t.Fatalf("Save to a hung server = %v, want unavailable", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		st := newStore(t, pool)
		st.Close()
		if _, _, err := st.Load(ctx, "k"); !errors.Is(err, backends.ErrClosed) {
			t.Fatalf("Load after Close = %v, want ErrClosed", err)
		}
	})
}

func TestOpenURL(t *testing.T) {
	srv, _ := startServer(t)
	ctx := context.Background()
	for _, scheme := range []string{"postgres", "postgresql"} {
		url := strings.Replace(srv.URL(""), "postgres://", scheme+"://", 1) +
			"&table_prefix=" + scheme + "_url_&janitor_interval=-1s&op_timeout=5s&create_schema=true"
		st, err := storeurl.Open(ctx, url)
		if err != nil {
			t.Fatalf("storeurl.Open(%s): %v", scheme, err)
		}
		ps, ok := st.(*pgstore.Store)
		if !ok {
			t.Fatalf("%s:// opened %T", scheme, st)
		}
		if ps.Prefix() != scheme+"_url_" {
			t.Errorf("Prefix() = %q", ps.Prefix())
		}
		if _, err := st.Save(ctx, "k", []byte("v"), hour(), 0); err != nil {
			t.Fatal(err)
		}
		if rec, found, err := st.Load(ctx, "k"); err != nil || !found || string(rec.Blob) != "v" {
			t.Fatalf("Load = %q %v %v", rec.Blob, found, err)
		}
		storeurl.Close(st)
	}
	for _, bad := range []string{
		"postgres://u:s3cret@127.0.0.1:1/db?table_prefix=Bad-Prefix",
		"postgres://u:s3cret@127.0.0.1:1/db?janitor_interval=often",
		"postgres://u:s3cret@127.0.0.1:1/db?janitor_batch=-3",
		"postgres://u:s3cret@127.0.0.1:1/db?create_schema=maybe",
		"postgres://u:s3cret@127.0.0.1:notaport/db",
	} {
		st, err := storeurl.Open(ctx, bad)
		if err == nil {
			storeurl.Close(st)
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if !errors.Is(err, storeurl.ErrBadURL) {
			t.Errorf("Open(%q) = %v, want ErrBadURL", bad, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) leaks the password: %v", bad, err)
		}
	}
}
