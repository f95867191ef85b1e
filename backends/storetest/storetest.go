// Package storetest is the conformance suite for implementations of
// backends.Store. A backend runs it from its own tests with one call:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backends.Store {
//			s, err := mystore.New(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the whole contract of backends.Store: compare-and-set on
// versions, expiry (records written with short expiries of a few hundred
// milliseconds must disappear within a few seconds), Touch, Delete, blob
// ownership, binary data and odd keys, context cancellation, operation names
// in errors, and many goroutines racing on one record. Tests of the optional
// capabilities (backends.UserIndex, UserLimiter, Renewer, Iterator, Counter,
// Pinger, Importer) run when the store implements them; the suite logs which
// ones it found. A store that implements UserLimiter must implement UserIndex.
//
// Requirements the suite places on a store beyond the interface documents:
//
//   - Every error except the expected "not found" return value unwraps to a
//     *backends.OpError naming the failed operation: "load", "save",
//     "touch", "delete" or "renew" for those methods, any non-empty name for
//     the others.
//   - An operation called with a context that is already canceled or past
//     its deadline fails with an error matching ctx.Err() (context.Canceled
//     or context.DeadlineExceeded) and does nothing. Checking ctx.Err()
//     before doing any work is the simplest way to get there, and it holds
//     for synchronous in-process stores too: a caller that has given up must
//     not have its write applied behind its back.
//   - The store holds records of at least 1 MiB.
//   - Readings of the contract where its text leaves room: a Touch with an
//     expiry in the past makes the record disappear at once (as a Save with
//     one does); Renew with oldVersion 0 creates newKey when oldKey does not
//     exist, and any other mismatch of oldKey's version (including a
//     deleted oldKey) is a conflict that changes nothing; a user
//     index entry outlives the idle expiry its record had when it was added,
//     as long as Touch keeps the record alive.
//   - Import keeps rec.Expiry to the millisecond: Load returns it exactly
//     when it is a whole number of milliseconds.
//   - Save with an expiry in the past is a delete-if-version: it deletes the
//     record when the stored version is the expected one (0: the key is
//     missing, and nothing happens), and otherwise conflicts and changes
//     nothing. Step-wise renewals rely on it.
//
// The suite never relies on tight timing: it checks that expired records are
// gone eventually and that live records are present well before their expiry.
// It does not call t.Parallel, so a newStore that shares one server between
// stores (with distinct key prefixes, or by emptying a database) works.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

// Run runs the conformance suite against the stores newStore returns.
// newStore is called once per subtest and must return a fresh, empty store
// (clean it up with t.Cleanup). Run also calls it once with its own t to
// discover which optional capabilities the store implements; every store
// newStore returns must implement the same ones.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store) {
	t.Helper()
	probe := newStore(t)
	if probe == nil {
		t.Fatal("storetest: newStore returned nil")
	}
	has := map[string]bool{"": true}
	for _, c := range capabilities {
		has[c.name] = c.implemented(probe)
		if has[c.name] {
			t.Logf("store %T implements backends.%s", probe, c.name)
		} else {
			t.Logf("store %T does not implement backends.%s: its tests do not run", probe, c.name)
		}
	}
	for _, tc := range cases {
		if !has[tc.needs] {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("storetest: newStore returned nil")
			}
			for _, c := range capabilities {
				if has[c.name] != c.implemented(s) {
					t.Fatalf("storetest: newStore returned a %T whose capabilities differ from the first store's (backends.%s)", s, c.name)
				}
			}
			tc.fn(t, s)
		})
	}
}

type capability struct {
	name        string
	implemented func(backends.Store) bool
}

func is[T any](s backends.Store) bool { _, ok := s.(T); return ok }

var capabilities = []capability{
	{"UserIndex", is[backends.UserIndex]},
	{"Renewer", is[backends.Renewer]},
	{"Iterator", is[backends.Iterator]},
	{"Counter", is[backends.Counter]},
	{"Pinger", is[backends.Pinger]},
	{"UserLimiter", is[backends.UserLimiter]},
	{"Importer", is[backends.Importer]},
}

// testCase is one subtest. needs names the optional capability it
// exercises, or is empty for the core contract.
type testCase struct {
	name  string
	needs string
	fn    func(t *testing.T, s backends.Store)
}

// cases is filled by the init functions of core.go and optional.go so that
// each file lists its own subtests next to their code.
var cases []testCase

func register(needs string, list ...testCase) {
	for _, tc := range list {
		tc.needs = needs
		if needs != "" && !strings.HasPrefix(tc.name, needs) {
			tc.name = needs + "/" + tc.name
		}
		cases = append(cases, tc)
	}
}

