package degrade

import (
	"container/list"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
)

// copies keeps the last known copy of the records this store read from or
// wrote to the primary, bounded in bytes with least-recently-used eviction,
// so that during an outage a session this process has seen keeps its data
// and its user instead of being served empty. A copy is dropped whenever
// this store learns that it may be stale: the primary deleted, renewed
// away or could not find the key, or the journal replayed onto it.
type copies struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	m     map[string]*list.Element
	lru   list.List // of *copyEntry, most recent first
}

type copyEntry struct {
	key string
	rec backends.Record
}

func newCopies(max int64) *copies {
	return &copies{max: max, m: make(map[string]*list.Element)}
}

func copySize(key string, rec backends.Record) int64 { return int64(96 + len(key) + len(rec.Blob)) }

// put records rec as the primary's record of key, unless a copy of a later
// version is known.
func (c *copies) put(key string, rec backends.Record) {
	if c == nil || c.max == 0 {
		return
	}
	size := copySize(key, rec)
	if size > c.max/4 {
		return
	}
	rec.Blob = append([]byte(nil), rec.Blob...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		ce := el.Value.(*copyEntry)
		if ce.rec.Version > rec.Version {
			return
		}
		c.bytes += size - copySize(key, ce.rec)
		ce.rec = rec
		c.lru.MoveToFront(el)
	} else {
		c.m[key] = c.lru.PushFront(&copyEntry{key: key, rec: rec})
		c.bytes += size
	}
	for c.bytes > c.max {
		el := c.lru.Back()
		ce := el.Value.(*copyEntry)
		c.lru.Remove(el)
		delete(c.m, ce.key)
		c.bytes -= copySize(ce.key, ce.rec)
	}
}

// get returns the copy of key, if one is known and not expired at now.
func (c *copies) get(key string, now time.Time) (backends.Record, bool) {
	if c == nil || c.max == 0 {
		return backends.Record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return backends.Record{}, false
	}
	ce := el.Value.(*copyEntry)
	if !now.Before(ce.rec.Expiry) {
		c.lru.Remove(el)
		delete(c.m, key)
		c.bytes -= copySize(key, ce.rec)
		return backends.Record{}, false
	}
	c.lru.MoveToFront(el)
	rec := ce.rec
	rec.Blob = append([]byte(nil), rec.Blob...)
	return rec, true
}

// touch moves the expiry of key's copy to expiry.
func (c *copies) touch(key string, expiry time.Time) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		el.Value.(*copyEntry).rec.Expiry = expiry
	}
}

// drop forgets the copies of keys.
func (c *copies) drop(keys ...string) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, key := range keys {
		if el, ok := c.m[key]; ok {
			ce := el.Value.(*copyEntry)
			c.lru.Remove(el)
			delete(c.m, key)
			c.bytes -= copySize(key, ce.rec)
		}
	}
}
