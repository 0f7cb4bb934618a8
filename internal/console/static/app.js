// The ledger's web console: a client-side router over the REST API
// (/v1/...), with the buyer's verifier and the bearer tokens in the
// WebAssembly module (console.wasm, see ../wasm/main.go). No framework and
// nothing from another origin; pages are built with the DOM, never from
// HTML strings, so what the ledger holds is always shown as text.
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
  // A key is kept in the WebAssembly module's memory and, so that a
  // reload does not sign the user out, as PEM in this tab's
  // sessionStorage (gone when the tab closes); it is sent nowhere.

  const S = { mode: "", party: "", keyId: "", token: "", tokenExp: 0, origin: "", serverKeys: null, rules: [] };
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
    store.setItem("console.party", party);
    store.setItem("console.pem", pem);
    store.removeItem("console.token");
  }
  function signInWithToken(tok) {
    const c = tokenClaims(tok);
    if (!c.party || !c.expires) throw new Error("this is not a token from provctl token");
    if (Number(c.expires) * 1000 < Date.now()) throw new Error("this token expired at " + new Date(Number(c.expires) * 1000).toISOString());
    S.mode = "token"; S.party = c.party; S.keyId = ""; S.token = tok; S.tokenExp = Number(c.expires);
    store.setItem("console.token", tok);
    store.removeItem("console.pem");
    store.setItem("console.party", c.party);
  }
  function signOut() {
    if (window.provenance) window.provenance.forgetKey();
    S.mode = ""; S.party = ""; S.keyId = ""; S.token = ""; S.tokenExp = 0;
    store.removeItem("console.pem"); store.removeItem("console.token"); store.removeItem("console.party");
  }
  async function restoreSession() {
    const pem = store.getItem("console.pem"), party = store.getItem("console.party"), tok = store.getItem("console.token");
    try {
      if (pem && party) await signInWithKey(party, pem);
      else if (tok) signInWithToken(tok);
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
        "(the same code as provctl token), keeps it in this tab's memory and session storage, and never sends it anywhere. " +
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

  function glossary() {
    return h("div", { class: "card" }, h("h2", {}, "Words"), kv([
      ["Contained Sb", "the antimony in a lot: its mass times its Sb grade, carried through every split, merge and smelting step."],
      ["Untraced share", "the part of a lot's contained Sb that no extraction by a registered mine accounts for (for example a merge that outputs more Sb than went in): material of unknown origin."],
      ["Tree size", "how many records the log held when it signed the checkpoint; proofs and bundles are of that size."],
      ["Verdict", "VERIFIED: every signature, proof and rule passed; FLAGGED: the records are genuine but a rule raised a flag; INVALID: the bundle could not be verified (a signature, proof or key failed)."]]));
  }

  function flagTable(flags, id) {
    const rule = (r) => S.rules.find((x) => x.id === r);
    return table(["Time", "Severity", "Rule", "Lot", "Party", "What", "Index"], flags.map((f) =>
      h("tr", { "data-rule": f.rule, "data-lot": f.lotId },
        h("td", {}, time(f.eventTime)), h("td", {}, sevBadge(f.severity)),
        h("td", { title: (rule(f.rule) || {}).description || "" }, h("code", { class: "nobreak" }, f.rule)),
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
      status(body),
      table(["Lot", "Product", "Holder", "Mass", "Sb grade", "Verdict", "Rules", "State"], rows.map((l) => {
        const s = l.lot;
        return h("tr", { "data-lot": s.lotId, "data-verdict": verdictName(l.verdict) },
          h("td", {}, lotLink(s.lotId)), h("td", {}, strip(s.product, "PRODUCT_").toLowerCase()),
          h("td", {}, partyLink(s.holderPartyId)), h("td", {}, kg(s.massKg)), h("td", {}, s.sbGradePct + " %"),
          h("td", {}, badge(l.verdict)), h("td", { class: "rules" }, (l.rules || []).join(", ")),
          h("td", {}, s.consumed ? "used up" : s.inTransitTo ? "in transit to " + s.inTransitTo : ""));
      }), { id: "lots-table" }),
      pager("/lots", params, body.nextPageToken, rows.length)];
  }

  function status(body) {
    const notes = [];
    if (Number(body.unreadRecords)) notes.push(body.unreadRecords + " records not yet checked by the server's verifier");
    if (Number(body.pendingLots)) notes.push(body.pendingLots + " lots awaiting a full verification after a key change");
    return notes.length ? h("div", { class: "warnnote" }, notes.join("; ") + ": the list may change.") : null;
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
    return [h("h1", {}, "Flags"), form, status(body), fl.length ? flagTable(fl, "flags-table") : h("p", { class: "muted", id: "flags-table" }, "No flags match."),
      pager("/flags", params, body.nextPageToken, fl.length)];
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


  // ---- the route map: SVG drawn from internal/refdata, no tiles ----

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
    for (const k of kids.flat()) if (k !== null && k !== undefined) el.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    return el;
  }

  // locations returns every {lat, lon} object in a statement, in order.
  function locations(v, out) {
    out = out || [];
    if (Array.isArray(v)) for (const x of v) locations(x, out);
    else if (v && typeof v === "object") {
      if (typeof v.lat === "number" && typeof v.lon === "number") out.push(v);
      else for (const x of Object.values(v)) locations(x, out);
    }
    return out;
  }

  // routeMap draws the lot's records' places (sites, waypoints, receipts)
  // on the border region: the Durand line, the border corridor the
  // BORDER_CORRIDOR rule uses, the crossings and the reference mines.
  function routeMap(geo, recs, flags) {
    const box = { minLat: 23.5, maxLat: 37.5, minLon: 60.5, maxLon: 77.5 };
    const k = 40, cos = Math.cos(((box.minLat + box.maxLat) / 2) * Math.PI / 180);
    const X = (p) => ((p.lon - box.minLon) * cos * k).toFixed(1);
    const Y = (p) => ((box.maxLat - p.lat) * k).toFixed(1);
    const inBox = (p) => p.lat >= box.minLat && p.lat <= box.maxLat && p.lon >= box.minLon && p.lon <= box.maxLon;
    const W = ((box.maxLon - box.minLon) * cos * k).toFixed(0), H = ((box.maxLat - box.minLat) * k).toFixed(0);
    const line = (pts) => pts.map((p) => X(p) + "," + Y(p)).join(" ");
    const border = geo.border || [];
    const corridor = (2 * geo.corridorKm / 111.2) * k; // degrees of latitude, scaled
    const flagged = new Set((flags || []).filter((f) => f.rule === "BORDER_CORRIDOR").flatMap((f) => f.evidence || []));
    const g = [];
    g.push(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#eef3f8" }));
    g.push(svg("polyline", { points: line(border), fill: "none", stroke: "#f0a030", "stroke-opacity": 0.35, "stroke-width": corridor.toFixed(1), "stroke-linecap": "round", "stroke-linejoin": "round" }));
    g.push(svg("polyline", { points: line(border), fill: "none", stroke: "#b3261e", "stroke-width": 2, "stroke-dasharray": "6 4" }));
    g.push(svg("text", { x: 12, y: 24, "font-size": 14, fill: "#5b6475" }, "Afghanistan"));
    g.push(svg("text", { x: Number(W) - 90, y: Number(H) - 16, "font-size": 14, fill: "#5b6475" }, "Pakistan"));
    for (const c of geo.crossings || []) {
      g.push(svg("g", {}, svg("title", {}, "crossing: " + c.name + (c.approximate ? " (position approximate)" : "")),
        svg("rect", { x: Number(X(c)) - 4, y: Number(Y(c)) - 4, width: 8, height: 8, fill: "#b3261e" }),
        svg("text", { x: Number(X(c)) + 7, y: Number(Y(c)) + 4, "font-size": 11, fill: "#b3261e" }, c.name)));
    }
    for (const m of geo.mines || []) {
      if (!inBox(m)) continue;
      g.push(svg("g", {}, svg("title", {}, "reference mine: " + m.name + " (" + m.country + ")"),
        svg("polygon", { points: [X(m) + "," + (Number(Y(m)) - 6), (Number(X(m)) - 5) + "," + (Number(Y(m)) + 4), (Number(X(m)) + 5) + "," + (Number(Y(m)) + 4)].join(" "), fill: "#6b5b95" })));
    }
    let drawn = 0, outside = 0;
    for (const r of recs) {
      const pts = locations(r.statement || {});
      const here = pts.filter(inBox);
      outside += pts.length - here.length;
      if (!here.length) continue;
      const bad = flagged.has(r.id);
      const colour = bad ? "#b3261e" : "#1f4fa0";
      if (here.length > 1) g.push(svg("polyline", { points: line(here), fill: "none", stroke: colour, "stroke-width": 2.5 }));
      for (const p of here) {
        drawn++;
        g.push(svg("g", { "data-point": r.index }, svg("title", {}, "index " + r.index + " " + recordType(r.statement) + (p.name ? ": " + p.name : "") + " (" + p.lat + ", " + p.lon + ")"),
          svg("circle", { cx: X(p), cy: Y(p), r: bad ? 6 : 4.5, fill: colour, stroke: "#fff", "stroke-width": 1.5 })));
      }
    }
    return h("div", { class: "card", id: "route-map", "data-points": drawn },
      h("h2", {}, "Where it went"),
      svg("svg", { viewBox: "0 0 " + W + " " + H, class: "map", role: "img", "aria-label": "map of the lot's places and the border corridor" }, g),
      h("p", { class: "muted" }, "Blue: the places its records name (sites, route waypoints, receipts), joined in each record's order; red: a record flagged BORDER_CORRIDOR. " +
        "Dashed red: the Afghanistan-Pakistan border line (simplified, internal/refdata); orange band: the " + geo.corridorKm + " km border corridor; red squares: border crossings; purple: reference mines." +
        (outside ? " " + outside + " place(s) outside this map (such as the voyage to the US) are not drawn." : "")));
  }


  // custodyGraph draws the lots of the bundle and how they were made from
  // one another: each lot a box (product, mass, contained Sb), each
  // transformation (split, merge, smelting...) arrows from its inputs to
  // its outputs, with the handoffs counted under each box.
  function custodyGraph(recs, lotId, untraced) {
    const lots = new Map(); // id -> {product, mass, grade, steps, depth, inputs}
    const lotOf = (id) => {
      if (!lots.has(id)) lots.set(id, { id, product: "", mass: 0, grade: 0, steps: [], inputs: [], kind: "" });
      return lots.get(id);
    };
    for (const r of recs) {
      const st = r.statement || {};
      const t = recordType(st), b = st[t] || {};
      if (t === "extraction") Object.assign(lotOf(b.lotId), { product: b.product, mass: b.massKg, grade: b.sbGradePct }).steps.push("extracted by " + st.partyId);
      else if (t === "dispatch") { const l = lotOf(b.lotId); l.steps.push("sent to " + b.toPartyId); l.mass = b.massKg || l.mass; }
      else if (t === "receipt") { const l = lotOf(b.lotId); l.steps.push("received by " + st.partyId); l.mass = b.massKg || l.mass; }
      else if (t === "assay" && b.lotId) lotOf(b.lotId).steps.push("assayed");
      else if (t === "transformation") {
        for (const o of b.outputs || []) {
          const l = lotOf(o.lotId);
          Object.assign(l, { product: o.product, mass: o.massKg, grade: o.sbGradePct, kind: strip(b.kind, "TRANSFORMATION_KIND_").toLowerCase() });
          l.inputs.push(...(b.inputs || []).map((i) => i.lotId));
          l.steps.push(l.kind + " by " + st.partyId);
        }
        for (const i of b.inputs || []) lotOf(i.lotId);
      }
    }
    if (lots.size === 0) return null;
    const depth = (l, seen) => {
      if (l.depth !== undefined) return l.depth;
      if (seen.has(l.id)) return 0;
      seen.add(l.id);
      l.depth = l.inputs.length ? 1 + Math.max(...l.inputs.map((i) => depth(lotOf(i), seen))) : 0;
      return l.depth;
    };
    const cols = [];
    for (const l of lots.values()) (cols[depth(l, new Set())] = cols[depth(l, new Set())] || []).push(l);
    const bw = 190, bh = 74, gx = 70, gy = 18;
    const pos = new Map();
    cols.forEach((col, x) => col.forEach((l, y) => pos.set(l.id, { x: 10 + x * (bw + gx), y: 10 + y * (bh + gy) })));
    const W = 20 + cols.length * (bw + gx) - gx, H = 20 + Math.max(...cols.map((c) => c.length)) * (bh + gy) - gy;
    const g = [svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#5b6475" })))];
    for (const l of lots.values()) {
      const p = pos.get(l.id);
      for (const i of l.inputs) {
        const q = pos.get(i);
        if (!q) continue;
        g.push(svg("line", { x1: q.x + bw, y1: q.y + bh / 2, x2: p.x, y2: p.y + bh / 2, stroke: "#5b6475", "stroke-width": 1.5, "marker-end": "url(#arrow)" }));
      }
      if (l.kind && l.inputs.length) g.push(svg("text", { x: p.x - gx + 4, y: p.y + bh / 2 - 6, "font-size": 11, fill: "#5b6475" }, l.kind));
    }
    for (const l of lots.values()) {
      const p = pos.get(l.id), me = l.id === lotId;
      const sb = (l.mass || 0) * (l.grade || 0) / 100;
      g.push(svg("g", { "data-graph-lot": l.id },
        svg("title", {}, l.id + ": " + l.steps.join(", ")),
        svg("rect", { x: p.x, y: p.y, width: bw, height: bh, rx: 5, fill: me ? "#e6eefb" : "#fff", stroke: me ? "#1f4fa0" : "#b9c0cc", "stroke-width": me ? 2 : 1 }),
        svg("text", { x: p.x + 8, y: p.y + 18, "font-size": 13, "font-weight": 600, fill: "#1d2330" }, l.id),
        svg("text", { x: p.x + 8, y: p.y + 35, "font-size": 11, fill: "#1d2330" }, strip(l.product, "PRODUCT_").toLowerCase() + " " + kg(l.mass) + (l.grade ? " at " + l.grade + " %" : "")),
        svg("text", { x: p.x + 8, y: p.y + 51, "font-size": 11, fill: "#1d2330" }, "contained Sb " + kg(sb)),
        svg("text", { x: p.x + 8, y: p.y + 66, "font-size": 11, fill: me && untraced > 0 ? "#b3261e" : "#5b6475" },
          me && untraced > 0 ? "untraced " + pct(untraced) : l.steps.length + " step(s)")));
    }
    return h("div", { class: "card", id: "custody-graph", "data-lots": lots.size },
      h("h2", {}, "How it was made"),
      h("div", { class: "scroll" }, svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": "custody graph" }, g)),
      h("p", { class: "muted" }, "Each box is a lot of the bundle with its declared mass, grade and contained Sb (mass × grade); arrows are splits, merges and smelting, from inputs to outputs. " +
        "Hover a box for its handoffs. The lot of this page is blue" + (untraced > 0 ? "; its untraced share is in red." : ".")));
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
    const logKey = h("textarea", { id: "pin-log", rows: 2 }, keys.logKey);
    const reg = h("textarea", { id: "pin-registrar", rows: 4 }, keys.registrarPem);
    const pol = h("textarea", { id: "pin-policy", rows: 3, placeholder: "optional: a witness policy (provctl --witness-policy file)" }, keys.witnessPolicy);
    const same = keys.logKey.trim() === S.serverKeys.logKey.trim() && keys.registrarPem.trim() === S.serverKeys.registrarPem.trim();
    return h("div", { class: "card", id: "keys", "data-source": keys.source },
      h("h2", {}, "Keys this browser verified with"),
      keys.source === "pinned"
        ? h("div", { class: "note", id: "keys-source" }, "Pinned by you (kept in this browser). The browser's verdict rests on these keys only, not on what this server says.",
          same ? "" : " They differ from the keys this server reports.")
        : h("div", { class: "warnnote", id: "keys-source" }, "Taken from this server (/console/server-keys.json): NOT independent. " +
          "A server that lies about its own keys can make any bundle verify. Pin the log key (DATA/log.pub) and the first registrar key " +
          "(DATA/registrar.pub) that you received out of band: only pinned keys make this verdict independent."),
      h("div", { class: "field" }, "Log verifier key", logKey),
      h("div", { class: "field" }, "First registrar public key (PEM)", reg),
      h("div", { class: "field" }, "Witness policy", pol),
      h("p", {},
        h("button", { id: "pin-save", class: "primary", onclick: () => {
          localStorage.setItem("console.pin.logKey", logKey.value.trim());
          localStorage.setItem("console.pin.registrarPem", reg.value.trim() + "\n");
          localStorage.setItem("console.pin.policy", pol.value.trim());
          onchange();
        } }, "Pin these keys and verify again"), " ",
        h("button", { id: "pin-forget", onclick: () => {
          for (const k of ["logKey", "registrarPem", "policy"]) localStorage.removeItem("console.pin." + k);
          onchange();
        } }, "Forget pinned keys")));
  }

  // bar is one part of a bar chart; its width is set through the CSSOM,
  // which the Content-Security-Policy allows (style attributes it does not).
  function bar(cls, share) {
    const el = h("div", { class: cls });
    el.style.width = (Math.min(1, Math.max(0, share)) * 100).toFixed(2) + "%";
    return el;
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

  function explainUntraced(rep) {
    const u = Number(rep.untracedShare || 0);
    const origins = rep.origins || [];
    return h("div", { class: "card" }, h("h3", {}, "Where its antimony comes from"),
      origins.length ? table(["Mine", "Sb", "Share"], origins.map((o) => h("tr", {}, h("td", {}, partyLink(o.minePartyId)), h("td", {}, kg(o.sbKg)), h("td", {}, pct(o.share))))) : null,
      h("p", {}, u > 0
        ? pct(u) + " of the lot's contained Sb is untraced: no extraction by a registered mine accounts for it, so its origin is unknown."
        : "All of its contained Sb is attributed to extractions by registered mines. This is where the records say it came from; " +
          "a flag such as ASSAY_MISMATCH says the material itself may not match that mine."));
  }

  function flagList(rep, onEvidence) {
    const fl = rep.flags || [];
    if (!fl.length) return h("p", { class: "muted" }, "No flags.");
    return h("div", { id: "lot-flags" }, fl.map((f) => {
      const info = S.rules.find((x) => x.id === f.rule);
      return h("div", { class: "flag " + sevName(f.severity), "data-rule": f.rule },
        h("div", {}, sevBadge(f.severity), " ", h("b", {}, f.rule), " · party ", partyLink(f.partyId), " · ", time(f.eventTime), " · log index ", f.index),
        h("div", {}, f.message),
        info ? h("div", { class: "muted" }, "The rule: " + info.description + ".") : null,
        h("div", {}, "Evidence: ", (f.evidence || []).map((id) => [h("a", { href: "#/lot/" + encodeURIComponent(rep.lotId), "data-evidence": id, onclick: (ev) => { ev.preventDefault(); onEvidence(id); } }, h("code", {}, short(id))), " "])));
    }));
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
    const browserBox = h("div", { class: "card", id: "browser-verdict", "data-state": "running" }, h("h2", {}, "This browser's verdict"), h("p", { class: "muted" }, "Verifying the bundle…"));
    const keysBox = h("div", {});
    const recordsBox = h("div", { id: "records" }, h("p", { class: "muted" }, "Reading the bundle…"));
    const partiesBox = h("div", { id: "lot-parties" });
    const mapBox = h("div", {});
    const showEvidence = (rid) => {
      const row = document.querySelector('[data-record="' + CSS.escape(rid) + '"]');
      if (row) { row.scrollIntoView({ block: "center" }); row.classList.add("rowsep"); }
    };

    async function verifyHere() {
      const keys = pinnedKeys();
      fill(keysBox, keysPanel(keys, () => verifyHere()));
      browserBox.dataset.state = "running";
      let bundleText;
      try {
        bundleText = await apiText("/v1/lots/" + enc + "/bundle");
      } catch (e) {
        fill(browserBox, h("h2", {}, "This browser's verdict"), errorBox(e));
        browserBox.dataset.state = "error";
        return;
      }
      const p = await wasm;
      const r = p.verify(id, bundleText, keys.logKey, keys.registrarPem, keys.witnessPolicy);
      if (r.error) {
        fill(browserBox, h("h2", {}, "This browser's verdict"), h("div", { class: "error" }, r.error));
        browserBox.dataset.state = "error";
        return;
      }
      if (r.readError) {
        fill(browserBox, h("h2", {}, "This browser's verdict"), h("p", {}, h("span", { class: "badge big v-INVALID", "data-verdict": "INVALID" }, "INVALID")),
          h("p", {}, "The bundle could not be read: " + r.readError));
        browserBox.dataset.state = "done"; browserBox.dataset.verdict = "INVALID";
        return;
      }
      const rep = JSON.parse(r.report);
      const v = verdictName(rep.verdict);
      fill(browserBox, h("h2", {}, "This browser's verdict"),
        h("p", {}, h("span", { class: "badge big v-" + v, "data-verdict": v }, v), " ",
          keys.source === "pinned" ? "with the keys you pinned" : "with the server's own keys (not independent: see below)"),
        v === verdictName(server.verdict) ? h("p", { class: "muted" }, "Agrees with the server.") : h("p", { class: "error" }, "Differs from the server's verdict (" + verdictName(server.verdict) + ")."),
        // An INVALID report's figures are of a bundle that did not verify:
        // not shown, so nobody reads them as the lot's.
        v === "INVALID" ? null : reportSummary(rep, "browser"),
        (rep.errors || []).length ? [h("h3", {}, "Why it did not verify"), h("ul", { id: "browser-errors" }, rep.errors.map((e) => h("li", {}, e)))] : null,
        h("p", { class: "muted" }, "Rules raised here: ", h("span", { id: "browser-rules" }, [...new Set((rep.flags || []).map((f) => f.rule))].sort().join(", ") || "none")),
        h("details", {}, h("summary", {}, "Report as text"), h("pre", {}, r.text)));
      browserBox.dataset.state = "done";
      browserBox.dataset.verdict = v;
      browserBox.dataset.untraced = String(Number(rep.untracedShare || 0));
      // The records, decoded in the browser from the bundle it verified.
      const recs = JSON.parse(r.records || "[]");
      const evidence = new Set((server.flags || []).flatMap((f) => f.evidence || []));
      const signedBy = new Set(recs.flatMap((x) => x.keyIds || []));
      fill(recordsBox, table(["Index", "Record", "Type", "Party", "Event time", "What"], recs.map((x) => {
        const st = x.statement || {};
        return h("tr", { "data-record": x.id || "", "data-index": x.index },
          h("td", {}, x.index), h("td", {}, h("code", { title: x.id }, short(x.id)), evidence.has(x.id) ? " (evidence)" : ""),
          h("td", {}, x.leafOnly ? "leaf only" : x.error ? "unreadable" : recordType(st)), h("td", {}, partyLink(st.partyId)), h("td", {}, time(st.eventTime)),
          h("td", {}, x.leafOnly ? "another party's record, withheld: the bundle carries only its leaf, whose committed running totals the volume and capacity rules read" : x.error || recordSummary(st)));
      }), { id: "records-table" }));
      fill(mapBox, custodyGraph(recs, id, Number(rep.untracedShare || 0)), routeMap(S.geo, recs, server.flags));
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
      h("h1", {}, "Lot ", h("span", { id: "lot-id" }, id)),
      h("div", { class: "card" }, kv([["Product", strip(s.product, "PRODUCT_").toLowerCase()], ["Holder", partyLink(s.holderPartyId)],
        ["Mass", kg(s.massKg)], ["Sb grade", s.sbGradePct + " %"], ["Latest record", h("code", {}, s.head)],
        s.inTransitTo ? ["In transit to", partyLink(s.inTransitTo)] : null, s.consumed ? ["State", "used up (split, merged or smelted into other lots)"] : null,
        (s.namedLabs || []).length ? ["Labs named", s.namedLabs.join(", ")] : null])),
      h("div", { class: "cols2" },
        h("div", { class: "card", id: "server-verdict", "data-verdict": verdictName(server.verdict), "data-untraced": String(Number(server.untracedShare || 0)) },
          h("h2", {}, "The server's verdict"), h("p", {}, h("span", { class: "badge big v-" + verdictName(server.verdict), "data-verdict": verdictName(server.verdict) }, verdictName(server.verdict)), " as the server's verifier computed it"),
          reportSummary(server, "server"),
          (server.errors || []).length ? h("ul", {}, server.errors.map((e) => h("li", {}, e))) : null),
        browserBox),
      explainUntraced(server),
      h("h2", {}, "Flags (" + (server.flags || []).length + ")"), flagList(server, showEvidence),
      mapBox,
      h("h2", {}, "Custody records (the lot and its ancestry, from the bundle)"), recordsBox,
      h("h2", {}, "Parties and their keys"), partiesBox,
      keysBox,
    ];
    verifyHere().catch((e) => {
      fill(browserBox, h("h2", {}, "This browser's verdict"), errorBox(e));
      browserBox.dataset.state = "error";
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
    const [keys, rules, geo] = await Promise.all(["/console/server-keys.json", "/console/rules.json", "/console/map.json"].map((u) => fetch(u).then((r) => r.json())));
    S.serverKeys = keys; S.origin = keys.origin; S.rules = rules; S.geo = geo;
    await restoreSession();
    renderWho();
    window.addEventListener("hashchange", route);
    route();
  }
  start();
})();
