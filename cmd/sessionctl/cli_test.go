package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/internal/redistest"
)

// Every command answers --help with a usage line and an example, and exits
// with 0.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{}, {"ping"}, {"stats"}, {"ls"}, {"revoke"}, {"backup"}, {"restore"}, {"copy"},
		{"migrate"}, {"migrate", "status"}, {"migrate", "set"},
	} {
		r := ok(t, nil, nil, append(args, "--help")...)
		for _, want := range []string{"Usage:", "Examples:", "--store", "--json"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("sessionctl %v --help lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
	r := ok(t, nil, nil, "--help")
	if !strings.Contains(r.stdout, "Exit codes:") {
		t.Errorf("sessionctl --help does not document the exit codes:\n%s", r.stdout)
	}
	for _, cmd := range []string{"ls", "revoke"} {
		if r := ok(t, nil, nil, cmd, "--help"); !strings.Contains(r.stdout, "SESSION_SECRET") {
			t.Errorf("sessionctl %s --help does not say it needs the secret", cmd)
		}
	}
}

// Usage errors exit with 2, an unreachable store with 3; --json turns the
// error into a JSON object.
func TestExitCodes(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/0"
	srv := redistest.StartServer(t)
	live := []string{"SESSION_STORE_URL=" + storeURL(srv)}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"no store", nil, []string{"ping"}, 2, "no store"},
		{"unknown scheme", nil, []string{"ping", "--store", "ftp://x"}, 2, "unknown store scheme"},
		{"bad option", nil, []string{"ping", "--store", "memory://?bogus=1"}, 2, "bogus"},
		{"unknown command", nil, []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", live, []string{"ping", "--frob"}, 2, "unknown flag"},
		{"extra argument", live, []string{"ping", "extra"}, 2, "unknown command"},
		{"ls without user", live, []string{"ls"}, 2, "--user"},
		{"ls without secret", live, []string{"ls", "--user", "alice"}, 2, "SESSION_SECRET"},
		{"short secret", append(live, "SESSION_SECRET=short"), []string{"ls", "--user", "alice"}, 2, "at least 32"},
		{"copy without --to", live, []string{"copy"}, 2, "--to"},
		{"copy modes", live, []string{"copy", "--to", "memory://", "--skip-existing", "--overwrite"}, 2, "exclude"},
		{"migrate alone", live, []string{"migrate"}, 2, "status or set"},
		{"migrate what", live, []string{"migrate", "sideways"}, 2, "unknown command"},
		{"bad phase", live, []string{"migrate", "set", "sideways"}, 2, "unknown phase"},
		{"partial new-only", live, []string{"migrate", "set", "new-only", "--rollout", "50"}, 2, "new-only"},
		{"bad cursor", live, []string{"copy", "--to", "memory://", "--cursor", "somewhere"}, 2, "invalid cursor"},
		{"unreachable", nil, []string{"ping", "--store", dead, "--timeout", "1s"}, 3, "does not answer"},
		// A refused connection is reported with its cause, not as a
		// deadline that passed while the client retried its dials.
		{"refused", nil, []string{"ping", "--store", dead, "--timeout", "1h"}, 3, "connection refused"},
		{"no socket", nil, []string{"ping", "--store", "unix://" + filepath.Join(t.TempDir(), "redis.sock"), "--timeout", "1h"}, 3, "no such file"},
		{"unreachable destination", live, []string{"copy", "--to", dead, "--timeout", "1s"}, 3, "--to"},
		{"missing backup", live, []string{"restore", filepath.Join(t.TempDir(), "nothing.jsonl")}, 2, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sessionctl(t, c.env, nil, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, c.code, c.msg)
			}
			r = sessionctl(t, c.env, nil, append(c.args, "--json")...)
			var out struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if c.name == "unknown flag" || c.name == "unknown command" {
				return // refused before --json was read
			}
			decode(t, r.stdout, &out)
			if out.ExitCode != c.code || out.Error == "" {
				t.Errorf("--json: %+v, want exit_code %d", out, c.code)
			}
		})
	}
}

