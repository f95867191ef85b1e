package benchmarks

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseCommandStats(t *testing.T) {
	m, err := parseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=4,usec=60,usec_per_call=15.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=2,usec=3,usec_per_call=1.50\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if m["evalsha"] != (cmdStat{4, 60}) || m["client|setinfo"] != (cmdStat{2, 3}) || len(m) != 2 {
		t.Fatalf("%v", m)
	}
	if _, err := parseCommandStats("cmdstat_get:calls=x,usec=1"); err == nil {
		t.Fatal("bad count parsed")
	}
}

// usageFrom splits what scripts ran from what clients sent, counts EXEC
// from commandstats, leaves out the measurement's own commands, and sums
// the sent commands' time.
func TestUsageFrom(t *testing.T) {
	before := map[string]cmdStat{"evalsha": {10, 100}, "info": {1, 5}}
	after := map[string]cmdStat{
		"evalsha": {14, 180}, "hmget": {4, 8}, "info": {2, 10},
		"multi": {2, 2}, "set": {2, 4}, "exec": {2, 12}, "client|setinfo": {2, 2},
	}
	const client, lua = "127.0.0.1:50000", "?:0"
	var log []redis.SlowLog
	add := func(addr string, us int, args ...string) {
		log = append(log, redis.SlowLog{Args: args, ClientAddr: addr, Duration: time.Duration(us) * time.Microsecond})
	}
	for range 4 {
		add(client, 20, "evalsha", "abc", "1", "k")
		add(lua, 2, "HMGET", "k", "v", "d")
	}
	for range 2 {
		add(client, 1, "MULTI")
		add(client, 2, "SET", "k", "v")
		add(client, 1, "CLIENT", "SETINFO", "LIB-NAME", "x")
	}
	add(client, 30, "INFO", "commandstats")
	add(client, 30, "slowlog", "get")
	u := usageFrom(before, after, log, 2)
	want := map[string]float64{"evalsha": 2, "multi": 1, "set": 1, "exec": 1, "client|setinfo": 1}
	if len(u.Sent) != len(want) {
		t.Fatalf("sent %v, want %v", u.Sent, want)
	}
	for k, v := range want {
		if u.Sent[k] != v {
			t.Fatalf("sent %v, want %v", u.Sent, want)
		}
	}
	if len(u.Nested) != 1 || u.Nested["hmget"] != 2 {
		t.Fatalf("nested %v", u.Nested)
	}
	if u.ServerUsec != (4*20+2*(1+2+1))/2 {
		t.Fatalf("server time %v", u.ServerUsec)
	}
	if u.UsecPerCall["evalsha"] != 20 || u.UsecPerCall["exec"] != 6 {
		t.Fatalf("per call %v", u.UsecPerCall)
	}
	if _, ok := u.UsecPerCall["info"]; ok {
		t.Fatal("INFO counted")
	}
}
