package benchmarks

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	Calls int64
	Usec  int64
}

// parseCommandStats parses the text of INFO commandstats into calls and
// microseconds per command (lower case; subcommands as "client|setinfo").
func parseCommandStats(info string) (map[string]cmdStat, error) {
	m := make(map[string]cmdStat)
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st cmdStat
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &st.Calls
			case "usec":
				dst = &st.Usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats line %q: %w", line, err)
			}
			*dst = n
		}
		m[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return m, nil
}

// ownCommands are the commands the measurement itself sends.
var ownCommands = map[string]bool{"info": true, "slowlog": true, "config": true,
	"config|set": true, "config|get": true, "slowlog|get": true, "slowlog|reset": true}

// commandStats reads INFO commandstats.
func commandStats(ctx context.Context, c *redis.Client) (map[string]cmdStat, error) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	return parseCommandStats(info)
}

// serverCounters are running totals of the server, from INFO.
type serverCounters struct {
	cpu         time.Duration // user + system CPU time
	connections int64         // connections accepted
}

// readCounters reads the server's CPU time and connection count.
func readCounters(ctx context.Context, c *redis.Client) (serverCounters, error) {
	info, err := c.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		return serverCounters{}, fmt.Errorf("INFO cpu stats: %w", err)
	}
	var sc serverCounters
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return serverCounters{}, fmt.Errorf("INFO line %q: %w", line, err)
			}
			sc.cpu += time.Duration(f * float64(time.Second))
		case "total_connections_received":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return serverCounters{}, fmt.Errorf("INFO line %q: %w", line, err)
			}
			sc.connections = n
		}
	}
	return sc, nil
}

// redisUsage is what the server did for one kind of request, per request.
type redisUsage struct {
	Requests int `json:"requests"`
	// Sent are the commands the library sent (a script counts as one; the
	// commands of a MULTI/EXEC transaction count each, and EXEC too).
	Sent map[string]float64 `json:"sent"`
	// Nested are the commands scripts ran.
	Nested map[string]float64 `json:"nested"`
	// UsecPerCall is INFO commandstats' time per call of every command
	// (a script's time includes the commands it ran).
	UsecPerCall map[string]float64 `json:"usecPerCall"`
	// ServerUsec is the server's time per request: the execution time of
	// the commands the library sent (SLOWLOG durations; a script's time
	// includes the commands it ran).
	ServerUsec float64 `json:"serverUsec"`
}

// measureUsage serves req n times through h and reports, from the deltas of
// INFO commandstats and from SLOWLOG (every command logged for the
// duration), the commands the server ran per request and its time. The
// slow log tells the commands a script ran (logged for the Lua client)
// from those a client sent; it is restored to its previous settings.
func measureUsage(ctx context.Context, c *redis.Client, h http.Handler, req *http.Request, n int) (redisUsage, error) {
	return measureUsageOf(ctx, c, h, func(int) *http.Request { return req }, n)
}

// measureUsageOf is measureUsage of the n requests req(0) ... req(n-1), for
// requests that cannot be repeated (a login renews the session's ID).
func measureUsageOf(ctx context.Context, c *redis.Client, h http.Handler, req func(i int) *http.Request, n int) (redisUsage, error) {
	prev, err := c.ConfigGet(ctx, "slowlog-*").Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("CONFIG GET slowlog-*: %w", err)
	}
	for k, v := range map[string]string{"slowlog-max-len": strconv.Itoa(n*20 + 1000), "slowlog-log-slower-than": "0"} {
		if err := c.ConfigSet(ctx, k, v).Err(); err != nil {
			return redisUsage{}, fmt.Errorf("CONFIG SET %s: %w", k, err)
		}
	}
	defer func() {
		for _, k := range []string{"slowlog-log-slower-than", "slowlog-max-len"} {
			if v, ok := prev[k]; ok {
				_ = c.ConfigSet(context.WithoutCancel(ctx), k, v).Err()
			}
		}
	}()
	if err := c.SlowLogReset(ctx).Err(); err != nil {
		return redisUsage{}, fmt.Errorf("SLOWLOG RESET: %w", err)
	}
	before, err := commandStats(ctx, c)
	if err != nil {
		return redisUsage{}, err
	}
	for i := range n {
		r := req(i)
		rec := httptest.NewRecorder()
		serve(h, rec, r)
		if rec.Code != http.StatusOK {
			return redisUsage{}, fmt.Errorf("%s %s: status %d: %s", r.Method, r.URL.Path, rec.Code, rec.Body)
		}
	}
	after, err := commandStats(ctx, c)
	if err != nil {
		return redisUsage{}, err
	}
	entries, err := c.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("SLOWLOG GET: %w", err)
	}
	return usageFrom(before, after, entries, n), nil
}

