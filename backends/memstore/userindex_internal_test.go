package memstore

import (
	"context"
	"testing"
	"time"
)

// indexEntries counts user index entries, dead or alive.
func (s *Store) indexEntries() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, set := range sh.users {
			n += len(set)
		}
		sh.mu.Unlock()
	}
	return n
}

func TestUserKeysDropsDeadEntries(t *testing.T) {
	s, err := New(Options{Shards: 4, JanitorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Save(ctx, k, nil, exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUserKey(ctx, "u", k, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddUserKey(ctx, "u", "never-saved", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := s.indexEntries(); n != 4 {
		t.Fatalf("%d index entries before UserKeys, want 4", n)
	}
	keys, err := s.UserKeys(ctx, "u")
	if err != nil || len(keys) != 2 {
		t.Fatalf("UserKeys = %q, %v; want b and c", keys, err)
	}
	if n := s.indexEntries(); n != 2 {
		t.Errorf("%d index entries after UserKeys, want 2", n)
	}
}

func TestJanitorDropsDeadEntries(t *testing.T) {
	s, err := New(Options{Shards: 4, JanitorInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Save(ctx, "short", nil, time.Now().Add(20*time.Millisecond), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "long", nil, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"short", "long", "never-saved"} {
		if err := s.AddUserKey(ctx, "user-"+k, k, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.indexEntries() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d index entries, want the janitor to leave only the live one", s.indexEntries())
		}
		time.Sleep(5 * time.Millisecond)
	}
	keys, err := s.UserKeys(ctx, "user-long")
	if err != nil || len(keys) != 1 || keys[0] != "long" {
		t.Errorf("UserKeys(user-long) = %q, %v", keys, err)
	}
}
