package transfer_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/codec"
)

func ExampleCopy() {
	ctx := context.Background()
	src, _ := memstore.New(memstore.Options{})
	dst, _ := memstore.New(memstore.Options{})
	for i := range 5 {
		_, _ = src.Save(ctx, fmt.Sprint("key", i), []byte("encrypted blob"), time.Now().Add(time.Hour), 0)
	}
	st, err := transfer.Copy(ctx, dst, src, transfer.Options{
		BatchSize: 2,
		Progress:  func(p transfer.Progress) { fmt.Println("copied", p.Copied, "resume at", p.Cursor) },
	})
	fmt.Println(st.Copied, st.Skipped, st.Failed, st.Expired, err)
	// Output:
	// copied 2 resume at pos:2
	// copied 4 resume at pos:4
	// copied 5 resume at pos:5
	// 5 0 0 0 <nil>
}

func ExampleBackup() {
	ctx := context.Background()
	src, _ := memstore.New(memstore.Options{})
	_, _ = src.Save(ctx, "key", []byte{1, 2, 3}, time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC), 0)

	var buf bytes.Buffer
	st, err := transfer.Backup(ctx, &buf, src, transfer.Options{})
	fmt.Println(st.Copied, err)
	lines := strings.Split(buf.String(), "\n")
	fmt.Println(lines[1])
	fmt.Println(lines[2])
	// Output:
	// 1 <nil>
	// {"key":"key","blob":"AQID","version":1,"expiry":"2099-01-02T03:04:05Z"}
	// {"end":true,"records":1}
}

func ExampleRestore() {
	ctx := context.Background()
	dst, _ := memstore.New(memstore.Options{})
	stream := `{"format":"sessionkit-backup","version":1,"created":"2026-12-01T00:00:00Z"}
{"key":"key","blob":"AQID","version":7,"expiry":"2099-01-02T03:04:05Z"}
{"end":true,"records":1}
`
	st, err := transfer.Restore(ctx, dst, strings.NewReader(stream), transfer.Options{Mode: transfer.SkipExisting})
	fmt.Println(st.Copied, err)
	rec, _, _ := dst.Load(ctx, "key")
	fmt.Println(rec.Blob, rec.Version, rec.Expiry.UTC())

	_, err = transfer.Restore(ctx, dst, strings.NewReader(stream[:120]), transfer.Options{})
	fmt.Println(err)
	// Output:
	// 1 <nil>
	// [1 2 3] 7 2099-01-02 03:04:05 +0000 UTC
	// transfer: backup line 2: unexpected end of JSON input
}

func ExampleVerify() {
	n, err := transfer.Verify(strings.NewReader(`{"format":"sessionkit-backup","version":1,"created":"2026-12-01T00:00:00Z"}
{"key":"key","blob":"AQID","version":7,"expiry":"2099-01-02T03:04:05Z"}
`))
	fmt.Println(n, err)
	// Output: 1 transfer: backup line 3: stream ends without its end line (truncated)
}

// SecretUsers carries user index entries for an application configured
// with session.WithSecret: pass the same secrets, newest first.
func ExampleSecretUsers() {
	ctx := context.Background()
	src, _ := memstore.New(memstore.Options{})
	dst, _ := memstore.New(memstore.Options{})
	users, err := transfer.SecretUsers([]byte("the application secret, at least 32 bytes long"))
	if err != nil {
		panic(err)
	}
	st, err := transfer.Copy(ctx, dst, src, transfer.Options{Users: users})
	fmt.Println(st.Copied, st.Indexed, err)
	// Output: 0 0 <nil>
}

func ExampleCodecUsers() {
	kr, _ := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: []byte("0123456789abcdef0123456789abcdef")})
	p, _ := codec.New(codec.WithKeyring(kr)) // the keyring given to session.WithKeyring
	opts := transfer.Options{Users: transfer.CodecUsers(p)}
	fmt.Println(opts.Users != nil)
	// Output: true
}
