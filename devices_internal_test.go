package session

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestSummarizeUserAgent(t *testing.T) {
	for _, c := range []struct{ ua, want string }{
		{"", ""},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iOS"},
		{"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15", "Firefox on iPadOS"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "WebKit browser on iOS"},
		{"curl/8.5.0", "curl"},
		{"Go-http-client/1.1", "Go HTTP client"},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Bot"},
		{"Lynx/2.9.0dev.12 libwww-FM/2.14", "Unknown"},
		{"Mozilla/5.0 (X11; FreeBSD amd64; rv:128.0) Gecko/20100101 SomeBrowser/1", "Unknown browser on FreeBSD"},
		{strings.Repeat("x", 100000) + " Firefox/1", "Unknown"},
	} {
		got := summarizeUserAgent(c.ua)
		if got != c.want {
			t.Errorf("summarizeUserAgent(%.80q) = %q, want %q", c.ua, got, c.want)
		}
		if len(got) > maxUASummary {
			t.Errorf("summary %q longer than %d", got, maxUASummary)
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		header  string
		proxies []netip.Prefix
		remote  string
		values  []string
		want    string
	}{
		{"no header configured", "", nil, "198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"header believed", "X-Forwarded-For", nil, "10.1.1.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"rightmost entry", "X-Forwarded-For", nil, "10.1.1.1:5000", []string{"192.0.2.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted proxies skipped", "X-Forwarded-For", proxies, "10.1.1.1:5000", []string{"192.0.2.1, 203.0.113.9, 10.2.2.2", "10.3.3.3"}, "203.0.113.9"},
		{"untrusted peer", "X-Forwarded-For", proxies, "198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"missing header", "X-Forwarded-For", proxies, "10.1.1.1:5000", nil, "10.1.1.1"},
		{"garbage", "X-Forwarded-For", proxies, "10.1.1.1:5000", []string{"203.0.113.9, nonsense"}, "10.1.1.1"},
		{"ports and brackets", "X-Forwarded-For", proxies, "[fd00::1]:5000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"mapped IPv4", "X-Real-IP", nil, "[::ffff:10.0.0.1]:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"all trusted", "X-Forwarded-For", proxies, "10.1.1.1:5000", []string{"10.9.9.9"}, "10.1.1.1"},
	} {
		m := &Manager{sec: securityConfig{ipHeader: c.header, proxies: c.proxies}}
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.values {
			r.Header.Add("X-Forwarded-For", v)
			r.Header.Add("X-Real-IP", v)
		}
		if got := m.clientIP(r).String(); got != c.want {
			t.Errorf("%s: clientIP = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestTruncateAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		v4, v6 int
		want   string
	}{
		{"203.0.113.77", 24, 48, "203.0.113.0/24"},
		{"203.0.113.77", 32, 128, "203.0.113.77"},
		{"2001:db8:1:2::99", 24, 48, "2001:db8:1::/48"},
		{"2001:db8:1:2::99", 32, 128, "2001:db8:1:2::99"},
		{"203.0.113.77", 0, 0, ""},
	} {
		if got := truncateAddr(netip.MustParseAddr(c.addr), c.v4, c.v6); got != c.want {
			t.Errorf("truncateAddr(%s, %d, %d) = %q, want %q", c.addr, c.v4, c.v6, got, c.want)
		}
	}
	if got := truncateAddr(netip.Addr{}, 32, 128); got != "" {
		t.Errorf("truncateAddr(invalid) = %q", got)
	}
}

func FuzzSummarizeUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	f.Add("curl/8.5.0")
	f.Fuzz(func(t *testing.T, ua string) {
		if got := summarizeUserAgent(ua); len(got) > maxUASummary {
			t.Fatalf("summary %q longer than %d", got, maxUASummary)
		}
	})
}

func BenchmarkSummarizeUserAgent(b *testing.B) {
	const ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	for b.Loop() {
		summarizeUserAgent(ua)
	}
}
