package codec_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/codec"
)

func Example() {
	p, err := codec.New() // CBOR values, zstd from 512 bytes, no encryption, 1 MiB max
	if err != nil {
		panic(err)
	}
	cart, _ := p.Serializer().Marshal([]string{"sku-1", "sku-2"})
	d := &codec.Data{
		Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Deadline: time.Date(2026, 1, 9, 3, 4, 5, 0, time.UTC),
		UserID:   "alice",
		Values:   map[string][]byte{"cart": cart},
	}
	blob, err := p.Encode(d, nil)
	if err != nil {
		panic(err)
	}
	got, err := p.Decode(blob, nil)
	if err != nil {
		panic(err)
	}
	var items []string
	if err := p.Serializer().Unmarshal(got.Values["cart"], &items); err != nil {
		panic(err)
	}
	fmt.Println(got.UserID, got.Created, items)
	// Output: alice 2026-01-02 03:04:05 +0000 UTC [sku-1 sku-2]
}

func ExampleNewKeyring_rotation() {
	aad := sha256.Sum256([]byte("session-id")) // the manager passes the session ID hash
	key1 := codec.Key{ID: 1, Secret: bytes.Repeat([]byte{1}, 32)}
	key2 := codec.Key{ID: 2, Secret: bytes.Repeat([]byte{2}, 32)}
	d := &codec.Data{Values: map[string][]byte{"theme": []byte(`"dark"`)}}

	// Before rotation: key 1 encrypts.
	kr1, _ := codec.NewKeyring(codec.AESGCM, key1)
	p1, _ := codec.New(codec.WithKeyring(kr1))
	old, _ := p1.Encode(d, aad[:])

	// Rotation: the new key goes first, the old one stays for reading.
	kr2, _ := codec.NewKeyring(codec.AESGCM, key2, key1)
	p2, _ := codec.New(codec.WithKeyring(kr2))
	got, err := p2.Decode(bytes.Clone(old), aad[:])
	fmt.Println("old blob:", string(got.Values["theme"]), err)
	fresh, _ := p2.Encode(d, aad[:])
	fmt.Println("new blob key ID byte:", fresh[4+len("cbor")+4]) // header: see the format

	// Later the old key is retired: its sessions become unreadable (fresh).
	kr3, _ := codec.NewKeyring(codec.AESGCM, key2)
	p3, _ := codec.New(codec.WithKeyring(kr3))
	_, err = p3.Decode(bytes.Clone(old), aad[:])
	fmt.Println(errors.Is(err, codec.ErrUnknownKey), codec.IsCorrupt(err))

	// A blob moved to another session fails authentication.
	other := sha256.Sum256([]byte("another-session"))
	_, err = p2.Decode(fresh, other[:])
	fmt.Println(errors.Is(err, codec.ErrAuthFailed))
	// Output:
	// old blob: "dark" <nil>
	// new blob key ID byte: 2
	// true true
	// true
}

func ExampleDeriveKey() {
	// One application secret (at least 32 random bytes, from configuration)
	// yields independent keys for independent purposes.
	appSecret := []byte("0123456789abcdef0123456789abcdef")
	storeKey, err := codec.DeriveKey(appSecret, "store-encryption")
	if err != nil {
		panic(err)
	}
	cookieKey, _ := codec.DeriveKey(appSecret, "cookie-signing")
	fmt.Println(len(storeKey), bytes.Equal(storeKey, cookieKey))

	kr, err := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: storeKey})
	if err != nil {
		panic(err)
	}
	p, _ := codec.New(codec.WithKeyring(kr))
	blob, _ := p.Encode(&codec.Data{UserID: "bob"}, []byte("sid-hash"))
	d, err := p.Decode(blob, []byte("sid-hash"))
	fmt.Println(d.UserID, err)

	_, err = codec.DeriveKey([]byte("short"), "store-encryption")
	fmt.Println(err)
	// Output:
	// 32 false
	// bob <nil>
	// codec: secret is 5 bytes, need at least 32
}

func ExampleWithCompression() {
	// Sessions that hold secrets next to attacker-influenced values should
	// not be compressed; padding blurs the length of the others.
	kr, _ := codec.NewKeyring(codec.XChaCha20Poly1305, codec.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	p, err := codec.New(codec.WithKeyring(kr), codec.WithCompression(512), codec.WithPadding(256))
	if err != nil {
		panic(err)
	}
	for _, n := range []int{10, 100, 300} {
		blob, _ := p.Encode(&codec.Data{Values: map[string][]byte{"v": make([]byte, n)}}, nil)
		fmt.Println(len(blob))
	}
	// Output:
	// 309
	// 309
	// 565
}

func ExampleCBOR() {
	type line struct {
		SKU   string    `json:"sku"`
		Qty   int       `json:"qty"`
		Added time.Time `json:"added"`
	}
	in := []line{{SKU: "sku-1", Qty: 2, Added: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	b, err := codec.CBOR{}.Marshal(in)
	if err != nil {
		panic(err)
	}
	var out []line // no registration: the type to decode into is enough
	if err := (codec.CBOR{}).Unmarshal(b, &out); err != nil {
		panic(err)
	}
	j, _ := codec.JSON{}.Marshal(in)
	fmt.Println(out[0].SKU, out[0].Qty, out[0].Added.Equal(in[0].Added))
	fmt.Println("cbor", len(b), "bytes, json", len(j), "bytes")
	// Output:
	// sku-1 2 true
	// cbor 44 bytes, json 56 bytes
}

// A session written by a pipeline that used JSON (the default of earlier
// releases) is read by a pipeline that uses CBOR: its values keep their
// meaning, and the next save writes the session in CBOR.
func ExampleConverter() {
	old, _ := codec.New(codec.WithSerializer(codec.JSON{}))
	cart, _ := codec.JSON{}.Marshal([]string{"sku-1", "sku-2"})
	blob, _ := old.Encode(&codec.Data{UserID: "alice", Values: map[string][]byte{"cart": cart}}, nil)

	p, _ := codec.New() // CBOR, a Converter from JSON
	d, err := p.Decode(blob, nil)
	if err != nil {
		panic(err)
	}
	var items []string
	if err := p.Serializer().Unmarshal(d.Values["cart"], &items); err != nil {
		panic(err)
	}
	again, _ := p.Encode(d, nil)
	fmt.Println(d.UserID, items, string(again[4:8]))
	// Output: alice [sku-1 sku-2] cbor
}
