package admin

import (
	"iter"
	"reflect"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// The handler reports what the stores of the manager's chain tell about
// themselves. It finds them by walking the chain from Manager.Store: the
// primary and the fallback of a fail-over store (degrade.Store), and the
// stores of any store that implements Wrapper. On each store it looks for
// the interfaces below, by type assertion; a store that implements none is
// listed with its name and role only. The interfaces use only standard
// types, so a store implements them without importing this package.
//
// A store met twice (a replication standby that is also the fail-over
// store's fallback) is listed at each place it holds in the chain; the
// second listing refers to the first (same_as) and is neither walked again
// nor counted twice.

// Wrapper is implemented by stores built on other stores (an online
// migration between an old and a new store, replication to standbys), so
// that the handler can walk the whole chain.
type Wrapper interface {
	// WrappedStores yields each store this one is built on with its role
	// in it (for example "old" and "new", or "primary" and "standby"), in
	// a stable order.
	WrappedStores() iter.Seq2[string, backends.Store]
}

// Migration is implemented by a store that migrates sessions online from
// one store to another.
type Migration interface {
	// MigrationPhase returns the current phase of the migration, as the
	// store names it (for example "write-both", "read-new", "new-only").
	// It must not do I/O: the handler calls it on every status request.
	MigrationPhase() string
}

// Replication is implemented by a store that replicates sessions to
// standby stores asynchronously.
type Replication interface {
	// ReplicationLag returns how far the standbys are behind the primary:
	// the age of the oldest write not yet applied to every standby, 0
	// when they are up to date. It must not do I/O.
	ReplicationLag() time.Duration
}

// maxDepth bounds the walk of the chain, in case a wrapper lists itself.
const maxDepth = 8

// node is one store of the chain.
type node struct {
	store  backends.Store
	name   string
	role   string // its role in its parent: "" for the top store
	depth  int    // 0 for the top store
	parent int    // index of its parent node, -1 for the top store
	leaf   bool   // it wraps no store the walk knows of
	same   int    // index of an earlier node of the same store, or -1
}

// walk returns the stores of the chain that starts at top, each before the
// stores it wraps.
func walk(top backends.Store) []node {
	var nodes []node
	var visit func(st backends.Store, role string, depth, parent int)
	visit = func(st backends.Store, role string, depth, parent int) {
		if st == nil {
			return
		}
		i := len(nodes)
		nodes = append(nodes, node{store: st, name: storeName(st), role: role, depth: depth, parent: parent, leaf: true, same: -1})
		for j := range i {
			if sameStore(nodes[j].store, st) {
				nodes[i].same, nodes[i].leaf = j, nodes[j].leaf
				return
			}
		}
		if depth >= maxDepth {
			return
		}
		switch s := st.(type) {
		case *degrade.Store:
			nodes[i].leaf = false
			visit(s.Primary(), "primary", depth+1, i)
			visit(s.Fallback(), "fallback", depth+1, i)
		case Wrapper:
			for r, child := range s.WrappedStores() {
				nodes[i].leaf = false
				visit(child, r, depth+1, i)
			}
		}
	}
	visit(top, "", 0, -1)
	return nodes
}

// sameStore reports whether a and b are the same store: the same pointer.
// Stores of other kinds are never taken for one another (comparing them
// could panic).
func sameStore(a, b backends.Store) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer &&
		va.Type() == vb.Type() && va.Pointer() == vb.Pointer()
}

// storeName names a store as Manager.Health does: the value of its Name
// method if it has one, else the last element of its type's package path.
func storeName(st backends.Store) string {
	if n, ok := st.(interface{ Name() string }); ok {
		if name := n.Name(); name != "" {
			return name
		}
	}
	t := reflect.TypeOf(st)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.PkgPath() == "" {
		return "unknown"
	}
	pkg := t.PkgPath()
	return pkg[strings.LastIndexByte(pkg, '/')+1:]
}
