package codec_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

func TestSmoke(t *testing.T) {
	kr, err := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]codec.Option{nil, {codec.WithKeyring(kr)}, {codec.WithCompression(0), codec.WithPadding(64), codec.WithKeyring(kr)}} {
		p, err := codec.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		d := &codec.Data{Created: time.Now(), UserID: "u1", Values: map[string][]byte{"a": []byte(`"x"`), "big": []byte(strings.Repeat("ab", 2000))}}
		b, err := p.Encode(d, []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Decode(b, []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Created.Equal(d.Created) || got.UserID != "u1" || string(got.Values["big"]) != string(d.Values["big"]) {
			t.Fatalf("%+v", got)
		}
		t.Log(len(b))
	}
}
