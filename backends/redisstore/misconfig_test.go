package redisstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// Ping tells a server that refuses the client's configuration (its error
// matches backends.ErrMisconfigured and names the cause) from one that
// cannot be reached (backends.ErrUnavailable).
func TestPingClassifiesRefusedConfiguration(t *testing.T) {
	plain := redistest.StartServer(t)
	locked := redistest.StartServer(t)
	// redistest waits for an unauthenticated PONG, so the password is set
	// once the server runs; the helper's own connection stays logged in.
	if err := locked.Client().ConfigSet(t.Context(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	closed := "127.0.0.1:" + strconv.Itoa(port)
	for _, c := range []struct {
		name, url, cause string
		misconfigured    bool
	}{
		{"database out of range", "redis://" + plain.Addr() + "/99", "DB index is out of range", true},
		{"wrong password", "redis://:wrong@" + locked.Addr() + "/0", "WRONGPASS", true},
		{"unknown user", "redis://nobody:pw@" + plain.Addr() + "/0", "WRONGPASS", true},
		{"no password", "redis://" + locked.Addr() + "/0", "NOAUTH", true},
		{"TLS against a plaintext server", "rediss://" + plain.Addr() + "/0", "answers plaintext Redis commands", true},
		{"nothing listening", "redis://" + closed + "/0", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := redisstore.NewFromURL(c.url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Ping(t.Context())
			if err == nil {
				t.Fatal("Ping succeeded")
			}
			if backends.IsMisconfigured(err) != c.misconfigured || backends.IsUnavailable(err) == c.misconfigured {
				t.Errorf("Ping: %v: misconfigured %v, unavailable %v; want misconfigured %v", err,
					backends.IsMisconfigured(err), backends.IsUnavailable(err), c.misconfigured)
			}
			if !strings.Contains(err.Error(), c.cause) {
				t.Errorf("Ping: %q does not name the cause %q", err, c.cause)
			}
			if strings.Contains(err.Error(), "wrong@") || strings.Contains(err.Error(), ":pw") {
				t.Errorf("Ping: %q repeats the credentials", err)
			}
		})
	}
	// The right settings answer.
	s, err := redisstore.NewFromURL("redis://:s3cret@"+locked.Addr()+"/0", redisstore.WithPingOnStart())
	if err != nil {
		t.Fatalf("the right password: %v", err)
	}
	s.Close()
}

// A password changed while the store runs: once its connections are gone,
// Ping reports the refusal, not an outage.
func TestPingReportsPasswordChangedAtRunTime(t *testing.T) {
	srv := redistest.StartServer(t)
	s, err := redisstore.NewFromURL("redis://" + srv.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin := srv.Client()
	if err := admin.ConfigSet(t.Context(), "requirepass", "rotated").Err(); err != nil {
		t.Fatal(err)
	}
	// Drop every connection but the admin's, as a restart would.
	if err := admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	var last error
	for range 20 { // the pool may first hand out a connection the server closed
		if last = s.Ping(t.Context()); backends.IsMisconfigured(last) {
			break
		}
	}
	if !backends.IsMisconfigured(last) || !strings.Contains(last.Error(), "NOAUTH") {
		t.Fatalf("Ping after the password changed: %v, want a misconfiguration naming NOAUTH", last)
	}
}

// tlsProxy accepts TLS connections with a self-signed certificate and
// forwards them to a plaintext Redis, standing in for a TLS-enabled server.
func tlsProxy(t *testing.T, target string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// Against a server that does speak TLS, the store works; a certificate the
// client cannot verify is a configuration error.
func TestTLSServer(t *testing.T) {
	srv := redistest.StartServer(t)
	addr := tlsProxy(t, srv.Addr())
	s, err := redisstore.NewFromURL("rediss://"+addr+"/0?skip_verify=true", redisstore.WithPingOnStart())
	if err != nil {
		t.Fatalf("TLS server: %v", err)
	}
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	if _, err := s.Save(t.Context(), "k", []byte("v"), exp, 0); err != nil {
		t.Fatal(err)
	}
	if rec, found, err := s.Load(t.Context(), "k"); err != nil || !found || string(rec.Blob) != "v" {
		t.Fatalf("Load over TLS: %q, %v, %v", rec.Blob, found, err)
	}

	unverified, err := redisstore.NewFromURL("rediss://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer unverified.Close()
	// On a busy machine the first ping may run out of time before the
	// handshake fails; the refusal is reported once it did.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err = unverified.Ping(t.Context())
		if backends.IsMisconfigured(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var unknown x509.UnknownAuthorityError
	if !backends.IsMisconfigured(err) || !errors.As(err, &unknown) {
		t.Fatalf("Ping with an unknown certificate authority: %v, want a misconfiguration", err)
	}
}

// Ping's classification does not depend on the caller's patience: a
// caller whose deadline ends before the connection was refused still
// learns why, once it was.
func TestPingRefusalReportedAfterShortDeadline(t *testing.T) {
	srv := redistest.StartServer(t)
	s, err := redisstore.NewFromURL("rediss://" + srv.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last error
	for range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		last = s.Ping(ctx)
		cancel()
		if backends.IsMisconfigured(last) {
			return
		}
	}
	t.Fatalf("Ping with short deadlines never reported the refusal: %v", last)
}