func TestPing(t *testing.T) {
	srv := redistest.StartServer(t)
	r := ok(t, nil, nil, "ping", "--store", storeURL(srv))
	for _, want := range []string{"store:    redis", "version:  Redis ", "latency:  min "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ping output lacks %q:\n%s", want, r.stdout)
		}
	}
	var res pingResult
	decode(t, ok(t, []string{"SESSION_STORE_URL=" + storeURL(srv)}, nil, "ping", "--json", "--count", "2").stdout, &res)
	if res.Kind != "redis" || !strings.HasPrefix(res.Version, "Redis ") || res.Pings != 2 || res.MaxMS < res.MinMS {
		t.Errorf("ping --json: %+v", res)
	}
}

// stats counts the sessions the application wrote, with and without the
// secret.
func TestStats(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newShop(t, srv)
	for range 3 {
		s.login(t, "alice", "")
	}
	s.login(t, "bob", "")
	s.login(t, "bob", "")
	s.do(t, "POST", "/cart", nil) // an anonymous session
	env := []string{"SESSION_STORE_URL=" + s.url}

	var res statsResult
	decode(t, ok(t, env, nil, "stats", "--json").stdout, &res)
	if res.Sessions != 6 || res.BlobBytes == 0 || res.Users != nil || res.TopUsers != nil {
		t.Errorf("stats without the secret: %+v", res)
	}
	if res.Memory == nil || res.Memory.Samples != 6 || res.Memory.EstimateBytes < res.BlobBytes {
		t.Errorf("stats: MEMORY USAGE samples %+v", res.Memory)
	}
	var inHist int64
	for _, b := range res.Expiry {
		inHist += b.Count
	}
	if inHist != 6 || res.Expiry[2].Count != 6 { // idle timeout 2h: all in 1h – 6h
		t.Errorf("expiry histogram %+v", res.Expiry)
	}

	res = statsResult{}
	decode(t, ok(t, append(env, "SESSION_SECRET="+testSecret), nil, "stats", "--json", "--top", "1").stdout, &res)
	if res.Users == nil || *res.Users != 2 || *res.Anonymous != 1 || *res.Undecodable != 0 {
		t.Fatalf("stats with the secret: %+v", res)
	}
	if len(res.TopUsers) != 1 || res.TopUsers[0] != (userCount{User: "alice", Sessions: 3}) {
		t.Errorf("top users %+v", res.TopUsers)
	}
	text := ok(t, append(env, "SESSION_SECRET="+testSecret), nil, "stats").stdout
	for _, want := range []string{"sessions:      6", "redis memory:", "users:         2 (anonymous sessions: 1)", "       3  alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("stats output lacks %q:\n%s", want, text)
		}
	}
	// The wrong secret opens nothing: counted, not guessed.
	res = statsResult{}
	decode(t, ok(t, append(env, "SESSION_SECRET=another secret of at least thirty-two bytes"), nil, "stats", "--json").stdout, &res)
	if *res.Undecodable != 6 || *res.Users != 0 {
		t.Errorf("stats with a wrong secret: %+v", res)
	}
}

