package session

import "strings"

// A small User-Agent parser: it names the browser and operating system
// families people recognise on a "my devices" page, never versions, so
// that the summary is short (at most maxUASummary bytes), stable across
// browser updates, and says little about the user.

// maxUASummary bounds the summary's length.
const maxUASummary = 48

// maxUAScan bounds how much of a User-Agent header is looked at.
const maxUAScan = 512

// uaToken maps a token found in a User-Agent to a family name. Lists are
// ordered: the first match wins, so more specific tokens come first (Edge
// and Opera also send "Chrome/", Chrome also sends "Safari/", Android also
// sends "Linux").
type uaToken struct{ token, name string }

var uaBrowsers = []uaToken{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPT/", "Opera"}, {"Opera", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex Browser"},
	{"Vivaldi/", "Vivaldi"},
	{"UCBrowser/", "UC Browser"},
	{"DuckDuckGo/", "DuckDuckGo"},
	{"FxiOS/", "Firefox"}, {"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"MSIE ", "Internet Explorer"}, {"Trident/", "Internet Explorer"},
	{"Safari/", "Safari"},
	{"curl/", "curl"}, {"Wget/", "Wget"},
	{"Go-http-client/", "Go HTTP client"},
	{"python-requests/", "Python Requests"}, {"python-httpx/", "Python HTTPX"},
	{"okhttp/", "OkHttp"}, {"PostmanRuntime/", "Postman"},
	{"AppleWebKit/", "WebKit browser"},
}

var uaSystems = []uaToken{
	{"Windows Phone", "Windows Phone"},
	{"Windows", "Windows"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"iPhone", "iOS"}, {"iPod", "iOS"},
	{"iPad", "iPadOS"},
	{"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"}, {"NetBSD", "NetBSD"},
	{"Linux", "Linux"}, {"X11", "Unix"},
}

// summarizeUserAgent returns a short description of the client that sent
// User-Agent ua, such as "Firefox on Linux", "Safari on iOS", "curl" or
// "Bot"; "" for an empty ua, "Unknown" for one it does not recognise.
func summarizeUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	if len(ua) > maxUAScan {
		ua = ua[:maxUAScan]
	}
	if isBot(ua) {
		return "Bot"
	}
	browser := firstFamily(ua, uaBrowsers)
	system := firstFamily(ua, uaSystems)
	var out string
	switch {
	case browser == "" && system == "":
		out = "Unknown"
	case system == "":
		out = browser
	case browser == "":
		out = "Unknown browser on " + system
	default:
		out = browser + " on " + system
	}
	if len(out) > maxUASummary {
		out = out[:maxUASummary]
	}
	return out
}

func firstFamily(ua string, list []uaToken) string {
	for _, t := range list {
		if strings.Contains(ua, t.token) {
			return t.name
		}
	}
	return ""
}

// isBot reports whether ua names a crawler.
func isBot(ua string) bool {
	for _, w := range [...]string{"bot", "Bot", "spider", "Spider", "crawler", "Crawler"} {
		if strings.Contains(ua, w) {
			return true
		}
	}
	return false
}
