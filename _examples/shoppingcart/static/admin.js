// Corner Shop administration page: shows the session store's health and a
// user's sessions, and revokes them, through the session library's admin
// handler mounted at /admin/api/. Its state-changing endpoints take JSON
// POSTs only (a cross-site form cannot send one).
"use strict";
(function () {
  const api = "/admin/api";
  const flash = document.getElementById("flash");
  const userForm = document.getElementById("user-form");
  const userInput = document.getElementById("user-input");
  const result = document.getElementById("user-result");
  let shownUser = "";

  function showFlash(kind, text) {
    flash.className = "flash " + kind;
    flash.textContent = text;
    flash.hidden = false;
  }

  async function call(method, path, body) {
    const opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(api + path, opts);
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.error || resp.statusText);
    return data;
  }

  function when(iso) {
    return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function row(tbody, cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c);
      else td.textContent = c;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
    return tr;
  }

  function code(text) {
    const el = document.createElement("code");
    el.textContent = text;
    return el;
  }

  // The store chain: each store with its health (GET /health, for the
  // stores it probes), its number of sessions (GET /counts, for the stores
  // that wrap no other) and what it reports of itself (GET /stores).
  async function loadStores() {
    const [health, chain, counts] = await Promise.all([call("GET", "/health"), call("GET", "/stores"), call("GET", "/counts")]);
    document.getElementById("health-status").textContent = health.status;
    const probed = {};
    for (const s of health.stores) probed[(s.role || "") + "/" + s.name] = s;
    const tbody = document.querySelector("#stores tbody");
    tbody.replaceChildren();
    let leaf = 0;
    chain.stores.forEach((s, i) => {
      const next = chain.stores[i + 1];
      const isLeaf = !next || next.depth <= s.depth;
      const p = probed[(s.role || "") + "/" + s.name];
      let sessions = "";
      if (isLeaf) {
        const c = counts.stores[leaf++];
        sessions = c && c.sessions !== undefined ? String(c.sessions) : (c ? c.error : "");
      }
      const state = [];
      if (s.failover) state.push("fail-over " + s.failover.state + (s.failover.pending ? ", " + s.failover.pending + " pending" : ""));
      if (s.migration) state.push("migration phase " + s.migration.phase);
      if (s.replication) state.push("replication lag " + s.replication.lag_ms + " ms");
      const tr = row(tbody, ["\u00a0".repeat(4 * s.depth) + s.name, s.role || "", p ? p.status + (p.error ? " (" + p.error + ")" : "") : "", sessions, state.join("; ")]);
      tr.dataset.store = s.name;
    });
  }

  async function loadUser(user) {
    const data = await call("GET", "/sessions?user=" + encodeURIComponent(user));
    shownUser = user;
    const tbody = document.querySelector("#user-sessions tbody");
    tbody.replaceChildren();
    for (const s of data.sessions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "danger revoke";
      button.dataset.name = s.name;
      button.textContent = "Revoke";
      const tr = row(tbody, [code(s.name), when(s.created), when(s.last_seen), when(s.expires) + (s.persistent ? " (remembered)" : ""), button]);
      tr.dataset.name = s.name;
    }
    const n = data.sessions.length;
    document.getElementById("user-summary").textContent = user + " has " + n + (n === 1 ? " session." : " sessions.");
    document.getElementById("revoke-all").disabled = n === 0;
    result.hidden = false;
  }

  async function run(fn) {
    try {
      await fn();
    } catch (e) {
      showFlash("error", "Sorry: " + e.message + ".");
    }
  }

  userForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = userInput.value.trim();
    if (!user) return;
    history.replaceState(null, "", "?user=" + encodeURIComponent(user));
    run(() => loadUser(user));
  });

  document.getElementById("user-sessions").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.revoke");
    if (!button) return;
    button.disabled = true;
    run(async () => {
      await call("POST", "/sessions/revoke", { user: shownUser, session: button.dataset.name });
      showFlash("ok", "Revoked session " + button.dataset.name + " of " + shownUser + ".");
      await Promise.all([loadUser(shownUser), loadStores()]);
    });
  });

  document.getElementById("revoke-all").addEventListener("click", () => {
    run(async () => {
      const data = await call("POST", "/users/revoke", { user: shownUser });
      showFlash("ok", "Logged " + shownUser + " out of " + data.revoked + (data.revoked === 1 ? " session." : " sessions."));
      await Promise.all([loadUser(shownUser), loadStores()]);
    });
  });

  document.getElementById("refresh").addEventListener("click", () => run(loadStores));

  run(loadStores);
  const initial = new URLSearchParams(location.search).get("user");
  if (initial) {
    userInput.value = initial;
    run(() => loadUser(initial));
  }
})();
