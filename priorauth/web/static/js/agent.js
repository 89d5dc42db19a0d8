// The agent side panel: terse questions to the agent channel (/webhooks/agent/), answers as cards with facts,
// scope and citations, a copy button per fact, the session's history, and a draft request on the caller's behalf.
// The agent signs in with a token issued for them (a JWT): the server verifies it and takes the agent id from it;
// the panel only reads its subject and expiry to show them. Every text from the server goes into the page through
// textContent, never as HTML.
(function () {
  "use strict";

  var API = "/webhooks/agent";
  var KEYS = { token: "priorauth.agent.token", session: "priorauth.agent.session." };
  // Why the server refused the token (error codes of addons/agent_channel.py), in the agent's words.
  var SIGNED_OUT = {
    token_expired: "Your sign-in expired. Sign in again with a new token.",
    token_revoked: "Your token was revoked. Ask your administrator for a new one.",
    invalid_token: "The server refused this token",
    missing_token: "Sign in with your agent token.",
  };
  var STATUS_LABELS = {
    review_required: "Review required",
    notification_only: "Notification only",
    not_required: "Not required",
    outside_program: "Outside the program",
    conditional: "Depends",
    unknown: "Unknown",
  };
  var LOB_LABELS = { aso: "ASO (self-insured)", fully_insured: "Fully insured" };
  var DRAFT_STATUS = { open: "In progress", ready: "Ready to export", cancelled: "Cancelled" };
  var FIELD_LABELS = {
    member_id: "Member ID",
    member_dob: "Date of birth",
    ordering_npi: "Ordering provider NPI",
    ordering_tax_id: "Ordering provider tax ID",
    servicing_npi: "Servicing provider NPI",
    facility_name: "Facility name",
    setting: "Setting",
    procedure_codes: "Procedure codes",
    diagnosis_codes: "Diagnosis codes",
    date_of_service: "Date of service",
    site_of_care_reason: "Site-of-care reason",
  };
  var NEED_LABELS = { line_of_business: "line of business", diagnosis: "diagnosis code", code: "CPT code" };
  var payloadTitles = {}; // "/ask_contact" -> "Contact AIM", learned from buttons, to show a click as its title

  var $ = function (id) { return document.getElementById(id); };

  // ---- DOM helpers: text only ------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else if (key.indexOf("-") > 0) node.setAttribute(key, attrs[key]); // data-*, aria-*
      else node[key] = attrs[key];
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function humanize(id) {
    return String(id || "").replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); });
  }

  // ---- session state ---------------------------------------------------------------------------------------
  function token() { return sessionStorage.getItem(KEYS.token) || ""; }

  // The token's claims, read without verifying (the server verifies): {sub, exp}, or null if it is no JWT.
  function claimsOf(jwt) {
    var parts = String(jwt || "").split(".");
    if (parts.length !== 3) return null;
    try {
      var base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      var json = decodeURIComponent(Array.prototype.map.call(atob(base64), function (c) {
        return "%" + ("0" + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(""));
      var claims = JSON.parse(json);
      return claims && typeof claims.sub === "string" && claims.sub ? claims : null;
    } catch (error) {
      return null;
    }
  }

  function agentId() { var claims = claimsOf(token()); return claims ? claims.sub : ""; }

  function newSessionId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sessionId() {
    var key = KEYS.session + agentId();
    var id = localStorage.getItem(key);
    if (!id) {
      id = newSessionId();
      localStorage.setItem(key, id);
    }
    return id;
  }

  // ---- the agent channel -----------------------------------------------------------------------------------
  function call(method, path, body) {
    var headers = { Authorization: "Bearer " + token(), "X-Sender-Id": "agent:" + agentId() + ":" + sessionId() };
    var init = { method: method, headers: headers };
    if (body) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 401) {
          signOut(refusal(data));
          throw new Error("unauthorized");
        }
        if (!response.ok) throw new Error(data.message || "HTTP " + response.status);
        return data;
      });
    });
  }

  function refusal(data) {
    var reason = SIGNED_OUT[data.error];
    if (data.error === "invalid_token") return reason + ": " + data.message;
    return reason || data.message || "The server refused this token.";
  }

  function history() {
    return call("GET", "/history?session=" + encodeURIComponent(sessionId()));
  }

  function send(message, label) {
    var shown = label || payloadTitles[message] || message;
    var exchange = appendTurn({ role: "user", text: shown });
    setStatus("Looking it up…");
    return call("POST", "/webhook", { session: sessionId(), message: message })
      .then(function (data) {
        setStatus("");
        if (!data.turns.length) appendTurn({ role: "bot", text: "(no reply)" });
        data.turns.forEach(appendTurn);
      })
      .catch(function (error) {
        if (error.message !== "unauthorized") setStatus("Could not reach the assistant: " + error.message);
      })
      .then(function () { exchange.setAttribute("data-done", "true"); });
  }

  // ---- rendering -------------------------------------------------------------------------------------------
  function setStatus(text) { $("status").textContent = text; }

  function appendTurn(turn) {
    // One exchange per query: the agent's words and every reply to them.
    var log = $("log");
    var exchange = log.lastElementChild;
    if (turn.role === "user" || !exchange) {
      exchange = el("div", { className: "exchange" });
      log.appendChild(exchange);
    }
    exchange.appendChild(renderTurn(turn));
    window.scrollTo(0, document.body.scrollHeight);
    return exchange;
  }

  function renderTurn(turn) {
    if (turn.role === "user") {
      var text = turn.text && turn.text.charAt(0) === "/" && payloadTitles[turn.text] ? payloadTitles[turn.text] : turn.text;
      return el("div", { className: "turn user" }, [el("span", { className: "q", text: text })]);
    }
    (turn.buttons || []).forEach(function (b) { payloadTitles[b.payload] = b.title; });
    var body;
    var custom = turn.custom;
    if (custom && custom.type === "priorauth.answer") body = answerCard(custom, turn.text);
    else if (custom && custom.type === "priorauth.draft" && custom.fields) body = draftCard(custom, turn.text);
    else if (custom && custom.type === "priorauth.pas_bundle") body = exportCard(custom, turn.text);
    else if (custom) body = otherCard(custom, turn.text);
    else body = el("div", { className: "bubble", text: turn.text || "" });
    var children = [body];
    if (turn.buttons && turn.buttons.length) children.push(replyButtons(turn.buttons));
    return el("div", { className: "turn bot" }, children);
  }

  function replyButtons(buttons) {
    return el("div", { className: "replies" }, buttons.map(function (b) {
      return el("button", { type: "button", text: b.title, onclick: function () { send(b.payload, b.title); } });
    }));
  }

  function answerCard(answer, text) {
    var lines = (text || "").split("\n");
    var header = el("header", {}, [
      answer.status ? el("span", { className: "badge " + answer.status, text: STATUS_LABELS[answer.status] || humanize(answer.status) }) : null,
      el("span", { className: "headline", text: lines[0] || humanize(answer.topic) }),
    ]);
    var items = (answer.facts || []).map(function (fact) {
      return factItem(fact.text, fact.scope, fact.citations, fact.kind);
    });
    (answer.contacts || []).forEach(function (contact) {
      items.push(factItem(contactText(contact), contact.scope, contact.citations, "contact"));
    });
    var children = [header, el("ul", { className: "facts" }, items)];
    if (answer.info_needed && answer.info_needed.length) {
      var needs = answer.info_needed.map(function (n) { return NEED_LABELS[n] || humanize(n).toLowerCase(); });
      children.push(el("p", { className: "needs", text: "To be sure, ask the caller: " + needs.join(", ") + "." }));
    }
    // The short reply is the card's text; "Full answer" holds the whole topic (the payload's full_text).
    var full = answer.full_text || text || "";
    var rest = lines.slice(1).join("\n");
    if (rest) children.splice(1, 0, el("p", { className: "short-answer", text: rest }));
    children.push(el("footer", {}, [
      el("span", { text: "Sources: " + (answer.sources || []).join(", ") + " " }),
      el("details", { className: "full-answer" }, [
        el("summary", { text: "Full answer" }),
        el("pre", { text: full }),
        copyButton(function () { return full; }, "Copy answer"),
      ]),
    ]));
    return el("article", { className: "card", "data-topic": answer.topic || "" }, children);
  }

  function contactText(contact) {
    var when = [contact.days, contact.hours, contact.time_zone].filter(Boolean).join(", ");
    if (contact.kind === "id_card") return contact.name || contact.value;
    var kinds = { phone: "Phone ", portal: "", email: "E-mail " };
    var prefix = contact.kind in kinds ? kinds[contact.kind] : humanize(contact.kind) + " ";
    return prefix + contact.value + (when ? " · " + when : "") + " · " + contact.name;
  }

  function listText(ids, labels, most) {
    var names = ids.map(function (id) { return (labels && labels[id]) || humanize(id); });
    return names.length > most ? names.slice(0, most).join(", ") + " +" + (names.length - most) : names.join(", ");
  }

  function scopeParts(scope, most) {
    // [css class, label] pairs: plan, region, programs, lines of business.
    if (!scope) return [["", "General (no specific scope)"]];
    var parts = [["plan", scope.plan && scope.plan !== "any_plan" ? "Plan: " + (scope.plan_name || humanize(scope.plan)) : "All plans"]];
    if (scope.region) parts.push(["region", "Region: " + scope.region]);
    var programs = (scope.programs || []).filter(function (p) { return p !== "all"; });
    if (programs.length) parts.push(["program", (programs.length > 1 ? "Programs: " : "Program: ") + listText(programs, null, most)]);
    else if ((scope.programs || []).length) parts.push(["program", "All programs"]);
    var lobs = scope.lines_of_business || [];
    if (lobs.length) parts.push(["lob", "LOB: " + listText(lobs, LOB_LABELS, most)]);
    return parts;
  }

  function scopeChips(scope) {
    return scopeParts(scope, 3).map(function (c) { return el("span", { className: "chip " + c[0], text: c[1] }); });
  }

  function scopeText(scope) {
    return scopeParts(scope, 99).map(function (c) { return c[1]; }).join("; ");
  }

  function factItem(text, scope, citations, kind) {
    var bySource = {};
    var order = [];
    (citations || []).forEach(function (c) {
      if (!bySource[c.source]) {
        bySource[c.source] = { title: c.title, quotes: [] };
        order.push(c.source);
      }
      if (c.quote) bySource[c.source].quotes.push(c.quote);
    });
    var cites = order.map(function (source) {
      var cite = bySource[source];
      return el("details", { className: "cite" }, [el("summary", { text: "Source " + source + " · " + cite.title })]
        .concat(cite.quotes.map(function (q) { return el("q", { text: q }); })));
    });
    var clip = function () {
      var sources = order.map(function (source) { return source + " " + bySource[source].title; });
      return text + "\n(Scope: " + scopeText(scope) + ". Source: " + (sources.join("; ") || "none") + ")";
    };
    return el("li", { className: "fact", "data-kind": kind || "fact" }, [
      el("p", { className: "fact-text", text: text }),
      el("div", { className: "scope", "aria-label": "Scope" }, scopeChips(scope)),
    ].concat(cites, [copyButton(clip, "Copy")]));
  }

  function draftCard(draft, text) {
    // The summary as the drafts core gives it: member id and birth date arrive masked.
    var rows = [];
    Object.keys(draft.fields).forEach(function (name) {
      var value = draft.fields[name];
      if (value === null || value === "" || (Array.isArray(value) && !value.length)) return;
      var shown = Array.isArray(value) ? value.join(", ") : String(value);
      if (name === "setting") shown = shown.replace(/_/g, " ");
      rows.push(el("dt", { text: FIELD_LABELS[name] || humanize(name) }), el("dd", { "data-field": name, text: shown }));
    });
    if (draft.owner) rows.unshift(el("dt", { text: "Owner" }), el("dd", { "data-field": "owner", text: draft.owner }));
    var missing = (draft.missing || []).map(function (name) { return FIELD_LABELS[name] || humanize(name); });
    var json = JSON.stringify(draft, null, 2);
    return el("article", { className: "card draft", "data-type": draft.type, "data-reference": draft.reference }, [
      el("header", {}, [
        el("span", { className: "badge draft-" + draft.status, text: DRAFT_STATUS[draft.status] || humanize(draft.status) }),
        el("span", { className: "headline", text: "Draft " + draft.reference }),
      ]),
      rows.length ? el("dl", { className: "kv" }, rows) : null,
      missing.length ? el("p", { className: "needs", text: "Still needed: " + missing.join(", ") + "." }) : null,
      (draft.warnings || []).length ? el("p", { className: "needs", text: "Note: " + draft.warnings.join("; ") }) : null,
      el("footer", {}, [
        el("span", { text: "Updated " + String(draft.updated_at || "").replace("T", " ").slice(0, 16) + " " }),
        el("div", { className: "replies" }, [copyButton(function () { return json; }, "Copy JSON")]),
      ]),
    ]);
  }

  function exportCard(exported, text) {
    var json = JSON.stringify(exported.bundle, null, 2);
    return el("article", { className: "card export", "data-type": exported.type, "data-reference": exported.reference }, [
      el("header", {}, [el("span", { className: "headline", text: "Export of draft " + exported.reference })]),
      text ? el("p", { className: "note", text: text }) : null,
      el("details", {}, [el("summary", { text: "FHIR Bundle (JSON)" }), el("pre", { text: json })]),
      el("div", { className: "replies" }, [
        copyButton(function () { return json; }, "Copy JSON"),
        downloadButton(exported.reference + "-pas-bundle.json", json),
      ]),
    ]);
  }

  function otherCard(custom, text) {
    // Drafts and future payloads: the text, the top-level values, and the JSON to copy or download.
    var rows = [];
    Object.keys(custom).forEach(function (key) {
      var value = custom[key];
      if (key === "type" || value === null || typeof value === "object") return;
      rows.push(el("dt", { text: humanize(key) }), el("dd", { text: String(value) }));
    });
    var json = JSON.stringify(custom, null, 2);
    var children = [
      el("header", {}, [el("span", { className: "topic", text: humanize(String(custom.type || "details").split(".").pop()) })]),
      text ? el("p", { className: "headline", text: text }) : null,
      rows.length ? el("dl", { className: "kv" }, rows) : null,
      el("details", {}, [el("summary", { text: "JSON" }), el("pre", { text: json })]),
      el("div", { className: "replies" }, [
        copyButton(function () { return json; }, "Copy JSON"),
        downloadButton((custom.reference || "priorauth") + ".json", json),
      ]),
    ];
    return el("article", { className: "card other", "data-type": custom.type || "" }, children);
  }

  function downloadButton(name, json) {
    return el("button", {
      type: "button", text: "Download", onclick: function () {
        var url = URL.createObjectURL(new Blob([json], { type: "application/json" }));
        var link = el("a", { href: url, download: String(name).replace(/[^A-Za-z0-9._-]/g, "_") });
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      },
    });
  }

  function copyButton(getText, label) {
    var button = el("button", { type: "button", className: "copy", text: label, title: "Copy to the clipboard" });
    button.onclick = function () {
      copy(getText()).then(function () {
        button.textContent = "Copied";
        button.classList.add("done");
        setTimeout(function () { button.textContent = label; button.classList.remove("done"); }, 1500);
      }, function () { button.textContent = "Copy failed"; });
    };
    return button;
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on another host is no secure context: the older, synchronous way.
    return new Promise(function (resolve, reject) {
      var area = el("textarea", { value: text });
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      if (ok) resolve();
      else reject(new Error("copy refused"));
    });
  }

  // ---- sign-in and start -----------------------------------------------------------------------------------
  var expiryTimer = null;

  function showDesk(on) {
    $("sign-in").hidden = on;
    $("desk").hidden = !on;
    $("who").hidden = !on;
    $("agent-label").textContent = on ? "Agent " + agentId() : "";
    var claims = on ? claimsOf(token()) : null;
    clearTimeout(expiryTimer);
    $("agent-until").textContent = "";
    if (claims && typeof claims.exp === "number") {
      var until = new Date(claims.exp * 1000);
      $("agent-until").textContent = "until " + until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      // Sign out when the token expires, rather than at the next refused question.
      var delay = Math.min(Math.max(until - Date.now(), 0), 2147483647); // setTimeout's longest delay
      expiryTimer = setTimeout(function () { signOut(SIGNED_OUT.token_expired); }, delay);
    }
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEYS.token);
    $("log").textContent = "";
    showDesk(false);
    $("sign-in-error").textContent = reason || "";
    $("sign-in-error").hidden = !reason;
  }

  function loadHistory() {
    $("log").textContent = "";
    setStatus("Loading the conversation…");
    return history().then(function (data) {
      setStatus("");
      data.turns.forEach(function (t) { (t.buttons || []).forEach(function (b) { payloadTitles[b.payload] = b.title; }); });
      data.turns.forEach(appendTurn);
      Array.prototype.forEach.call($("log").children, function (e) { e.setAttribute("data-done", "true"); });
      return data;
    });
  }

  $("sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    var pasted = $("token").value.replace(/^\s*Bearer\s+/i, "").replace(/\s+/g, "");
    var claims = claimsOf(pasted);
    if (!claims) {
      signOut("This is not an agent token: paste the whole token (three parts separated by dots).");
      return;
    }
    if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now()) {
      signOut("This token has expired. Get a new one and sign in again.");
      return;
    }
    sessionStorage.setItem(KEYS.token, pasted);
    $("token").value = "";
    showDesk(true);
    loadHistory().then(function () { $("query").focus(); }, function (error) {
      if (error.message !== "unauthorized") setStatus("Could not reach the assistant: " + error.message);
    });
  });

  $("ask").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("query").value.trim();
    if (!text) return;
    $("query").value = "";
    send(text);
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-send]"), function (button) {
    payloadTitles[button.getAttribute("data-send")] = button.getAttribute("data-label");
    button.addEventListener("click", function () { send(button.getAttribute("data-send"), button.getAttribute("data-label")); });
  });

  $("new-caller").addEventListener("click", function () {
    localStorage.setItem(KEYS.session + agentId(), newSessionId());
    $("log").textContent = "";
    setStatus("New conversation.");
    $("query").focus();
  });

  $("sign-out").addEventListener("click", function () { signOut(""); });

  if (agentId()) {
    showDesk(true);
    loadHistory().catch(function (error) {
      if (error.message !== "unauthorized") setStatus("Could not reach the assistant: " + error.message);
    });
  } else {
    signOut("");
  }
})();
