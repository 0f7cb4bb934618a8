// The ledger's web console: a client-side router over the REST API
// (/v1/...), with the buyer's verifier and the bearer tokens in the
// WebAssembly module (console.wasm, see ../wasm/main.go). No framework and
// nothing from another origin; pages are built with the DOM, never from
// HTML strings, so what the ledger holds is always shown as text. The one
// exception is a lot's report, HTML the module renders with html/template
// (internal/report), which the page parses in an inert document and
// checks before it shows it (reportNodes).
"use strict";

(() => {
  const main = document.getElementById("main");

  // ---- DOM helpers ----

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    add(el, kids);
    return el;
  }
  function add(el, kids) {
    for (const k of kids) {
      if (k === undefined || k === null || k === false) continue;
      if (Array.isArray(k)) add(el, k);
      else if (k instanceof Node) el.appendChild(k);
      else el.appendChild(document.createTextNode(String(k)));
    }
  }
  // fill replaces el's children with kids, which may nest arrays and skip
  // null, as h's do.
  function fill(el, ...kids) {
    el.replaceChildren();
    add(el, kids);
    return el;
  }
  const short = (s) => (s && s.length > 16 ? s.slice(0, 10) + "…" + s.slice(-4) : s || "");
  const strip = (s, p) => (s || "").replace(p, "");
  const verdictName = (v) => strip(v, "VERDICT_") || "UNSPECIFIED";
  const sevName = (s) => strip(s, "SEVERITY_");
  const pct = (x) => (Number(x || 0) * 100).toFixed(1) + " %";
  const kg = (x) => Number(x || 0).toLocaleString("en-US", { maximumFractionDigits: 1 }) + " kg";
  const badge = (v) => h("span", { class: "badge v-" + verdictName(v), "data-verdict": verdictName(v) }, verdictName(v));
  const sevBadge = (s) => h("span", { class: "badge s-" + sevName(s) }, sevName(s));
  // A flag a correction withdrew stays listed, with correctedBy, but does
  // not count in the lot's verdict: lists mark it, and the rules a lot
  // raised are those of the flags that count.
  const corrected = (f) => (f.correctedBy || []).length > 0;
  const correctedBadge = (f) => h("span", { class: "badge corrected", title: "withdrawn by correction " + f.correctedBy.join(", ") + ": not counted in the verdict" }, "corrected");
  const rulesRaised = (rep) => [...new Set((rep.flags || []).filter((f) => !corrected(f)).map((f) => f.rule))].sort().join(", ") || "none";
  const lotLink = (id) => h("a", { href: "#/lot/" + encodeURIComponent(id) }, id);
  // The registrar and the operator sign records but are not parties of
  // the registry: they have no page.
  const notParty = (id) => id === "registrar" || id === "operator";
  const partyLink = (id) => (!id ? "" : notParty(id) ? h("span", {}, id) : h("a", { href: "#/party/" + encodeURIComponent(id) }, id));
  const time = (t) => (t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "");
  function kv(pairs) {
    return h("dl", { class: "kv" }, pairs.filter((p) => p).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }
  function table(head, rows, attrs) {
    return h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))), h("tbody", {}, rows));
  }

  // ---- session: who the page reads as ----
  // A key is kept only in the WebAssembly module's memory: never in the
  // browser's storage, which every script this origin serves can read (a
  // cold review found the log's own key kept there). A reload signs the
  // user out; a pasted token, which expires within minutes, is kept in
  // this tab's sessionStorage.

  const S = { mode: "", party: "", keyId: "", token: "", tokenExp: 0, origin: "", serverKeys: null, rules: [], glossary: [] };
  const store = window.sessionStorage;

  let wasmResolve, wasmReject;
  const wasm = new Promise((res, rej) => { wasmResolve = res; wasmReject = rej; });
  window.provenanceReady = () => wasmResolve(window.provenance);
  async function loadWasm() {
    const status = document.getElementById("wasm-status");
    try {
      const go = new Go();
      const r = await WebAssembly.instantiateStreaming(fetch("/console/console.wasm"), go.importObject);
      go.run(r.instance);
      await wasm;
      status.textContent = "verifier module: loaded (Go, compiled to WebAssembly; runs in this browser)";
    } catch (e) {
      status.textContent = "verifier module: failed to load: " + e.message;
      wasmReject(e);
    }
  }

  function tokenClaims(tok) {
    try {
      const m = tok.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      const text = atob(m + "===".slice((m.length + 3) % 4));
      const c = {};
      for (const line of text.split("\n")) {
        const i = line.indexOf(": ");
        if (i > 0) c[line.slice(0, i)] = line.slice(i + 2);
      }
      return c;
    } catch (e) {
      return {};
    }
  }

  async function signInWithKey(party, pem) {
    const p = await wasm;
    const r = p.loadKey(pem);
    if (r.error) throw new Error("key file: " + r.error);
    S.mode = "key"; S.party = party; S.keyId = r.keyId; S.token = ""; S.tokenExp = 0;
    await authHeaders(); // make a token now, so a bad origin or party shows at once
    store.removeItem("console.party");
    store.removeItem("console.token");
  }
  function signInWithToken(tok) {
    const c = tokenClaims(tok);
    if (!c.party || !c.expires) throw new Error("this is not a token from provctl token");
    if (Number(c.expires) * 1000 < Date.now()) throw new Error("this token expired at " + new Date(Number(c.expires) * 1000).toISOString());
    S.mode = "token"; S.party = c.party; S.keyId = ""; S.token = tok; S.tokenExp = Number(c.expires);
    store.setItem("console.token", tok);
    store.setItem("console.party", c.party);
  }
  function signOut() {
    if (window.provenance) window.provenance.forgetKey();
    S.mode = ""; S.party = ""; S.keyId = ""; S.token = ""; S.tokenExp = 0;
    store.removeItem("console.token"); store.removeItem("console.party");
  }
  async function restoreSession() {
    const tok = store.getItem("console.token");
    try {
      if (tok) signInWithToken(tok);
    } catch (e) {
      signOut();
    }
  }

  async function authHeaders() {
    if (S.mode === "key" && (!S.token || Date.now() / 1000 > S.tokenExp - 100)) {
      const r = (await wasm).token(S.origin, S.party);
      if (r.error) throw new Error("making a token: " + r.error);
      S.token = r.token; S.tokenExp = r.expires;
    }
    if (S.mode === "token" && Date.now() / 1000 > S.tokenExp) {
      throw Object.assign(new Error("the pasted token has expired: paste a new one from provctl token, or sign in with your key"), { status: 401 });
    }
    return S.token ? { Authorization: "Bearer " + S.token } : {};
  }

  // api GETs path and returns the parsed JSON, or throws an Error with
  // the status and the API's message.
  async function api(path) {
    const res = await fetch(path, { headers: await authHeaders(), cache: "no-store" });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const msg = (body && body.message) || text || res.statusText;
      throw Object.assign(new Error(msg), { status: res.status });
    }
    return body;
  }
  async function apiText(path) {
    const res = await fetch(path, { headers: await authHeaders(), cache: "no-store" });
    const text = await res.text();
    if (!res.ok) {
      let msg = text;
      try { msg = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
      throw Object.assign(new Error(msg), { status: res.status });
    }
    return text;
  }

  function errorBox(e) {
    if (e.status === 401) {
      return h("div", { class: "error", "data-error": "401" },
        "This page needs a token: sign in (top right) with your party's key file or a token from provctl token. ",
        "The public pages (the overview's checkpoint) work without one. Server said: " + e.message);
    }
    if (e.status === 403) {
      return h("div", { class: "error", "data-error": "403" },
        "Your party may not read this (see \"Who may read what\" in the README). Server said: " + e.message);
    }
    return h("div", { class: "error", "data-error": String(e.status || "") }, e.message);
  }
  const needsSignIn = () => h("div", { class: "note" }, "Sign in (top right) to see this: every read but the checkpoint and proofs needs a party's token.");

  // ---- sign-in header ----

  function renderWho() {
    const who = document.getElementById("who");
    if (S.mode) {
      who.replaceChildren(
        h("span", { id: "who-party" }, "Reading as ", h("b", {}, S.party),
          S.mode === "key" ? " (key " + short(S.keyId) + ", tokens made in this browser)" : " (pasted token)"),
        h("button", { id: "signout", onclick: () => { signOut(); renderWho(); route(); } }, "Sign out"));
    } else {
      who.replaceChildren(h("button", { id: "signin-open", onclick: openSignIn }, "Sign in"));
    }
  }

  function openSignIn() {
    const msg = h("div", {});
    const party = h("input", { id: "signin-party", placeholder: "e.g. audit-pk, or operator", size: 24 });
    const file = h("input", { id: "signin-key", type: "file", accept: ".key,.pem,text/plain" });
    const tok = h("textarea", { id: "signin-token", placeholder: "or paste the output of: provctl token --key KEY --party PARTY" });
    const close = () => overlay.remove();
    const overlay = h("div", { id: "signin" }, h("div", { class: "card" },
      h("h2", {}, "Sign in"),
      h("p", { class: "muted" }, "Choose your party's PEM private key file: the page signs short tokens with it in this browser " +
        "(the same code as provctl token), keeps it in this page's memory only (a reload signs you out), and never sends it anywhere. " +
        "The operator signs in as party \"operator\" with the log's key; the registrar as \"registrar\"."),
      h("div", { class: "field" }, "Party id", party),
      h("div", { class: "field" }, "Private key file (PEM)", file),
      h("p", {}, h("button", { class: "primary", id: "signin-submit", onclick: async () => {
        msg.replaceChildren();
        try {
          if (tok.value.trim()) {
            signInWithToken(tok.value.trim());
          } else {
            if (!party.value.trim()) throw new Error("give your party id");
            if (!file.files.length) throw new Error("choose your key file, or paste a token");
            await signInWithKey(party.value.trim(), await file.files[0].text());
          }
          close(); renderWho(); route();
        } catch (e) {
          msg.replaceChildren(h("div", { class: "error", id: "signin-error" }, e.message));
        }
      } }, "Sign in"), " ", h("button", { onclick: close }, "Cancel")),
      h("div", { class: "field" }, "Token", tok),
      msg));
    document.body.appendChild(overlay);
    party.focus();
  }

  // ---- pages ----

  // collect reads every page of a listing, up to max items.
  async function collect(path, field, max) {
    const items = [];
    let token = "", more = false;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const body = await api(path + sep + "pageSize=500" + (token ? "&pageToken=" + encodeURIComponent(token) : ""));
      items.push(...(body[field] || []));
      token = body.nextPageToken || "";
      more = token !== "" && items.length >= max;
    } while (token && items.length < max);
    return { items, more };
  }

  async function overview() {
    const cp = await api("/v1/checkpoint");
    const witnesses = cp.witnesses || [];
    const out = [h("h1", {}, "Overview")];
    out.push(h("div", { class: "card", id: "checkpoint" },
      h("h2", {}, "Latest checkpoint"),
      kv([["Log (origin)", h("code", {}, cp.origin)],
        ["Tree size", h("span", { id: "tree-size" }, cp.treeSize, " entries (records in the log; every proof is against this size)")],
        ["Root hash", h("code", {}, cp.rootHash)],
        ["Witnesses", witnesses.length ? "" : "none configured: this server's checkpoints are signed by the log alone"]]),
      witnesses.length ? table(["Witness", "Cosigned", "Tree size", "Last success", "Error"], witnesses.map((w) =>
        h("tr", {}, h("td", {}, w.name), h("td", {}, w.cosigned ? "yes" : "no"), h("td", {}, w.treeSize),
          h("td", {}, time(w.lastSuccess)), h("td", {}, w.error)))) : null,
      h("h3", {}, "Signed note"), h("pre", {}, cp.checkpoint),
      cp.cosignedCheckpoint ? [h("h3", {}, "Cosigned checkpoint"), h("pre", {}, cp.cosignedCheckpoint)] : null));
    if (!S.mode) {
      out.push(needsSignIn());
      return out;
    }
    const [lots, flags, parties] = await Promise.all([
      collect("/v1/lots", "lots", 10000), collect("/v1/flags", "flags", 10000), api("/v1/parties")]);
    const byVerdict = {};
    for (const l of lots.items) byVerdict[verdictName(l.verdict)] = (byVerdict[verdictName(l.verdict)] || 0) + 1;
    const plus = (r) => (r.more ? "+" : "");
    const stat = (id, n, label, href) => h("div", { class: "card" }, h("div", { class: "stat", id }, n), h("a", { href }, label));
    out.push(h("div", { class: "grid", id: "counts" },
      stat("count-lots", lots.items.length + plus(lots), "lots you may read", "#/lots"),
      stat("count-verified", (byVerdict.VERIFIED || 0) + plus(lots), "verified", "#/lots?verdict=VERDICT_VERIFIED"),
      stat("count-flagged", (byVerdict.FLAGGED || 0) + plus(lots), "flagged", "#/lots?verdict=VERDICT_FLAGGED"),
      stat("count-flags", flags.items.length + plus(flags), "flags", "#/flags"),
      stat("count-parties", (parties.parties || []).length, "parties", "#/parties")));
    const recent = flags.items.slice().sort((a, b) => Number(b.index) - Number(a.index) || (b.eventTime || "").localeCompare(a.eventTime || "")).slice(0, 10);
    out.push(h("h2", {}, "Recent flags"), recent.length ? flagTable(recent, "recent-flags") : h("p", { class: "muted" }, "No flags."));
    out.push(glossary());
    return out;
  }

  // glossary shows the report's glossary (report.Glossary, served as
  // /console/glossary.json): the words the lot reports define.
  function glossary() {
    return h("div", { class: "card", id: "glossary" }, h("h2", {}, "Words"),
      kv(S.glossary.map((t) => [t.name.charAt(0).toUpperCase() + t.name.slice(1), t.definition])));
  }

  function flagTable(flags, id) {
    const rule = (r) => S.rules.find((x) => x.id === r);
    return table(["Time", "Severity", "Rule", "Lot", "Party", "What", "Index"], flags.map((f) =>
      h("tr", corrected(f) ? { "data-rule": f.rule, "data-lot": f.lotId, "data-corrected": "true", class: "corrected" } : { "data-rule": f.rule, "data-lot": f.lotId },
        h("td", {}, time(f.eventTime)), h("td", {}, sevBadge(f.severity)),
        h("td", { title: (rule(f.rule) || {}).explain || "" }, h("code", { class: "nobreak" }, f.rule), corrected(f) ? [" ", correctedBadge(f)] : null),
        h("td", {}, f.lotId ? lotLink(f.lotId) : ""), h("td", {}, partyLink(f.partyId)),
        h("td", {}, f.message), h("td", {}, f.index))), { id });
  }

  function select(name, value, options) {
    return h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
  }
  function filterForm(fields, params, base) {
    const form = h("form", { class: "filters", id: "filters", onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form)) {
        if (!v) continue;
        if (k === "since" || k === "until") q.set(k, new Date(v + "Z").toISOString());
        else q.set(k, v);
      }
      location.hash = base + (q.toString() ? "?" + q : "");
    } }, fields, h("button", { class: "primary", type: "submit" }, "Apply"), h("a", { href: "#" + base }, "clear"));
    return form;
  }
  function pager(base, params, next, shown) {
    const q = new URLSearchParams(params);
    const parts = [h("span", { class: "muted" }, shown + " shown")];
    if (params.get("pageToken")) parts.push(h("button", { id: "page-prev", onclick: () => history.back() }, "← Previous"));
    if (next) {
      q.set("pageToken", next);
      parts.push(h("a", { id: "page-next", href: "#" + base + "?" + q }, "Next page →"));
    }
    return h("div", { class: "pager" }, parts);
  }

  async function lots(_, params) {
    if (!S.mode) return [h("h1", {}, "Lots"), needsSignIn()];
    const q = new URLSearchParams();
    for (const k of ["holderPartyId", "product", "verdict", "rule", "pageToken"]) if (params.get(k)) q.set(k, params.get(k));
    q.set("pageSize", params.get("pageSize") || "50");
    const body = await api("/v1/lots?" + q);
    let rows = body.lots || [];
    const search = (params.get("q") || "").toLowerCase();
    if (search) rows = rows.filter((l) => l.lot.lotId.toLowerCase().includes(search));
    const form = filterForm([
      h("label", {}, "Lot id contains (this page)", h("input", { name: "q", value: params.get("q") || "", size: 14 })),
      h("label", {}, "Holder", h("input", { name: "holderPartyId", value: params.get("holderPartyId") || "", size: 16 })),
      h("label", {}, "Product", select("product", params.get("product") || "", [["", "any"], ["PRODUCT_ORE", "ore"], ["PRODUCT_CONCENTRATE", "concentrate"], ["PRODUCT_TRIOXIDE", "trioxide"], ["PRODUCT_METAL", "metal"]])),
      h("label", {}, "Verdict", select("verdict", params.get("verdict") || "", [["", "any"], ["VERDICT_VERIFIED", "verified"], ["VERDICT_FLAGGED", "flagged"], ["VERDICT_INVALID", "invalid"]])),
      h("label", {}, "Rule", select("rule", params.get("rule") || "", [["", "any"]].concat(S.rules.map((r) => [r.id, r.id])))),
      h("label", {}, "Per page", select("pageSize", params.get("pageSize") || "50", [["10", "10"], ["50", "50"], ["200", "200"]])),
    ], params, "/lots");
    const go = h("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); const v = ev.target.elements.lot.value.trim(); if (v) location.hash = "/lot/" + encodeURIComponent(v); } },
      h("label", {}, "Open a lot by id", h("input", { name: "lot", id: "lot-goto", size: 16 })), h("button", { type: "submit" }, "Open"));
    return [h("h1", {}, "Lots"), go, form,
      status(body, "verdicts"),
      table(["Lot", "Product", "Holder", "Mass", "Sb grade", "Verdict", "Rules", "State"], rows.map((l) => {
        const s = l.lot;
        return h("tr", { "data-lot": s.lotId, "data-verdict": verdictName(l.verdict) },
          h("td", {}, lotLink(s.lotId)), h("td", {}, strip(s.product, "PRODUCT_").toLowerCase()),
          h("td", {}, partyLink(s.holderPartyId)), h("td", {}, kg(s.massKg)), h("td", {}, s.sbGradePct + " %"),
          h("td", {}, badge(l.verdict), l.unreadRecords ? h("span", { class: "muted unread" }, " before " + l.unreadRecords + " of its records") : null),
          h("td", { class: "rules" }, (l.rules || []).join(", ")),
          h("td", {}, s.consumed ? "used up" : s.inTransitTo ? "in transit to " + s.inTransitTo : ""));
      }), { id: "lots-table" }),
      pager("/lots", params, body.nextPageToken, rows.length)];
  }

  // status says a listing of what (its flags, its verdicts) is not
  // complete, if the server says so; with its flag follower off
  // (followerOff) what is unread waits until it runs, as provctl says.
  function status(body, what) {
    const notes = [];
    if (Number(body.unreadRecords)) notes.push(body.unreadRecords + " records not yet checked by the server's verifier");
    if (Number(body.pendingLots)) notes.push(body.pendingLots + " lots awaiting a full verification after a key change");
    if (!notes.length) return null;
    const tail = body.followerOff
      ? ": the server's flag follower is off (provenanced --no-flag-follower, or a nearly full disk), so they wait until it runs; their " + what + " may be missing or out of date."
      : ": the list may change.";
    return h("div", { class: "warnnote", id: "listing-note" }, notes.join("; ") + tail);
  }

  async function flags(_, params) {
    if (!S.mode) return [h("h1", {}, "Flags"), needsSignIn()];
    const q = new URLSearchParams();
    for (const k of ["rule", "partyId", "minSeverity", "lotId", "since", "until", "pageToken"]) if (params.get(k)) q.set(k, params.get(k));
    q.set("pageSize", params.get("pageSize") || "50");
    const body = await api("/v1/flags?" + q);
    const local = (t) => (t ? new Date(t).toISOString().slice(0, 16) : "");
    const form = filterForm([
      h("label", {}, "Rule", select("rule", params.get("rule") || "", [["", "any"]].concat(S.rules.map((r) => [r.id, r.id])))),
      h("label", {}, "Party", h("input", { name: "partyId", value: params.get("partyId") || "", size: 16 })),
      h("label", {}, "Lot", h("input", { name: "lotId", value: params.get("lotId") || "", size: 12 })),
      h("label", {}, "At least", select("minSeverity", params.get("minSeverity") || "", [["", "any severity"], ["SEVERITY_INFO", "info"], ["SEVERITY_WARNING", "warning"], ["SEVERITY_CRITICAL", "critical"]])),
      h("label", {}, "Since (UTC)", h("input", { name: "since", type: "datetime-local", value: local(params.get("since")) })),
      h("label", {}, "Until (UTC)", h("input", { name: "until", type: "datetime-local", value: local(params.get("until")) })),
      h("label", {}, "Per page", select("pageSize", params.get("pageSize") || "50", [["10", "10"], ["50", "50"], ["200", "200"]])),
    ], params, "/flags");
    const fl = body.flags || [];
    return [h("h1", {}, "Flags"), form, rulesHelp(params.get("rule")), status(body, "flags"), fl.length ? flagTable(fl, "flags-table") : h("p", { class: "muted", id: "flags-table" }, "No flags match."),
      pager("/flags", params, body.nextPageToken, fl.length)];
  }

  // rulesHelp explains the rules in the report's words (report.Explain,
  // in /console/rules.json): the rule filtered on, or every rule, folded.
  function rulesHelp(selected) {
    const row = (r) => h("div", { class: "flag " + sevName(r.severity), "data-rule": r.id },
      h("div", {}, h("b", {}, r.id), " · up to ", sevBadge(r.severity), " · ", h("span", { class: "muted" }, r.description)),
      h("div", { class: "explain" }, r.explain));
    const one = S.rules.find((r) => r.id === selected);
    if (one) return h("div", { id: "rules-help" }, row(one));
    return h("details", { id: "rules-help" }, h("summary", {}, "What each rule flags"), S.rules.map(row));
  }

  async function parties() {
    if (!S.mode) return [h("h1", {}, "Parties"), needsSignIn()];
    const body = await api("/v1/parties");
    return [h("h1", {}, "Parties"), table(["Party", "Name", "Roles", "Country", "Keys"], (body.parties || []).map((p) => {
      const r = p.registration || {};
      return h("tr", { "data-party": r.partyId }, h("td", {}, partyLink(r.partyId)), h("td", {}, r.name),
        h("td", {}, (r.roles || []).map((x) => strip(x, "ROLE_").toLowerCase()).join(", ")), h("td", {}, r.country),
        h("td", {}, (p.keys || []).length));
    }), { id: "parties-table" })];
  }

  function keyTable(keys, signed) {
    return table(["Key id", "Public key", "From", "Until", "Status"], (keys || []).map((k) =>
      h("tr", { "data-key": k.keyId }, h("td", {}, h("code", {}, k.keyId)), h("td", {}, h("code", {}, k.publicKey)),
        h("td", {}, time(k.notBefore)), h("td", {}, time(k.notAfter)),
        h("td", {}, k.revoked ? "revoked at " + time(k.revokedAt) + " (index " + k.revokedIndex + ")" : "valid",
          signed && signed.has(k.keyId) ? " · signed records of this lot" : ""))));
  }

  async function party(id) {
    if (!S.mode) return [h("h1", {}, "Party " + id), needsSignIn()];
    const body = await api("/v1/parties/" + encodeURIComponent(id));
    const p = body.party || {}, r = p.registration || {};
    const out = [h("h1", {}, r.name || id), h("div", { class: "card", id: "party" }, kv([
      ["Party id", h("code", {}, r.partyId)], ["Roles", (r.roles || []).map((x) => strip(x, "ROLE_").toLowerCase()).join(", ")],
      ["Country", r.country], r.site ? ["Site", (r.site.name || "") + " (" + r.site.lat + ", " + r.site.lon + ")"] : null,
      r.licence ? ["Licence", r.licence] : null,
      r.mine ? ["Mine", (r.mine.deposit || "") + "; licensed for " + kg(r.mine.annualOreCapacityKg) + " of ore a year, grade " + r.mine.gradeMinPct + "-" + r.mine.gradeMaxPct + " %"] : null,
      ["Registration record", h("code", {}, p.registrationRecord)],
      ["Flags naming it", h("a", { href: "#/flags?partyId=" + encodeURIComponent(id) }, "flags of " + id)]])),
    h("h2", {}, "Keys"), keyTable(p.keys)];
    if ((p.keys || []).length === 0) out.push(h("p", { class: "muted" }, "Its keys are shown to the party itself, the registrar and auditors."));
    try {
      const l = await api("/v1/parties/" + encodeURIComponent(id) + "/lots");
      out.push(h("h2", {}, "Lots it holds or held"), table(["Lot", "Product", "Holder", "Mass"], (l.lots || []).map((s) =>
        h("tr", { "data-lot": s.lotId }, h("td", {}, lotLink(s.lotId)), h("td", {}, strip(s.product, "PRODUCT_").toLowerCase()),
          h("td", {}, partyLink(s.holderPartyId)), h("td", {}, kg(s.massKg)))), { id: "party-lots" }));
    } catch (e) {
      out.push(h("h2", {}, "Lots"), errorBox(e));
    }
    return out;
  }


  // ---- the lot's report: the compliance file's page, from the module ----

  // The report's HTML (report.Fragment, rendered by the verifier module
  // from the bundle it verified) is written by html/template, which
  // escapes every signer's string, and holds no script. The page still
  // never hands it to innerHTML: it parses it in an inert document
  // (DOMParser: nothing there loads or runs), refuses it if it holds
  // anything but the report's own elements (no script, no handler, no
  // style attribute, no link out of the page), and moves the nodes in.
  // The Content-Security-Policy allows its one style element by hash.
  const reportTags = new Set(["div", "style", "article", "header", "section", "h1", "h2", "h3", "p", "strong", "span", "br",
    "dl", "dt", "dd", "ul", "li", "table", "tbody", "thead", "tr", "th", "td", "a", "figure", "figcaption",
    "svg", "defs", "marker", "path", "g", "title", "text", "rect", "line", "polyline", "circle"]);
  function reportNodes(html) {
    const doc = new DOMParser().parseFromString("<!doctype html><html><body>" + html, "text/html");
    for (const el of doc.body.querySelectorAll("*")) {
      if (!reportTags.has(el.localName)) throw new Error("the report holds a <" + el.localName + "> element: not shown");
      for (const a of el.attributes) {
        const n = a.name.toLowerCase();
        if (n.startsWith("on") || n === "style" || n === "src" || n.endsWith(":href") || (n === "href" && !a.value.startsWith("#"))) {
          throw new Error("the report holds a " + a.name + " attribute on <" + el.localName + ">: not shown");
        }
      }
    }
    const styles = doc.body.querySelectorAll("style");
    if (styles.length !== 1) throw new Error("the report holds " + styles.length + " style elements, want 1: not shown");
    return [...doc.body.childNodes].map((n) => document.adoptNode(n));
  }

  // ---- the lot page and the browser's own verification ----

  // pinnedKeys returns the keys the browser verifies with and where they
  // came from: the user's (localStorage, kept across visits as provctl
  // keeps PROVCTL_LOG_KEY) or the server's.
  function pinnedKeys() {
    const logKey = localStorage.getItem("console.pin.logKey");
    const reg = localStorage.getItem("console.pin.registrarPem");
    if (logKey && reg) return { source: "pinned", logKey, registrarPem: reg, witnessPolicy: localStorage.getItem("console.pin.policy") || "" };
    return { source: "server", logKey: S.serverKeys.logKey, registrarPem: S.serverKeys.registrarPem, witnessPolicy: "" };
  }

  function keysPanel(keys, onchange) {
    // The boxes start empty until the user pins keys: prefilled with the
    // server's, one click pinned the server's own keys as "yours" (a
    // cold review).
    const pinned = keys.source === "pinned";
    const logKey = h("textarea", { id: "pin-log", rows: 2, placeholder: "paste the log key you received out of band (DATA/log.pub)" }, pinned ? keys.logKey : "");
    const reg = h("textarea", { id: "pin-registrar", rows: 4, placeholder: "paste the first registrar key you received out of band (DATA/registrar.pub)" }, pinned ? keys.registrarPem : "");
    const pinError = h("p", { class: "error", id: "pin-error" });
    const pol = h("textarea", { id: "pin-policy", rows: 3, placeholder: "optional: a witness policy (provctl --witness-policy file)" }, keys.witnessPolicy);
    const same = keys.logKey.trim() === S.serverKeys.logKey.trim() && keys.registrarPem.trim() === S.serverKeys.registrarPem.trim();
    return h("div", { class: "card", id: "keys", "data-source": keys.source },
      h("h2", {}, "Keys this browser verified with"),
      keys.source === "pinned"
        ? h("div", { class: "note", id: "keys-source" }, "Pinned by you (kept in this browser). The browser's verdict rests on these keys, as far as this page's code can be trusted (README, \"Web console\").",
          same ? " They are the keys this server reports: that says nothing unless you compared them with keys you received out of band." : " They differ from the keys this server reports.")
        : h("div", { class: "warnnote", id: "keys-source" }, "Taken from this server (/console/server-keys.json): NOT independent. " +
          "A server that lies about its own keys can make any bundle verify. Pin the log key (DATA/log.pub) and the first registrar key " +
          "(DATA/registrar.pub) that you received out of band: only pinned keys make this verdict independent."),
      h("div", { class: "field" }, "Log verifier key", logKey),
      h("div", { class: "field" }, "First registrar public key (PEM)", reg),
      h("div", { class: "field" }, "Witness policy", pol),
      h("p", {},
        h("button", { id: "pin-save", class: "primary", onclick: () => {
          if (!logKey.value.trim() || !reg.value.trim()) {
            pinError.textContent = "Paste both keys, as you received them out of band, before pinning.";
            return;
          }
          localStorage.setItem("console.pin.logKey", logKey.value.trim());
          localStorage.setItem("console.pin.registrarPem", reg.value.trim() + "\n");
          localStorage.setItem("console.pin.policy", pol.value.trim());
          onchange();
        } }, "Pin these keys and verify again"), " ",
        h("button", { id: "pin-forget", onclick: () => {
          for (const k of ["logKey", "registrarPem", "policy"]) localStorage.removeItem("console.pin." + k);
          onchange();
        } }, "Forget pinned keys")), pinError);
  }

  // bar is one part of a bar chart; its width is set through the CSSOM,
  // which the Content-Security-Policy allows (style attributes it does not).
  function bar(cls, share) {
    const el = h("div", { class: cls });
    el.style.width = (Math.min(1, Math.max(0, share)) * 100).toFixed(2) + "%";
    return el;
  }

  // agreement compares the browser's report with the server's: the
  // verdict, the rules raised (by the flags that count, rulesRaised, as
  // "Rules raised here" shows) and the untraced share (a server that kept
  // the verdict but dropped a flag differs; a cold review found the page
  // saying it agreed).
  function agreement(v, rep, server) {
    const rules = rulesRaised;
    const diffs = [];
    if (v !== verdictName(server.verdict)) diffs.push("verdict " + verdictName(server.verdict));
    if (rules(rep) !== rules(server)) diffs.push("rules raised: " + rules(server));
    if (Math.abs(Number(rep.untracedShare || 0) - Number(server.untracedShare || 0)) > 1e-9) diffs.push("untraced share " + pct(Number(server.untracedShare || 0)));
    return diffs.length === 0
      ? h("p", { class: "muted", id: "agreement", "data-agrees": "true" }, "Agrees with the server: the same verdict, rules raised and untraced share.")
      : h("p", { class: "error", id: "agreement", "data-agrees": "false" }, "Differs from the server's report (" + diffs.join("; ") + ").");
  }

  function reportSummary(rep, idp) {
    const untraced = Number(rep.untracedShare || 0);
    return [
      kv([["Records", rep.records], ["Checkpoint", "tree size " + rep.treeSize + ", signed " + time(rep.checkpointTime)],
        ["Holder", partyLink(rep.holderPartyId)], ["Mass", kg(rep.massKg)],
        ["Contained Sb", h("span", { id: idp + "-sb" }, kg(rep.containedSbKg))],
        ["Untraced share", h("span", { id: idp + "-untraced", "data-share": String(untraced) }, pct(untraced))],
        (rep.witnessedBy || []).length ? ["Witnessed by", rep.witnessedBy.join(", ")] : null]),
      h("div", { class: "bar", title: "traced / untraced contained Sb" }, bar("traced", 1 - untraced), bar("untraced", untraced)),
    ];
  }

  function recordType(st) {
    for (const k of Object.keys(st || {})) if (!["partyId", "eventTime", "note"].includes(k)) return k;
    return "";
  }
  function recordSummary(st) {
    const t = recordType(st), b = st[t] || {};
    const lotsOf = (xs) => (xs || []).map((x) => x.lotId + (x.massKg ? " " + kg(x.massKg) : "")).join(", ");
    switch (t) {
      case "transformation": return strip(b.kind, "TRANSFORMATION_KIND_").toLowerCase() + ": " + lotsOf(b.inputs) + " → " + lotsOf(b.outputs);
      case "registration": return "registers " + (b.partyId || "") + (b.name ? " (" + b.name + ")" : "");
      default: {
        const parts = [];
        for (const [k, v] of Object.entries(b)) {
          if (v === null || typeof v === "object") continue;
          parts.push(k + " " + v);
        }
        return parts.slice(0, 6).join(", ");
      }
    }
  }

  async function lot(id) {
    if (!S.mode) return [h("h1", {}, "Lot " + id), needsSignIn()];
    const enc = encodeURIComponent(id);
    const [lotBody, ver] = await Promise.all([api("/v1/lots/" + enc), api("/v1/lots/" + enc + "/verification")]);
    const server = ver.report || {};
    const s = lotBody.lot || {};
    const title = "This browser's verdict";
    const browserBox = h("div", { class: "card", id: "browser-verdict", "data-state": "running" }, h("h2", {}, title), h("p", { class: "muted" }, "Verifying the bundle…"));
    // The report of the browser's own verification: the page's body, and
    // what Print prints. Its evidence links go to its own timeline rows,
    // not to the router.
    const reportBox = h("div", { class: "card", id: "report", "data-state": "running", onclick: (ev) => {
      const a = ev.target.closest && ev.target.closest('a[href^="#"]');
      if (!a || !reportBox.contains(a)) return;
      ev.preventDefault();
      const target = document.getElementById(a.getAttribute("href").slice(1));
      if (target && reportBox.contains(target)) {
        target.scrollIntoView({ block: "center" });
        for (const x of reportBox.querySelectorAll(".evidence-target")) x.classList.remove("evidence-target");
        target.classList.add("evidence-target");
      }
    } }, h("p", { class: "muted" }, "The report appears here once this browser has verified the lot's bundle…"));
    const printButton = h("button", { id: "print", class: "noprint", disabled: true, title: "Print the report below (the compliance file's page), without the console around it", onclick: () => window.print() }, "Print");
    const keysBox = h("div", { class: "noprint" });
    const recordsBox = h("div", { id: "records" }, h("p", { class: "muted" }, "Reading the bundle…"));
    const partiesBox = h("div", { id: "lot-parties" });

    function failed(box, ...kids) {
      fill(box, kids);
      box.dataset.state = "error";
      printButton.disabled = true;
    }

    async function verifyHere() {
      const keys = pinnedKeys();
      fill(keysBox, keysPanel(keys, () => verifyHere()));
      browserBox.dataset.state = "running";
      reportBox.dataset.state = "running";
      printButton.disabled = true; // until the report of these keys is shown
      let bundleText;
      try {
        bundleText = await apiText("/v1/lots/" + enc + "/bundle");
      } catch (e) {
        failed(reportBox, h("p", { class: "muted" }, "No report: the bundle could not be fetched."));
        failed(browserBox, h("h2", {}, title), errorBox(e));
        return;
      }
      const p = await wasm;
      const r = p.verify(id, bundleText, keys.logKey, keys.registrarPem, keys.witnessPolicy, keys.source);
      if (r.error) {
        failed(reportBox, h("p", { class: "muted" }, "No report: the verifier module did not run."));
        failed(browserBox, h("h2", {}, title), h("div", { class: "error" }, r.error));
        return;
      }
      if (r.readError) {
        failed(reportBox, h("p", {}, "No report: the bundle could not be read."));
        fill(browserBox, h("h2", {}, title), h("p", {}, h("span", { class: "badge big v-INVALID", "data-verdict": "INVALID" }, "INVALID")),
          h("p", {}, "The bundle could not be read: " + r.readError));
        browserBox.dataset.state = "done"; browserBox.dataset.verdict = "INVALID";
        return;
      }
      const rep = JSON.parse(r.report);
      const v = verdictName(rep.verdict);
      try {
        fill(reportBox, reportNodes(r.fragment));
        reportBox.dataset.state = "done";
        printButton.disabled = false;
      } catch (e) {
        failed(reportBox, h("div", { class: "error" }, e.message));
      }
      fill(browserBox, h("h2", {}, title),
        h("p", {}, h("span", { class: "badge big v-" + v, "data-verdict": v }, v), " ",
          keys.source === "pinned" ? "with the keys you pinned" : "with the server's own keys (not independent: see below)"),
        agreement(v, rep, server),
        // An INVALID report's figures are of a bundle that did not verify:
        // not shown, so nobody reads them as the lot's.
        v === "INVALID" ? null : reportSummary(rep, "browser"),
        (rep.errors || []).length ? [h("h3", {}, "Why it did not verify"), h("ul", { id: "browser-errors" }, rep.errors.map((e) => h("li", {}, e)))] : null,
        h("p", { class: "muted" }, "Rules raised here: ", h("span", { id: "browser-rules" }, rulesRaised(rep)),
          (rep.flags || []).some(corrected) ? h("span", { id: "browser-corrected" }, " (not counting " + (rep.flags || []).filter(corrected).length + " flag(s) withdrawn by a correction)") : null),
        h("p", { class: "muted" }, "The report below is this verification's: each flag explained, with its evidence."));
      browserBox.dataset.state = "done";
      browserBox.dataset.verdict = v;
      browserBox.dataset.untraced = String(Number(rep.untracedShare || 0));
      // The records, decoded in the browser from the bundle it verified.
      const recs = JSON.parse(r.records || "[]");
      const evidence = new Set((rep.flags || []).flatMap((f) => f.evidence || []));
      const signedBy = new Set(recs.flatMap((x) => x.keyIds || []));
      fill(recordsBox, h("details", {}, h("summary", {}, recs.length + " records of the bundle (the lot, its ancestry and the registrations), decoded in this browser"),
        table(["Index", "Record", "Type", "Party", "Event time", "What"], recs.map((x) => {
          const st = x.statement || {};
          return h("tr", { "data-record": x.id || "", "data-index": x.index },
            h("td", {}, x.index), h("td", {}, h("code", { title: x.id }, short(x.id)), evidence.has(x.id) ? " (evidence)" : ""),
            h("td", {}, x.leafOnly ? "leaf only" : x.error ? "unreadable" : recordType(st)), h("td", {}, partyLink(st.partyId)), h("td", {}, time(st.eventTime)),
            h("td", {}, x.leafOnly ? "another party's record, withheld: the bundle carries only its leaf, whose committed running totals the volume and capacity rules read" : x.error || recordSummary(st)));
        }), { id: "records-table" })));
      // Parties of the records, with their keys.
      const ids = [...new Set(recs.map((x) => (x.statement || {}).partyId).filter((x) => x && !notParty(x)))].sort();
      const rows = [];
      for (const pid of ids) {
        try {
          const pb = (await api("/v1/parties/" + encodeURIComponent(pid))).party || {};
          const reg = pb.registration || {};
          rows.push(h("div", { class: "card", "data-party": pid }, h("h3", {}, partyLink(pid), " ", reg.name || "", " · ", (reg.roles || []).map((x) => strip(x, "ROLE_").toLowerCase()).join(", "), " · ", reg.country || ""),
            (pb.keys || []).length ? keyTable(pb.keys, signedBy) : h("p", { class: "muted" }, "keys not shown to you")));
        } catch (e) {
          rows.push(h("div", { class: "card", "data-party": pid }, h("h3", {}, pid), errorBox(e)));
        }
      }
      fill(partiesBox, rows);
    }

    const page = [
      h("div", { class: "titlebar" }, h("h1", {}, "Lot ", h("span", { id: "lot-id" }, id)), printButton),
      h("div", { class: "card noprint" }, kv([["Product", strip(s.product, "PRODUCT_").toLowerCase()], ["Holder", partyLink(s.holderPartyId)],
        ["Mass", kg(s.massKg)], ["Sb grade", s.sbGradePct + " %"], ["Latest record", h("code", {}, s.head)],
        s.inTransitTo ? ["In transit to", partyLink(s.inTransitTo)] : null, s.consumed ? ["State", "used up (split, merged or smelted into other lots)"] : null,
        (s.namedLabs || []).length ? ["Labs named", s.namedLabs.join(", ")] : null])),
      h("div", { class: "cols2 noprint" },
        h("div", { class: "card", id: "server-verdict", "data-verdict": verdictName(server.verdict), "data-untraced": String(Number(server.untracedShare || 0)) },
          h("h2", {}, "The server's verdict"), h("p", {}, h("span", { class: "badge big v-" + verdictName(server.verdict), "data-verdict": verdictName(server.verdict) }, verdictName(server.verdict)), " as the server's verifier computed it"),
          reportSummary(server, "server"),
          (server.errors || []).length ? h("ul", {}, server.errors.map((e) => h("li", {}, e))) : null),
        browserBox),
      reportBox,
      // The keys panel before the parties, which load last: a click on it
      // does not land elsewhere as they fill in above it.
      keysBox,
      h("div", { class: "noprint" },
        h("h2", {}, "Custody records"), recordsBox,
        h("h2", {}, "Parties and their keys"), partiesBox),
    ];
    verifyHere().catch((e) => {
      failed(reportBox, h("p", { class: "muted" }, "No report."));
      failed(browserBox, h("h2", {}, title), errorBox(e));
    });
    return page;
  }

  // ---- router ----

  const routes = [
    [/^\/?$/, overview, "overview"],
    [/^\/lots$/, lots, "lots"],
    [/^\/lot\/(.+)$/, lot, "lots"],
    [/^\/flags$/, flags, "flags"],
    [/^\/parties$/, parties, "parties"],
    [/^\/party\/(.+)$/, party, "parties"],
  ];
  let seq = 0;
  async function route() {
    const raw = location.hash.replace(/^#/, "") || "/";
    const i = raw.indexOf("?");
    const path = i < 0 ? raw : raw.slice(0, i);
    const params = new URLSearchParams(i < 0 ? "" : raw.slice(i + 1));
    const n = ++seq;
    main.dataset.state = "loading";
    main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    let page = null;
    for (const [re, fn, nav] of routes) {
      const m = path.match(re);
      if (!m) continue;
      for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === nav);
      try {
        const out = await fn(m[1] ? decodeURIComponent(m[1]) : "", params);
        page = [].concat(out);
      } catch (e) {
        page = [errorBox(e)];
        if (n === seq) main.dataset.state = "error";
      }
      break;
    }
    if (n !== seq) return;
    if (!page) page = [h("h1", {}, "Not found"), h("p", {}, "No page at " + path + ".")];
    main.replaceChildren(h("div", {}, page));
    document.title = (main.querySelector("h1") || {}).textContent + " · Antimony provenance ledger";
    if (main.dataset.state !== "error") main.dataset.state = "ready";
  }

  async function start() {
    loadWasm();
    const [keys, rules, words] = await Promise.all(["/console/server-keys.json", "/console/rules.json", "/console/glossary.json"].map((u) => fetch(u).then((r) => r.json())));
    S.serverKeys = keys; S.origin = keys.origin; S.rules = rules; S.glossary = words;
    await restoreSession();
    renderWho();
    window.addEventListener("hashchange", route);
    route();
  }
  start();
})();
