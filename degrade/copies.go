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
	gen   uint64 // counts drops
	m     map[string]*list.Element
	lru   list.List // of *copyEntry, most recent first
}

// copyEntry is a copy, or the mark that key's copy was dropped at
// generation dropped (rec is then empty): a read of the primary that began
// before the drop must not put back what it read.
type copyEntry struct {
	key     string
	rec     backends.Record
	dropped uint64
}

func newCopies(max int64) *copies {
	return &copies{max: max, m: make(map[string]*list.Element)}
}

func copySize(key string, rec backends.Record) int64 { return int64(96 + len(key) + len(rec.Blob)) }

// generation returns the current generation: pass it to put, taken
// before the primary is asked.
func (c *copies) generation() uint64 {
	if c == nil || c.max == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put records rec as the primary's record of key, read or written after
// generation since, unless a copy of a later version is known or the key
// was dropped after since.
func (c *copies) put(key string, rec backends.Record, since uint64) {
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
		if ce.dropped > since || ce.rec.Version > rec.Version {
			return
		}
		c.bytes += size - copySize(key, ce.rec)
		ce.rec, ce.dropped = rec, 0
		c.lru.MoveToFront(el)
	} else {
		c.m[key] = c.lru.PushFront(&copyEntry{key: key, rec: rec})
		c.bytes += size
	}
	c.evict()
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
	if ce.rec.Version == 0 || !now.Before(ce.rec.Expiry) {
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

// vouches reports whether the copy of key is at version: the record was
// alive at that version as far as this store knows.
func (c *copies) vouches(key string, version uint64) bool {
	if c == nil || c.max == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	return ok && el.Value.(*copyEntry).rec.Version == version
}

// drop forgets the copies of keys, leaving a mark that keeps reads of the
// primary begun before from putting them back.
func (c *copies) drop(keys ...string) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, key := range keys {
		mark := backends.Record{}
		if el, ok := c.m[key]; ok {
			ce := el.Value.(*copyEntry)
			c.bytes += copySize(key, mark) - copySize(key, ce.rec)
			ce.rec, ce.dropped = mark, c.gen
			c.lru.MoveToFront(el)
			continue
		}
		c.m[key] = c.lru.PushFront(&copyEntry{key: key, dropped: c.gen})
		c.bytes += copySize(key, mark)
	}
	c.evict()
}

// evict drops the least recently used entries beyond the bound. Callers
// hold c.mu.
func (c *copies) evict() {
	for c.bytes > c.max {
		el := c.lru.Back()
		ce := el.Value.(*copyEntry)
		c.lru.Remove(el)
		delete(c.m, ce.key)
		c.bytes -= copySize(ce.key, ce.rec)
	}
}
