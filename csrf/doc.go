// Package csrf protects the handlers of a session (package session) against
// cross-site request forgery with synchronizer tokens: each session keeps a
// random secret, pages put a token of it into their forms and scripts send
// it in a header, and a middleware refuses every state-changing request
// that does not carry one.
//
// # Quick start
//
//	p, err := csrf.New()
//	if err != nil { ... }
//	mux.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
//		field, err := p.TemplateField(r) // before the response is written
//		if err != nil { ... }
//		tmpl.Execute(w, map[string]any{"CSRF": field}) // <form method="post">{{.CSRF}}…</form>
//	})
//	mux.HandleFunc("POST /settings", saveSettings) // runs only with a valid token
//
//	h := m.Middleware(p.Middleware(mux))           // inside the session middleware
//	h = http.NewCrossOriginProtection().Handler(h) // see "With CrossOriginProtection"
//
// Scripts send the token in the X-CSRF-Token header: render Token(r) into
// the page (for example <meta name="csrf-token" content="…">) and copy it
// into the header of every fetch or XMLHttpRequest that changes state.
//
// # Threat model
//
// The attacker runs another site that the victim visits while logged in
// here. The victim's browser sends this site's cookies with the requests
// the attacker's page makes (a form posted to this site, an image, a
// script-submitted form), so the session middleware alone cannot tell them
// from the victim's own. The attacker cannot read this site's pages or
// responses (the same-origin policy), so cannot learn a token.
//
// What it checks: every request with a method other than GET, HEAD,
// OPTIONS and TRACE must carry a token that unmasks to the secret of the
// request's session, compared in constant time (crypto/subtle). Safe
// methods are not checked: handlers must not change state on them. A
// refused request is answered 403 by default and reported as
// session.EventCSRFRejected (Observer and audit log, at Warn level by
// default, without the token).
//
// What the secret is: 32 bytes from crypto/rand, kept in the session under
// SessionKey: stored with the rest of the session (encrypted, when the
// manager has a secret or a keyring) and never sent to the client. It is made when a page first asks for a token
// (Token, TemplateField): such a page gives its visitor a session.
//
// BREACH: a token is a fresh 32-byte one-time pad followed by the secret
// XOR the pad, so it differs in every response while all of them stay
// valid. An attacker who measures the compressed size of responses that
// reflect their input cannot recover a value that changes every time.
//
// Renewal: the secret is bound to the session's user (Session.SetUser). A
// login, a logout or a change of user makes the old secret stale: every
// token handed out before is refused (ErrNoSecret), and the next Token
// makes a new secret. Session.Destroy removes it with the session. So a
// token seen by someone before the login (a shared computer, a session
// fixed by an attacker) is worthless after it. Session.Renew alone keeps
// the secret (the ID changes, the holder does not); call Rotate with Renew
// on a change of privilege that keeps the user.
//
// With CrossOriginProtection: net/http's CrossOriginProtection refuses
// cross-origin unsafe requests from modern browsers by their Sec-Fetch-Site
// and Origin headers, with no state and no change to the pages; use it in
// front (outside the session middleware, so a refused request costs no
// store round trip). Tokens add protection where those headers are absent
// or cannot be trusted: browsers that send neither header (which
// CrossOriginProtection lets through, as it does requests without a
// browser), and requests that it lets through by its bypass patterns or
// trusted origins. Tokens do not replace it either: it also covers
// handlers that render no token, such as a JSON API.
// The session cookie's SameSite=Lax is a third line.
//
// Non-browser clients that keep cookies (mobile apps, scripts) are not
// CSRF victims themselves, but a handler that serves them and browsers
// alike is checked the same way: such clients read a token from a page
// or an endpoint of their session and send it in the header. An API that
// only non-browser clients use, authenticated by something other than the
// cookie, needs no token.
//
// Not covered: a script injected into this site's pages (cross-site
// scripting) can read the tokens; tokens are no defence against it. GET
// handlers that change state are not protected. A token leaked by the
// application (in a URL, a log, a Referer header to another site) is
// usable until the user changes or Rotate is called; keep tokens out of
// URLs.
//
// # Frameworks
//
// Middleware is a standard func(http.Handler) http.Handler, inside the
// session middleware: chi routes it with Use, echo with
// echo.WrapMiddleware, gin with a small wrapper that runs the rest of the
// gin chain as the next handler (docs/csrf.md shows all three). Token and TemplateField take the *http.Request (in gin,
// c.Request; in echo, c.Request()) after the session middleware ran.
package csrf
