package cookies_test

import (
	"strings"
	"testing"
	"time"
)

func BenchmarkSign(b *testing.B) {
	s := mustSigner(b, time.Hour, keyA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign("session", testID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := mustSigner(b, time.Hour, keyA, keyB)
	valid := mustSign(b, s, "session", testID)
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"valid", valid, true},
		{"valid/old-key", forge(keyB, "session", testID, now()), true},
		{"tampered", forge(keyC, "session", testID, now()), false},
		{"malformed", valid[:len(valid)-1], false},
		{"oversized", strings.Repeat("A", 5000), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify("session", c.value); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
