package changeset

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

func put(k, v string) Op { return Op{Kind: Put, Key: k, Value: []byte(v)} }

func values(d *Data) map[string]string {
	out := map[string]string{}
	for k, v := range d.Values {
		out[k] = string(v)
	}
	return out
}

func TestAddCompacts(t *testing.T) {
	var s Set
	s.Add(put("a", "1"))
	s.Add(put("b", "1"))
	s.Add(put("a", "2"))
	s.Add(Op{Kind: Delete, Key: "b"})
	if len(s.Ops) != 2 || s.Ops[0].Key != "a" || string(s.Ops[0].Value) != "2" || s.Ops[1].Kind != Delete {
		t.Fatalf("ops %+v", s.Ops)
	}
	s.Add(Op{Kind: Clear})
	s.Add(put("c", "1"))
	if len(s.Ops) != 2 || s.Ops[0].Kind != Clear || s.Ops[1].Key != "c" {
		t.Fatalf("after clear: %+v", s.Ops)
	}
}

// Merging two change sets and applying the result equals applying them in
// turn, and applying twice equals applying once (replay is idempotent).
func TestMergeAndApply(t *testing.T) {
	var first, second Set
	first.Add(put("a", "1"))
	first.Add(Op{Kind: Delete, Key: "x"})
	first.SetUser("alice")
	second.Add(put("b", "2"))
	second.Add(Op{Kind: Delete, Key: "a"})
	second.SetLifetime(time.Hour, 48*time.Hour)

	created := time.Unix(1000, 0)
	base := func() *Data {
		return &Data{Created: created, Deadline: created.Add(time.Hour), UserID: "bob", Values: map[string][]byte{"x": []byte("0"), "y": []byte("0")}}
	}
	stepwise := base()
	first.Apply(stepwise)
	second.Apply(stepwise)

	merged := first.Clone()
	merged.Merge(&second)
	once := base()
	merged.Apply(once)
	twice := base()
	merged.Apply(twice)
	merged.Apply(twice)

	want := map[string]string{"y": "0", "b": "2"}
	for name, d := range map[string]*Data{"step-wise": stepwise, "merged": once, "twice": twice} {
		if !maps.Equal(values(d), want) || d.UserID != "alice" || !d.Persistent || d.IdleTimeout != time.Hour ||
			!d.Created.Equal(created) || !d.Deadline.Equal(created.Add(48*time.Hour)) {
			t.Errorf("%s: %+v values %v", name, d, values(d))
		}
	}
	if len(first.Ops) != 2 {
		t.Fatalf("Clone shares ops with the original: %+v", first.Ops)
	}
}

// plain hides the memstore's Renew and user index: Renew then goes step by
// step.
type plain struct{ st *memstore.Store }

func (p plain) Load(ctx context.Context, k string) (backends.Record, bool, error) {
	return p.st.Load(ctx, k)
}
func (p plain) Save(ctx context.Context, k string, b []byte, e time.Time, v uint64) (uint64, error) {
	return p.st.Save(ctx, k, b, e, v)
}
func (p plain) Touch(ctx context.Context, k string, e time.Time) error { return p.st.Touch(ctx, k, e) }
func (p plain) Delete(ctx context.Context, k string) error             { return p.st.Delete(ctx, k) }

func TestStepwiseRenew(t *testing.T) {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	st := plain{ms}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	v, err := st.Save(ctx, "old", []byte("x"), exp, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A write that reached the old record after it was loaded: conflict,
	// and the new key is rolled back.
	if _, err := st.Save(ctx, "old", []byte("y"), exp, v); err != nil {
		t.Fatal(err)
	}
	if err := Renew(ctx, st, "old", v, "new", []byte("x"), exp, "", exp); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale renewal: %v", err)
	}
	if _, found, _ := st.Load(ctx, "new"); found {
		t.Fatal("the new key survived a failed renewal")
	}
	// A deleted old record (a logout): conflict, nothing revived.
	if err := st.Delete(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if err := Renew(ctx, st, "old", v+1, "new", []byte("x"), exp, "", exp); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("renewal of a deleted record: %v", err)
	}
	if _, found, _ := st.Load(ctx, "new"); found {
		t.Fatal("a renewal revived a deleted session")
	}
	// The normal case.
	v, _ = st.Save(ctx, "old", []byte("z"), exp, 0)
	if err := Renew(ctx, st, "old", v, "new", []byte("z"), exp, "", exp); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := st.Load(ctx, "old"); found {
		t.Fatal("the old record survived the renewal")
	}
	if rec, found, _ := st.Load(ctx, "new"); !found || string(rec.Blob) != "z" {
		t.Fatalf("new record: %v %q", found, rec.Blob)
	}
}