// usageFrom computes a redisUsage of n requests from two commandstats
// snapshots and the slow log of the requests.
func usageFrom(before, after map[string]cmdStat, entries []redis.SlowLog, n int) redisUsage {
	u := redisUsage{Requests: n, Sent: map[string]float64{}, Nested: map[string]float64{}, UsecPerCall: map[string]float64{}}
	for name, a := range after {
		d := cmdStat{Calls: a.Calls - before[name].Calls, Usec: a.Usec - before[name].Usec}
		if d.Calls == 0 || ownCommands[name] {
			continue
		}
		u.UsecPerCall[name] = float64(d.Usec) / float64(d.Calls)
		if name == "exec" {
			// EXEC is not logged in the slow log; its commands are.
			u.Sent[name] = float64(d.Calls) / float64(n)
		}
	}
	var usec float64
	for _, e := range entries {
		if len(e.Args) == 0 {
			continue
		}
		name := slowlogName(e.Args, after)
		if ownCommands[name] || ownCommands[strings.ToLower(e.Args[0])] {
			continue
		}
		if isScriptClient(e.ClientAddr) {
			u.Nested[name] += 1 / float64(n)
			continue
		}
		u.Sent[name] += 1 / float64(n)
		usec += float64(e.Duration.Microseconds())
	}
	u.ServerUsec = usec / float64(n)
	return u
}

// slowlogName returns the commandstats name of a logged command: its
// lower-case name, with the subcommand when commandstats knows it so.
func slowlogName(args []string, known map[string]cmdStat) string {
	name := strings.ToLower(args[0])
	if len(args) > 1 {
		if sub := name + "|" + strings.ToLower(args[1]); known[sub] != (cmdStat{}) {
			return sub
		}
	}
	return name
}

// isScriptClient reports whether a slow log client address is the Lua
// client's (commands a script ran), which has no network address.
func isScriptClient(addr string) bool {
	host, port, ok := strings.Cut(addr, ":")
	return !ok || host == "?" || port == "0"
}

// connectionSetup are the commands a client sends when it opens a
// connection, not for a request.
var connectionSetup = map[string]bool{"hello": true, "auth": true, "select": true, "readonly": true,
	"client|setinfo": true, "client|setname": true, "client|tracking": true, "client|id": true}

// roundTrips is the number of commands the library sent per request,
// leaving out those that open a connection. The session stores send every
// command in a round trip of its own on one server (their only pipeline,
// the fresh read, holds one command), so for them it is the number of
// round trips per request.
func (u redisUsage) roundTrips() float64 {
	var n float64
	for k, v := range u.Sent {
		if !connectionSetup[k] {
			n += v
		}
	}
	return n
}

// formatCommands writes per-request command counts as "evalsha 1, get 1",
// by name.
func formatCommands(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, strings.ToUpper(k)+" "+trimFloat(m[k]))
	}
	return strings.Join(parts, ", ")
}

func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// storedBytes is what one session takes in Redis.
type storedBytes struct {
	// Types are the Redis types of the keys the session took.
	Types []string `json:"types"`
	// Value is the bytes of the values (a string's length; a hash's fields
	// and values).
	Value int64 `json:"value"`
	// Memory is MEMORY USAGE (SAMPLES 0) summed over the keys: value,
	// key and Redis's overhead.
	Memory int64 `json:"memory"`
}

// allKeys returns every key in the database (a test server: SCAN is fine).
func allKeys(ctx context.Context, c *redis.Client) (map[string]bool, error) {
	keys := map[string]bool{}
	var cursor uint64
	for range 100000 {
		ks, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("SCAN: %w", err)
		}
		for _, k := range ks {
			keys[k] = true
		}
		if cursor = next; cursor == 0 {
			return keys, nil
		}
	}
	return nil, fmt.Errorf("SCAN did not finish")
}

// measureStored seeds one session through h with the seed request and
// reports the keys it created and their size.
func measureStored(ctx context.Context, c *redis.Client, h http.Handler, seedPath string) (storedBytes, error) {
	before, err := allKeys(ctx, c)
	if err != nil {
		return storedBytes{}, err
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", seedPath, nil))
	if rec.Code != http.StatusOK {
		return storedBytes{}, fmt.Errorf("%s: status %d: %s", seedPath, rec.Code, rec.Body)
	}
	after, err := allKeys(ctx, c)
	if err != nil {
		return storedBytes{}, err
	}
	var sb storedBytes
	for k := range after {
		if before[k] {
			continue
		}
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			return storedBytes{}, fmt.Errorf("TYPE: %w", err)
		}
		sb.Types = append(sb.Types, typ)
		switch typ {
		case "string":
			n, err := c.StrLen(ctx, k).Result()
			if err != nil {
				return storedBytes{}, fmt.Errorf("STRLEN: %w", err)
			}
			sb.Value += n
		case "hash":
			h, err := c.HGetAll(ctx, k).Result()
			if err != nil {
				return storedBytes{}, fmt.Errorf("HGETALL: %w", err)
			}
			for f, v := range h {
				sb.Value += int64(len(f) + len(v))
			}
		default:
			return storedBytes{}, fmt.Errorf("key of type %s: measure it here first", typ)
		}
		m, err := c.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return storedBytes{}, fmt.Errorf("MEMORY USAGE: %w", err)
		}
		sb.Memory += m
	}
	if len(sb.Types) == 0 {
		return storedBytes{}, fmt.Errorf("%s created no key", seedPath)
	}
	slices.Sort(sb.Types)
	return sb, nil
}