// ls lists a user's sessions by audit name, never by ID or key; revoke
// ends them, all but one, or one by name, and the application sees it.
func TestLsAndRevoke(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newShop(t, srv)
	laptop := s.login(t, "alice", "laptop")
	phone := s.login(t, "alice", "phone")
	tablet := s.login(t, "alice", "tablet")
	bob := s.login(t, "bob", "")
	env := []string{"SESSION_STORE_URL=" + s.url, "SESSION_SECRET=" + testSecret}

	r := ok(t, env, nil, "ls", "--user", "alice", "--json", "--idle-timeout", "2h")
	var list []sessionJSON
	decode(t, r.stdout, &list)
	if len(list) != 3 {
		t.Fatalf("ls: %d sessions, want 3: %s", len(list), r.stdout)
	}
	names := map[string]string{} // device → name
	for _, in := range list {
		if len(in.Name) != 12 || in.Expires.Before(in.LastSeen) || in.LastSeen.Before(in.Created) {
			t.Errorf("ls entry %+v", in)
		}
		names[in.Device] = in.Name
	}
	if len(names) != 3 || names["laptop"] == "" || names["phone"] == "" || names["tablet"] == "" {
		t.Fatalf("devices: %v", names)
	}
	// The secret from a file (with its final line break) instead.
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := ok(t, env[:1], nil, "ls", "--user", "alice", "--secret-file", secretFile).stdout
	for _, secret := range append(s.userKeys(t, "alice"), laptop[0].Value, phone[0].Value, tablet[0].Value) {
		if strings.Contains(r.stdout+text, secret) {
			t.Fatalf("ls prints a session key or cookie value %q", secret)
		}
	}
	if !strings.Contains(text, "NAME") || !strings.Contains(text, names["phone"]) || !strings.Contains(text, "phone") {
		t.Errorf("ls table:\n%s", text)
	}

	// Log alice out everywhere but on the laptop.
	var rev revokeResult
	r = ok(t, env, nil, "revoke", "--user", "alice", "--except", names["laptop"], "--operator", "oncall:carol", "--json")
	decode(t, r.stdout, &rev)
	if rev.Revoked != 2 || rev.Kept != names["laptop"] || rev.Operator != "oncall:carol" {
		t.Errorf("revoke --except: %+v", rev)
	}
	if !strings.Contains(r.stderr, "event=user_revoked") || !strings.Contains(r.stderr, "operator=oncall:carol") {
		t.Errorf("no audit record on stderr: %s", r.stderr)
	}
	if got := []string{s.whoami(t, laptop), s.whoami(t, phone), s.whoami(t, tablet), s.whoami(t, bob)}; !slices.Equal(got, []string{"alice", "", "", "bob"}) {
		t.Errorf("after revoke --except, users are %q", got)
	}
	if n := len(s.userKeys(t, "alice")); n != 1 {
		t.Errorf("alice's index holds %d sessions, want 1", n)
	}

	// A mistyped --except revokes nothing.
	r = sessionctl(t, env, nil, "revoke", "--user", "bob", "--except", "nosuchname00")
	if r.code != 1 || s.whoami(t, bob) != "bob" {
		t.Errorf("revoke with an unknown --except: exit %d, bob %q", r.code, s.whoami(t, bob))
	}

	// One session by name, found by scanning the store.
	r = ok(t, env, nil, "revoke", names["laptop"])
	if !strings.Contains(r.stdout, "revoked session "+names["laptop"]+" of alice") || s.whoami(t, laptop) != "" {
		t.Errorf("revoke NAME: %s; laptop is %q", r.stdout, s.whoami(t, laptop))
	}
	if r := sessionctl(t, env, nil, "revoke", names["laptop"]); r.code != 1 || !strings.Contains(r.stderr, "no live session") {
		t.Errorf("revoking a revoked session: exit %d %s", r.code, r.stderr)
	}
	if r := ok(t, env, nil, "ls", "--user", "alice"); !strings.Contains(r.stdout, "alice has no live sessions") {
		t.Errorf("ls after revoking all: %s", r.stdout)
	}
	if r := ok(t, env, nil, "revoke", "--user", "bob", "--json"); !strings.Contains(r.stdout, `"revoked": 1`) || s.whoami(t, bob) != "" {
		t.Errorf("revoke --user bob: %s", r.stdout)
	}
}

// migrate set publishes into the control record the migrate package
// reads, one phase at a time.
func TestMigrate(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newShop(t, srv)
	env := []string{"SESSION_STORE_URL=" + s.url}
	if r := ok(t, env, nil, "migrate", "status"); !strings.Contains(r.stdout, "no control record") {
		t.Errorf("status without a record: %s", r.stdout)
	}
	ok(t, env, nil, "migrate", "set", "write-both")
	r := sessionctl(t, env, nil, "migrate", "set", "new-only")
	if r.code != 1 || !strings.Contains(r.stderr, "skips a phase") {
		t.Errorf("skipping a phase: exit %d %s", r.code, r.stderr)
	}
	r = ok(t, env, nil, "migrate", "set", "read-new", "--rollout", "25", "--json")
	var res migrateJSON
	decode(t, r.stdout, &res)
	if res.State != "read-new 25%" || res.Previous == nil || res.Previous.State != "write-both" {
		t.Errorf("set --json: %+v", res)
	}
	st, _, err := migrate.ReadControl(t.Context(), s.store, migrate.DefaultControlKey)
	if err != nil || st != (migrate.State{Phase: migrate.ReadNew, Rollout: 25}) {
		t.Errorf("control record holds %v, %v", st, err)
	}
	res = migrateJSON{}
	decode(t, ok(t, env, nil, "migrate", "status", "--json").stdout, &res)
	if res.Phase != migrate.ReadNew || res.Rollout != 25 || !res.Record {
		t.Errorf("status --json: %+v", res)
	}
	ok(t, env, nil, "migrate", "set", "old-only", "--force")
	if r := ok(t, env, nil, "migrate", "status"); !strings.Contains(r.stdout, "phase:    old-only") {
		t.Errorf("status after the rollback: %s", r.stdout)
	}
}

