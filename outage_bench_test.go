package session_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/degrade"
)

// BenchmarkRenewDuringOutage logs one session in again and again while the
// primary is down: every renewal is journaled as a move. The cost per
// renewal must not grow with the number of renewals before it (run with
// -benchtime=1000x and -benchtime=20000x and compare ns/op).
func BenchmarkRenewDuringOutage(b *testing.B) {
	p := newSwitchStore(b)
	p.setDown(true)
	fo, err := degrade.New(p, degrade.WithLogger(quiet), degrade.WithFailureThreshold(1), degrade.WithProbeInterval(time.Hour), degrade.WithJournalLimit(1<<30), degrade.WithJournalBytes(1<<40))
	if err != nil {
		b.Fatal(err)
	}
	defer fo.Close()
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	r := &rig{t: b, m: m}
	var c *http.Cookie
	b.ReportAllocs()
	for b.Loop() {
		resp, next := r.call(c, login("alice"))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		c = next
	}
	b.ReportMetric(float64(fo.Status().Bytes)/float64(b.N), "journal-B/renewal")
}
