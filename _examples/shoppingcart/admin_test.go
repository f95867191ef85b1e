package main

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gavv/httpexpect/v2"
)

// adminGet sends a GET of the admin API, as the page's script does.
func adminGet(e *httpexpect.Expect, path string) *httpexpect.Response {
	path, query, _ := strings.Cut(path, "?")
	return e.GET("/admin/api"+path).WithQueryString(query).WithHeader("Sec-Fetch-Site", "same-origin").Expect()
}

// adminPost posts JSON to the admin API, as the page's script does.
func adminPost(e *httpexpect.Expect, path string, body any) *httpexpect.Response {
	return e.POST("/admin/api"+path).WithJSON(body).WithHeader("Sec-Fetch-Site", "same-origin").Expect()
}

func TestAdminUserFromEnv(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	env := map[string]string{"ADMIN_USER": "alice", "SESSION_SECRET": string(testSecret)}
	cfg, err := configFromEnv(func(k string) string { return env[k] }, logger)
	if err != nil || cfg.AdminUser != "alice" {
		t.Fatalf("configFromEnv = %+v, %v; want AdminUser alice", cfg, err)
	}
	delete(env, "ADMIN_USER")
	if cfg, _ := configFromEnv(func(k string) string { return env[k] }, logger); cfg.AdminUser != "" {
		t.Fatalf("AdminUser %q without ADMIN_USER", cfg.AdminUser)
	}
}

func TestAdminIsOffWithoutAdminUser(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	login(e, "alice", "wonderland")
	e.GET("/admin/").Expect().Status(http.StatusNotFound)
	e.GET("/admin/api/health").Expect().Status(http.StatusNotFound)
}

func TestAdminOnlyForTheAdminUser(t *testing.T) {
	s := startShop(t, config{AdminUser: "alice"})

	anon := s.expect()
	anon.GET("/admin/").Expect().Status(http.StatusSeeOther).Header("Location").IsEqual("/login?next=%2Fadmin%2F")
	expectError(adminGet(anon, "/health"), http.StatusForbidden)

	bob := s.expect()
	login(bob, "bob", "builder")
	bob.GET("/admin/").Expect().Status(http.StatusForbidden).Body().Contains("administrator")
	expectError(adminGet(bob, "/sessions?user=alice"), http.StatusForbidden)
	expectError(adminPost(bob, "/users/revoke", map[string]string{"user": "alice"}), http.StatusForbidden)

	alice := s.expect()
	login(alice, "alice", "wonderland")
	page := alice.GET("/admin/").Expect().Status(http.StatusOK)
	page.HasContentType("text/html")
	page.Body().Contains(`id="admin"`).Contains(`src="/static/admin.js"`)
	alice.GET("/admin/nope").Expect().Status(http.StatusNotFound)
	alice.GET("/static/admin.js").Expect().Status(http.StatusOK)
	adminGet(alice, "/health").Status(http.StatusOK).JSON().Object().Value("status").IsEqual("healthy")

	// bob was not logged out by the refused revocation.
	bob.GET("/api/me").Expect().Status(http.StatusOK)
}

func TestAdminRevokesAndAudits(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		cfg.AdminUser = "alice"
		s := startShop(t, cfg)
		bob1, bob2, bob3 := s.expect(), s.expect(), s.expect()
		for _, b := range []*httpexpect.Expect{bob1, bob2, bob3} {
			login(b, "bob", "builder")
		}
		admin := s.expect()
		login(admin, "alice", "wonderland")

		list := adminGet(admin, "/sessions?user=bob").Status(http.StatusOK).JSON().Object()
		list.Value("user").IsEqual("bob")
		sessions := list.Value("sessions").Array()
		sessions.Length().IsEqual(3)
		name := sessions.Value(0).Object().Value("name").String()
		name.Length().IsEqual(12)
		first := name.Raw()

		// A form post, or a cross-origin fetch, changes nothing.
		admin.POST("/admin/api/users/revoke").WithFormField("user", "bob").WithHeader("Sec-Fetch-Site", "same-origin").
			Expect().Status(http.StatusUnsupportedMediaType)
		admin.POST("/admin/api/users/revoke").WithJSON(map[string]string{"user": "bob"}).WithHeader("Sec-Fetch-Site", "cross-site").
			Expect().Status(http.StatusForbidden)
		bob1.GET("/api/me").Expect().Status(http.StatusOK)

		adminPost(admin, "/sessions/revoke", map[string]string{"user": "bob", "session": first}).
			Status(http.StatusOK).JSON().Object().IsEqual(map[string]int{"revoked": 1})
		bob1.GET("/api/me").Expect().Status(http.StatusUnauthorized)
		bob2.GET("/api/me").Expect().Status(http.StatusOK)
		expectError(adminPost(admin, "/sessions/revoke", map[string]string{"user": "bob", "session": first}), http.StatusNotFound)

		adminPost(admin, "/users/revoke", map[string]string{"user": "bob"}).
			Status(http.StatusOK).JSON().Object().IsEqual(map[string]int{"revoked": 2})
		bob2.GET("/api/me").Expect().Status(http.StatusUnauthorized)
		bob3.GET("/api/me").Expect().Status(http.StatusUnauthorized)
		admin.GET("/api/me").Expect().Status(http.StatusOK)

		counts := adminGet(admin, "/counts").Status(http.StatusOK).JSON().Object().Value("stores").Array()
		counts.Value(0).Object().Value("sessions").Number().Ge(1)

		// The audit log names the operator of both revocations.
		var audited int
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(line, "event=user_revoked") {
				audited++
				if !strings.Contains(line, "operator=alice") || !strings.Contains(line, "cause=admin") {
					t.Errorf("audit record without the operator: %s", line)
				}
			}
		}
		if audited != 2 {
			t.Errorf("%d revocations audited, want 2", audited)
		}
	})
}