// A backup that is cut short changes nothing when restored; restore's
// modes decide what happens to sessions the store holds.
func TestRestoreModesAndCorruptBackups(t *testing.T) {
	a := newShop(t, redistest.StartServer(t))
	b := newShop(t, redistest.StartServer(t))
	alice := a.login(t, "alice", "laptop")
	a.login(t, "bob", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "sessions.jsonl")
	envA := []string{"SESSION_STORE_URL=" + a.url, "SESSION_SECRET=" + testSecret}
	envB := []string{"SESSION_STORE_URL=" + b.url, "SESSION_SECRET=" + testSecret}
	ok(t, envA, nil, "backup", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := transfer.Verify(strings.NewReader(string(data))); n != 2 || err != nil {
		t.Fatalf("backup holds %d records, %v", n, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	cut := filepath.Join(dir, "cut.jsonl")
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(cut, []byte(strings.Join(lines[:2], "")), 0o600)
	if r := sessionctl(t, envB, nil, "restore", cut); r.code != 1 || !strings.Contains(r.stderr, "truncated") || b.count(t) != 0 {
		t.Errorf("restore of a cut backup: exit %d %s; store holds %d", r.code, r.stderr, b.count(t))
	}

	// A backup to stdout, restored from stdin into B; then the
	// application uses the session there.
	r := ok(t, envA, nil, "backup", "-", "--json")
	if !strings.HasPrefix(r.stdout, `{"format":"sessionkit-backup"`) || !strings.Contains(r.stderr, `"copied": 2`) {
		t.Fatalf("backup -: the stream on stdout, the summary on stderr; got\n%s\n%s", r.stdout, r.stderr)
	}
	data = []byte(r.stdout)
	var res statsJSON
	decode(t, ok(t, envB, data, "restore", "-", "--json").stdout, &res)
	if res.Copied != 2 || res.Indexed != 2 || b.count(t) != 2 || len(b.userKeys(t, "alice")) != 1 {
		t.Fatalf("restore: %+v; B holds %d", res, b.count(t))
	}
	if got := b.whoami(t, alice); got != "alice" {
		t.Errorf("restored session serves %q", got)
	}
	// The application writes alice's session in A again: a later version.
	a.do(t, "POST", "/cart", alice)
	ok(t, envA, nil, "backup", file)
	b.do(t, "POST", "/cart", alice) // B's copy moves on too, to the same version
	b.do(t, "POST", "/cart", alice) // and beyond
	for _, c := range []struct {
		flag   string
		copied int64
	}{{"--skip-existing", 0}, {"", 0}, {"--overwrite", 2}} {
		args := []string{"restore", file, "--json"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		res = statsJSON{}
		decode(t, ok(t, envB, nil, args...).stdout, &res)
		if res.Copied != c.copied || res.Copied+res.Skipped != 2 {
			t.Errorf("restore %s: %+v, want %d copied", c.flag, res.Stats, c.copied)
		}
	}
	if got := b.whoami(t, alice); got != "alice" {
		t.Errorf("after --overwrite the session serves %q", got)
	}
}

// Through Sentinel, ping says so and that it reaches the master.
func TestPingSentinel(t *testing.T) {
	g := redistest.StartSentinel(t)
	url := "redis+sentinel://" + strings.Join(g.SentinelAddrs(), ",") + "/" + g.MasterName() + "/0"
	var res pingResult
	decode(t, ok(t, nil, nil, "ping", "--store", url, "--json").stdout, &res)
	if res.Kind != "redis (sentinel: talking to the master)" || !strings.HasPrefix(res.Version, "Redis ") {
		t.Errorf("ping through Sentinel: %+v", res)
	}
}
