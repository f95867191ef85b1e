package redisstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NewFromURL creates a go-redis client from rawURL and returns a Store on it.
// Close closes that client. Construction does no I/O unless WithPingOnStart
// is given. The client has ContextTimeoutEnabled set, so per-operation
// timeouts (WithTimeout) and the caller's deadlines reach the network calls.
//
// Accepted forms (rediss instead of redis turns on TLS, verified against
// the first host name; query parameters are go-redis options in snake case,
// such as dial_timeout=2s, pool_size=20, protocol=2 or skip_verify=true):
//
//	redis://[user:password@]host[:6379][/db][?options]
//	    one server (go-redis ParseURL); also unix:///path/to/socket?db=N
//
//	redis+cluster://[user:password@]host1[:6379],host2[:6379],...[?options]
//	redis://[user:password@]host1:port1?addr=host2:port2&addr=host3:port3[&options]
//	    Redis Cluster with these seed nodes (go-redis ParseClusterURL);
//	    redis+cluster:// with one host also means Cluster
//
//	redis+sentinel://[user:password@]host1[:26379],host2[:26379],.../master_name[/db][?options]
//	    Sentinel: the master named master_name, found through these
//	    sentinels; user and password authenticate to the master, and the
//	    options sentinel_username and sentinel_password to the sentinels
//
//	redis://[sentinel_user:sentinel_password@]host1:26379?master_name=name&addr=host2:26379[&options]
//	    Sentinel in go-redis ParseFailoverURL form (there the user info
//	    authenticates to the sentinels, and username=/password= options to the master)
//
// With rediss, a server that does not answer the TLS handshake but answers
// plaintext Redis commands is reported by Ping (and every operation) as an
// error matching backends.ErrMisconfigured, rather than as a timeout.
//
// Options that read from replicas (read_only, route_by_latency,
// route_randomly, replica_only) are refused with ErrReplicaReads.
// Errors never repeat the URL, so they do not leak the password.
func NewFromURL(rawURL string, opts ...Option) (*Store, error) {
	cfg, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	client, dialer, err := clientFromURL(rawURL, cfg.nearCache)
	if err != nil {
		return nil, err
	}
	s, err := newStore(client, true, dialer, cfg)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("redisstore: invalid Redis URL: %w", err)
}

// clientFromURL returns the client rawURL describes and, for TLS, the
// dialer it connects with. nc, when set, turns on the client-side cache,
// which only a standalone client has.
func clientFromURL(rawURL string, nc *NearCache) (redis.UniversalClient, *tlsDialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, urlError(err)
	}
	q := u.Query()
	if nc != nil && (strings.Contains(u.Scheme, "+") || q.Has("master_name") || q.Has("addr")) {
		return nil, nil, ErrNearCacheTopology
	}
	switch u.Scheme {
	case "redis+cluster", "rediss+cluster":
		return clusterClient(u)
	case "redis+sentinel", "rediss+sentinel":
		return sentinelClient(u)
	case "redis", "rediss", "unix":
	default:
		return nil, nil, urlError(fmt.Errorf("unknown scheme %q (want redis, rediss, redis+cluster, redis+sentinel or unix)", u.Scheme))
	}
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, nil, urlError(err)
		}
		return newFailover(o)
	case q.Has("addr"):
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, nil, urlError(err)
		}
		return newCluster(o)
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, nil, urlError(err)
	}
	o.ContextTimeoutEnabled = true
	if nc != nil {
		if err := applyNearCache(o, nc); err != nil {
			return nil, nil, err
		}
	}
	var d *tlsDialer
	if o.TLSConfig != nil {
		d = newTLSDialer(o.DialTimeout, o.TLSConfig)
		o.Dialer = d.Dial
	}
	return redis.NewClient(o), d, nil
}

// splitHosts splits "h1:p1,h2,h3:p3" and adds the default port where missing.
func splitHosts(hosts, defPort string) ([]string, error) {
	var out []string
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return nil, errors.New("empty host in host list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
		}
		out = append(out, h)
	}
	return out, nil
}

func clusterClient(u *url.URL) (redis.UniversalClient, *tlsDialer, error) {
	hosts, err := splitHosts(u.Host, "6379")
	if err != nil {
		return nil, nil, urlError(err)
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, nil, urlError(errors.New("a Redis Cluster has only database 0"))
	}
	v := *u
	v.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
	v.Host = hosts[0]
	v.Path = ""
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	v.RawQuery = q.Encode()
	o, err := redis.ParseClusterURL(v.String())
	if err != nil {
		return nil, nil, urlError(err)
	}
	return newCluster(o)
}

func sentinelClient(u *url.URL) (redis.UniversalClient, *tlsDialer, error) {
	hosts, err := splitHosts(u.Host, "26379")
	if err != nil {
		return nil, nil, urlError(err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) > 2 || parts[0] == "" {
		return nil, nil, urlError(errors.New("the path must be /master_name or /master_name/db"))
	}
	q := u.Query()
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if q.Has("master_name") {
		return nil, nil, urlError(errors.New("master_name is given by the path"))
	}
	q.Set("master_name", parts[0])
	if len(parts) == 2 {
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return nil, nil, urlError(fmt.Errorf("invalid database number %q", parts[1]))
		}
		q.Set("db", parts[1])
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	v := url.URL{Scheme: strings.TrimSuffix(u.Scheme, "+sentinel"), Host: hosts[0], RawQuery: q.Encode()}
	o, err := redis.ParseFailoverURL(v.String())
	if err != nil {
		return nil, nil, urlError(err)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	return newFailover(o)
}

func newCluster(o *redis.ClusterOptions) (redis.UniversalClient, *tlsDialer, error) {
	if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
		return nil, nil, ErrReplicaReads
	}
	o.ContextTimeoutEnabled = true
	var d *tlsDialer
	if o.TLSConfig != nil {
		d = newTLSDialer(o.DialTimeout, o.TLSConfig)
		o.Dialer = d.Dial
	}
	return redis.NewClusterClient(o), d, nil
}

func newFailover(o *redis.FailoverOptions) (redis.UniversalClient, *tlsDialer, error) {
	if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly {
		return nil, nil, ErrReplicaReads
	}
	o.ContextTimeoutEnabled = true
	var d *tlsDialer
	if o.TLSConfig != nil {
		d = newTLSDialer(o.DialTimeout, o.TLSConfig)
		o.Dialer = d.Dial
	}
	return redis.NewFailoverClient(o), d, nil
}
