package main

import (
	"net/http"
	"strings"
	"testing"
)

// A malformed JSON body gets a plain 400 message: nothing of Go's decoder
// (type names, struct fields, "unmarshal") reaches the client. The detail
// goes to the app's log.
func TestMalformedJSONDoesNotEchoDecoderInternals(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	for _, c := range []struct{ path, body, want string }{
		{"/api/login", `{"username":1,"password":"x"}`, "malformed JSON: a value has the wrong type"},
		{"/api/cart/items", `{"productId":"p001","quantity":"2"}`, "malformed JSON: a value has the wrong type"},
		{"/api/cart/items", `{"productId":"p001","quantity":1.5}`, "malformed JSON: a value has the wrong type"},
		{"/api/login", `{"username":"alice"`, "malformed JSON"},
		{"/api/login", `{"username":"alice",}`, "malformed JSON"},
		{"/api/login", `[1]`, "malformed JSON: a value has the wrong type"},
		{"/api/login", `{"username":"alice"} {}`, "malformed JSON: data after the value"},
	} {
		r := e.POST(c.path).WithHeader("Content-Type", "application/json").WithBytes([]byte(c.body)).Expect()
		r.Status(http.StatusBadRequest)
		msg := r.JSON().Object().Value("error").String().Raw()
		if msg != c.want {
			t.Errorf("%s %s: error %q, want %q", c.path, c.body, msg, c.want)
		}
		for _, internal := range []string{"Go ", "struct", "unmarshal", "loginRequest", "addItemRequest", "int", "json:"} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s %s: error %q shows the decoder's %q", c.path, c.body, msg, internal)
			}
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, "loginRequest") {
		t.Errorf("the decoder's detail is not in the log:\n%s", logs)
	}
}