// Timing of the expiry tests. Short enough to keep the suite fast, long
// enough that a loaded machine does not produce false failures: the suite
// only asserts presence while far from the expiry and absence eventually.
const (
	shortTTL    = 400 * time.Millisecond
	earlyMargin = 200 * time.Millisecond // presence is asserted only this long before expiry
	goneTimeout = 5 * time.Second        // how long an expired record may linger
	pollEvery   = 20 * time.Millisecond
	longTTL     = time.Hour
	// expiryTolerance is how far a returned Expiry may be from the saved
	// one. Stores may keep milliseconds only, or derive it from a TTL.
	expiryTolerance = 50 * time.Millisecond
)

func hour() time.Time { return time.Now().Add(longTTL) }

// day is the absolute deadline the suite gives user index entries.
func day() time.Time { return time.Now().Add(24 * time.Hour) }

// save stores blob and fails the test unless it returns expected+1.
func save(t *testing.T, s backends.Store, key string, blob []byte, expiry time.Time, expected uint64) uint64 {
	t.Helper()
	v, err := s.Save(t.Context(), key, blob, expiry, expected)
	if err != nil {
		t.Fatalf("Save(%q, expected %d): %v", key, expected, err)
	}
	if v != expected+1 {
		t.Fatalf("Save(%q, expected %d) = version %d, want %d", key, expected, v, expected+1)
	}
	return v
}

func load(t *testing.T, s backends.Store, key string) (backends.Record, bool) {
	t.Helper()
	rec, found, err := s.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if !found && (rec.Version != 0 || len(rec.Blob) != 0) {
		t.Errorf("Load(%q) = not found with a non-zero record (version %d, %d bytes)", key, rec.Version, len(rec.Blob))
	}
	return rec, found
}

// mustLoad loads key and fails the test unless it has the given version and
// blob.
func mustLoad(t *testing.T, s backends.Store, key string, version uint64, blob []byte) backends.Record {
	t.Helper()
	rec, found := load(t, s, key)
	if !found {
		t.Fatalf("Load(%q): not found, want version %d", key, version)
	}
	if rec.Version != version {
		t.Errorf("Load(%q).Version = %d, want %d", key, rec.Version, version)
	}
	if string(rec.Blob) != string(blob) {
		t.Errorf("Load(%q).Blob = %s, want %s", key, abbrev(rec.Blob), abbrev(blob))
	}
	if rec.Expiry.IsZero() {
		t.Errorf("Load(%q).Expiry is zero", key)
	}
	return rec
}

func mustMiss(t *testing.T, s backends.Store, key string) {
	t.Helper()
	if rec, found := load(t, s, key); found {
		t.Fatalf("Load(%q) found version %d, want not found", key, rec.Version)
	}
}

// eventuallyGone polls key until it is not found, failing after goneTimeout.
func eventuallyGone(t *testing.T, s backends.Store, key string) {
	t.Helper()
	deadline := time.Now().Add(goneTimeout)
	for {
		if _, found := load(t, s, key); !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load(%q) still finds the record %v after its expiry", key, goneTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// wantErr fails the test unless err matches target and unwraps to a
// *backends.OpError. op is the operation name it must carry, or "" for any
// non-empty name.
func wantErr(t *testing.T, err error, op string, target error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", opName(op), target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("%s: error %q (%T) does not match %v", opName(op), err, err, target)
	}
	wantOpError(t, err, op)
}

func wantOpError(t *testing.T, err error, op string) {
	t.Helper()
	var oe *backends.OpError
	if !errors.As(err, &oe) {
		t.Errorf("%s: error %q (%T) is not a *backends.OpError: it must say which operation failed", opName(op), err, err)
		return
	}
	if oe.Backend == "" {
		t.Errorf("%s: OpError %q has an empty Backend", opName(op), err)
	}
	if op != "" && oe.Op != op {
		t.Errorf("OpError.Op = %q, want %q (error %q)", oe.Op, op, err)
	}
	if op == "" && oe.Op == "" {
		t.Errorf("OpError %q has an empty Op", err)
	}
}

func opName(op string) string {
	if op == "" {
		return "operation"
	}
	return op
}

func closeTo(a, b time.Time, tol time.Duration) bool {
	d := a.Sub(b)
	return d <= tol && d >= -tol
}

func wantExpiry(t *testing.T, key string, got, want time.Time) {
	t.Helper()
	if !closeTo(got, want, expiryTolerance) {
		t.Errorf("Load(%q).Expiry = %v, want %v (±%v)", key, got, want, expiryTolerance)
	}
}

func abbrev(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
}

// canceled returns a context that is already canceled.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
