/* The offline tablet, page side (templates/_offline.html, on every page).
 *
 * - The connection banner: one element (#connection-banner), one state (data-state: online,
 *   offline, restored) and the time of the data on screen, in the server's clock
 *   ("Connexion perdue — données de 14:02"). Other scripts may drive it through
 *   window.CrisisConnection.lost(at) / .back(at).
 * - The queue (outbox) of writes made on this tablet: the forms a page declares (data-config
 *   "routes": the main courante, checklist ticks…) go into IndexedDB as {method, url, body,
 *   key, fact_at} with a key made here (crypto.randomUUID), then are sent in order through the
 *   JSON API with an Idempotency-Key header, the session cookie and a fresh CSRF token from
 *   /api/v1/whoami. Sent once: a resend of the same key is answered, not redone. A refusal
 *   (403, 404, 409, 422…) moves the write to the "Non enregistré" list with the server's reason;
 *   nothing is dropped silently. Network errors, 429 and 5xx unavailability keep it queued.
 * - Registering the service worker (static/js/sw.js) where a page asks for it, and filling the
 *   gaps of what that page needs offline.
 * - Signing out: warns when writes are still queued or refused, then clears the tablet (queue,
 *   caches, service worker) before the form goes; the server adds Clear-Site-Data.
 * Texts are written with textContent, never as HTML (strict CSP, no inline script).
 */
(function () {
  "use strict";

  var queueBox = document.getElementById("offline-queue");
  var banner = document.getElementById("connection-banner");
  if (!queueBox || !banner) { return; }
  var cfg = {};
  try { cfg = JSON.parse(queueBox.getAttribute("data-config") || "{}"); } catch (e) { cfg = {}; }

  var DB_NAME = "crisis-offline";
  var RETRY_MS = 10000;
  // A page rendered this long before the server's time when it first reaches the server is a
  // kept copy (the tablet's cache, the back button): it says its age instead of passing as live.
  var COPY_AFTER_MS = 30000;
  var KEEP_TRYING = [408, 425, 429, 502, 503, 504]; // not a refusal: the write stays queued
  var SERVER_ERROR_TRIES = 3; // a 500 may be passing; after 3 the write is shown as not recorded
  var PARIS = "Europe/Paris";
  var WARM_DELAY_MS = 1000;

  // --- time ------------------------------------------------------------------------------------

  function isoNow() {
    return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function paris(date, options) {
    return new Intl.DateTimeFormat("fr-FR", Object.assign({ timeZone: PARIS }, options)).format(date);
  }

  // Times are ISO strings (fact times, headers) or milliseconds (the page's "at").
  function hhmm(when) {
    var date = new Date(when);
    if (isNaN(date)) { return ""; }
    return paris(date, { hour: "2-digit", minute: "2-digit" });
  }

  function situationLabel(when) {
    var date = new Date(when);
    if (when === null || isNaN(date)) { return "d'heure inconnue"; }
    var day = { day: "2-digit", month: "2-digit" };
    if (paris(date, day) === paris(new Date(), day)) { return "de " + hhmm(date); }
    return "du " + paris(date, day) + " à " + hhmm(date);
  }

  // --- the connection banner -------------------------------------------------------------------

  var connection = {
    state: "online",
    dataAt: cfg.at || null, // the server's time of what is on screen (ms)
    stale: false, // the page itself came from the tablet's copy
    pending: 0
  };

  function renderBanner() {
    var text = banner.querySelector(".connection-text");
    var reload = banner.querySelector(".connection-reload");
    banner.setAttribute("data-state", connection.state);
    banner.hidden = connection.state === "online";
    reload.hidden = connection.state !== "restored";
    var waiting = connection.pending
      ? " · " + connection.pending + (connection.pending > 1 ? " saisies en attente" : " saisie en attente")
      : "";
    if (cfg.fallback_page) {
      text.textContent = "Hors ligne — cette page n'est pas conservée sur la tablette" + waiting;
    } else if (connection.state === "offline") {
      text.textContent = "Connexion perdue — données " + situationLabel(connection.dataAt) + waiting;
    } else if (connection.state === "restored") {
      text.textContent = "Connexion rétablie — cette page date " + situationLabel(connection.dataAt) + waiting;
    } else {
      text.textContent = "";
    }
  }

  function lost() {
    if (connection.state !== "offline") {
      connection.state = "offline";
      renderBanner();
      scheduleRetry();
    }
  }

  function back(at) {
    var was = connection.state;
    var ms = at ? Date.parse(at) : NaN;
    if (!isNaN(ms) && !connection.stale && (!connection.dataAt || ms > connection.dataAt)) {
      connection.dataAt = ms;
    }
    connection.state = connection.stale ? "restored" : "online";
    renderBanner();
    if (was === "offline") { flush(); }
  }

  window.CrisisConnection = {
    lost: function (at) { if (at && !isNaN(Date.parse(at))) { connection.dataAt = Date.parse(at); } lost(); },
    back: back,
    get state() { return connection.state; }
  };

  banner.querySelector(".connection-reload").addEventListener("click", function () {
    window.location.reload();
  });

  var retryTimer = null;
  function scheduleRetry() {
    if (retryTimer) { return; }
    retryTimer = setInterval(function () {
      if (connection.state !== "offline") {
        clearInterval(retryTimer);
        retryTimer = null;
        return;
      }
      probe().then(function (session) { if (session) { back(session.server_time); } });
    }, RETRY_MS);
  }

  // Who is signed in, and a CSRF token for the writes; null when offline or signed out.
  var signedOut = false;
  function probe() {
    if (!cfg.session) { return Promise.resolve(null); }
    return fetch(cfg.session, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      if (response.headers.get("X-Offline-Served") || KEEP_TRYING.indexOf(response.status) !== -1) {
        lost();
        return null;
      }
      if (response.status === 401) {
        signedOut = true;
        renderQueue();
        return null;
      }
      if (!response.ok) { return null; }
      signedOut = false;
      return response.json();
    }, function () {
      lost();
      return null;
    });
  }

  document.addEventListener("htmx:sendError", function () { lost(); });
  document.addEventListener("htmx:afterRequest", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    if (!xhr || xhr.status === 0) { return; }
    if (xhr.getResponseHeader("X-Offline-Served") || [502, 503, 504].indexOf(xhr.status) !== -1) {
      lost();
      return;
    }
    back(xhr.getResponseHeader("X-Situation-At"));
  });
  window.addEventListener("online", function () { probe().then(function (s) { if (s) { back(s.server_time); } }); });
  window.addEventListener("offline", lost);

  // --- IndexedDB: outbox (in order), conflicts, situations kept -------------------------------

  var dbPromise = null;
  function openDb() {
    if (!window.indexedDB) { return Promise.reject(new Error("IndexedDB indisponible")); }
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          var db = req.result;
          db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
          db.createObjectStore("conflicts", { keyPath: "seq" });
          db.createObjectStore("situations", { keyPath: "url" });
        };
        req.onsuccess = function () {
          req.result.onversionchange = function () { req.result.close(); dbPromise = null; };
          resolve(req.result);
        };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }

  function store(name, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, mode);
        var result;
        var req = work(tx.objectStore(name));
        if (req) { req.onsuccess = function () { result = req.result; }; }
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function all(name) { return store(name, "readonly", function (s) { return s.getAll(); }); }
  function put(name, value) { return store(name, "readwrite", function (s) { return s.put(value); }); }
  function remove(name, key) { return store(name, "readwrite", function (s) { return s.delete(key); }); }

  function hasDb() {
    // Do not create the database on pages that never used it.
    if (!window.indexedDB) { return Promise.resolve(false); }
    if (!indexedDB.databases) { return Promise.resolve(true); }
    return indexedDB.databases().then(function (list) {
      return list.some(function (d) { return d.name === DB_NAME; });
    }, function () { return true; });
  }

  // --- the queue -------------------------------------------------------------------------------

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function routeFor(path) {
    return (cfg.routes || []).filter(function (r) {
      return r.prefix ? path.indexOf(r.form) === 0 && path.length > r.form.length : path === r.form;
    })[0];
  }

  function selectedText(form, name) {
    var field = form.elements.namedItem(name);
    if (field && field.options && field.selectedIndex >= 0) {
      return field.options[field.selectedIndex].textContent.trim();
    }
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    var label = checked && checked.closest("label");
    return label ? label.textContent.trim() : "";
  }

  // The page says what happened to a write (forms.js shows the confirmation).
  function announce(name, item, answer) {
    document.dispatchEvent(new CustomEvent(name, {
      detail: { kind: item.kind, body: item.body, fact_at: item.fact_at, label: item.label, answer: answer || null }
    }));
  }

  // What each kind of form sends, and how the tablet describes it (generic: method, URL, body).
  var KINDS = {
    log: function (form, route, data, factAt) {
      var body = {
        category: data.get("category") || "information",
        text: String(data.get("text") || "").trim(),
        fact_at: data.get("fact_at") || factAt
      };
      if (data.get("corrects_id")) { body.corrects = Number(data.get("corrects_id")); }
      return { url: route.api, body: body, label: (selectedText(form, "category") || body.category) + " — " + body.text };
    },
    call: function (form, route, data, factAt, path) {
      // A status of the vulnerable-persons call campaign (pcs/_calls.html): person id and
      // status only in the label, never a name (the queue is shown on the tablet).
      var person = decodeURIComponent(path.slice(route.form.length));
      var note = String(data.get("note") || "").trim();
      return {
        url: route.api + encodeURIComponent(person),
        body: { status: data.get("status"), note: note, fact_at: factAt },
        label: "Appel " + person + " : " + (selectedText(form, "status") || data.get("status"))
      };
    },
    tick: function (form, route, data, factAt, path) {
      var item = path.slice(route.form.length);
      var holder = form.closest("li");
      var title = holder && holder.querySelector(".check-title > span:not(.check-mark)");
      var note = String(data.get("note") || "").trim();
      return {
        url: route.api + item,
        body: { note: note, fact_at: factAt },
        label: "Action réalisée : " + (title ? title.textContent.trim() : "n°" + item) + (note ? " (" + note + ")" : "")
      };
    }
  };

  function enqueue(form, route, path) {
    var data = new FormData(form);
    var factAt = isoNow();
    var made = KINDS[route.kind](form, route, data, factAt, path);
    var item = {
      key: uuid(),
      user: cfg.user,
      kind: route.kind,
      method: "POST",
      url: made.url,
      body: made.body,
      fact_at: made.body.fact_at || factAt,
      created_at: factAt,
      label: made.label,
      form: path,
      after: route.after || [],
      reload: route.reload || null
    };
    return put("outbox", item).then(function () {
      if (route.kind === "log") {
        var text = form.elements.namedItem("text");
        if (text) { text.value = ""; }
      }
      announce("crisis:queued", item);
      return renderQueue();
    }).then(flush);
  }

  function refreshAfter(item) {
    if (!window.htmx) { return; }
    (item.after || []).forEach(function (name) { window.htmx.trigger(document.body, name); });
    if (item.reload && document.querySelector(item.reload.target)) {
      window.htmx.ajax("GET", item.reload.url, { target: item.reload.target, swap: "outerHTML" });
    }
  }

  function reasonOf(response) {
    return response.json().then(function (body) {
      return body && body.error ? String(body.error) : "Refusé par le serveur.";
    }, function () {
      return "Refusé par le serveur (" + response.status + ").";
    });
  }

  var flushing = null;
  function flush() {
    if (flushing) { return flushing; }
    var run = function () { return sendAll(); };
    var locked = navigator.locks ? navigator.locks.request("crisis-outbox", run) : run();
    flushing = Promise.resolve(locked).catch(function () { return undefined; }).then(function () {
      flushing = null;
      return renderQueue();
    });
    return flushing;
  }

  function sendAll() {
    return hasDb().then(function (exists) {
      if (!exists) { return undefined; }
      return all("outbox").then(function (items) {
        if (!items.length) { return undefined; }
        return probe().then(function (session) {
          if (!session) { return undefined; }
          back(session.server_time);
          var mine = items.filter(function (i) { return !i.user || i.user === session.login; });
          return mine.reduce(function (chain, item) {
            return chain.then(function (go) { return go ? sendOne(item, session) : false; });
          }, Promise.resolve(true));
        });
      });
    });
  }

  // Resolves true to go on with the next write, false to stop (order is kept).
  function sendOne(item, session) {
    return fetch(item.url, {
      method: item.method,
      credentials: "same-origin",
      cache: "no-store",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": session.csrf_token || "",
        "Idempotency-Key": item.key
      },
      body: JSON.stringify(item.body)
    }).then(function (response) {
      if (response.ok) {
        return response.json().catch(function () { return null; }).then(function (answer) {
          return remove("outbox", item.seq).then(function () {
            refreshAfter(item);
            announce("crisis:sent", item, answer);
            return true;
          });
        });
      }
      if (response.status === 401) {
        signedOut = true;
        return false;
      }
      if (KEEP_TRYING.indexOf(response.status) !== -1) {
        if (response.status >= 502) { lost(); }
        return false;
      }
      if (response.status >= 500 && (item.tries || 0) + 1 < SERVER_ERROR_TRIES) {
        return put("outbox", Object.assign({}, item, { tries: (item.tries || 0) + 1 })).then(function () {
          return false;
        });
      }
      return reasonOf(response).then(function (reason) {
        var refused = Object.assign({}, item, {
          status: response.status,
          reason: reason,
          refused_at: isoNow()
        });
        return put("conflicts", refused).then(function () {
          return remove("outbox", item.seq);
        }).then(function () { return true; });
      });
    }, function () {
      lost();
      return false;
    });
  }

  // --- showing the queue -----------------------------------------------------------------------

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function markPendingForms(items) {
    document.querySelectorAll(".offline-pending-item").forEach(function (node) {
      node.classList.remove("offline-pending-item");
    });
    items.forEach(function (item) {
      if (item.kind !== "tick") { return; }
      document.querySelectorAll("form[action]").forEach(function (form) {
        if (new URL(form.action, window.location.href).pathname === item.form) {
          var holder = form.closest("li") || form;
          holder.classList.add("offline-pending-item");
        }
      });
    });
  }

  function renderQueue() {
    return hasDb().then(function (exists) {
      if (!exists) { return [[], []]; }
      return Promise.all([all("outbox"), all("conflicts")]);
    }).then(function (found) {
      var pending = found[0], refused = found[1];
      var pendingBox = queueBox.querySelector(".offline-pending");
      var refusedBox = queueBox.querySelector(".offline-conflicts");
      var list = pendingBox.querySelector(".offline-pending-list");
      list.textContent = "";
      pending.forEach(function (item) {
        var li = el("li", null, "offline-item");
        li.appendChild(el("time", hhmm(item.fact_at), "offline-time")).setAttribute("datetime", item.fact_at);
        li.appendChild(el("span", item.label, "offline-label"));
        if (cfg.user && item.user && item.user !== cfg.user) {
          li.appendChild(el("span", "saisie par « " + item.user + " » : partira à sa reconnexion", "offline-reason"));
        }
        list.appendChild(li);
      });
      var count = pendingBox.querySelector(".offline-count");
      count.textContent = String(pending.length);
      if (signedOut && pending.length) {
        list.appendChild(el("li", "Session terminée : reconnectez-vous pour envoyer ces saisies.", "offline-reason"));
      }
      pendingBox.hidden = pending.length === 0;

      var rlist = refusedBox.querySelector(".offline-conflict-list");
      rlist.textContent = "";
      refused.forEach(function (item) {
        var li = el("li", null, "offline-item offline-refused");
        li.appendChild(el("time", hhmm(item.fact_at), "offline-time")).setAttribute("datetime", item.fact_at);
        li.appendChild(el("span", item.label, "offline-label"));
        li.appendChild(el("span", "Refusé (" + item.status + ") : " + item.reason, "offline-reason"));
        var dismiss = el("button", "J'ai pris note — retirer", "btn btn-small offline-dismiss");
        dismiss.type = "button";
        dismiss.addEventListener("click", function () {
          remove("conflicts", item.seq).then(renderQueue);
        });
        li.appendChild(dismiss);
        rlist.appendChild(li);
      });
      refusedBox.querySelector(".offline-conflict-count").textContent = String(refused.length);
      refusedBox.hidden = refused.length === 0;
      queueBox.hidden = pending.length === 0 && refused.length === 0;
      queueBox.setAttribute("data-pending", String(pending.length));
      queueBox.setAttribute("data-refused", String(refused.length));
      connection.pending = pending.length;
      renderBanner();
      markPendingForms(pending);
      return [pending, refused];
    }).catch(function () { return [[], []]; });
  }

  // --- forms: queued writes and signing out ----------------------------------------------------

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") { return; }
    var path = new URL(form.action, window.location.href).pathname;
    if (cfg.logout && path === cfg.logout) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      signOut(form);
      return;
    }
    var route = routeFor(path);
    if (!route || !KINDS[route.kind]) { return; }
    // Captured before htmx sees it: every write of this page goes through the queue, online or
    // not, so that a write whose answer was lost is resent under the same key, never twice.
    ev.preventDefault();
    ev.stopImmediatePropagation();
    enqueue(form, route, path);
  }, true);

  function wipe() {
    var steps = [];
    if (window.caches) {
      steps.push(caches.keys().then(function (names) {
        return Promise.all(names.map(function (name) { return caches.delete(name); }));
      }));
    }
    if (navigator.serviceWorker) {
      steps.push(navigator.serviceWorker.getRegistrations().then(function (regs) {
        return Promise.all(regs.map(function (reg) { return reg.unregister(); }));
      }));
    }
    steps.push((dbPromise || Promise.resolve(null)).then(function (db) {
      if (db) { db.close(); }
      dbPromise = null;
      return new Promise(function (resolve) {
        if (!window.indexedDB) { resolve(); return; }
        var req = indexedDB.deleteDatabase(DB_NAME);
        req.onsuccess = req.onerror = req.onblocked = function () { resolve(); };
      });
    }, function () { return undefined; }));
    return Promise.all(steps).catch(function () { return undefined; });
  }

  function signOut(form) {
    var submit = function () { HTMLFormElement.prototype.submit.call(form); };
    renderQueue().then(function (found) {
      return found[0].length ? flush().then(renderQueue) : found;
    }).then(function (found) {
      var pending = found[0], refused = found[1];
      if (pending.length || refused.length) {
        var lines = pending.concat(refused).slice(0, 8).map(function (i) { return "• " + i.label; });
        var message = (pending.length ? pending.length + " saisie(s) pas encore envoyée(s)" : "") +
          (pending.length && refused.length ? " et " : "") +
          (refused.length ? refused.length + " saisie(s) refusée(s)" : "") +
          " seront effacées de cette tablette :\n" + lines.join("\n") +
          "\n\nSe déconnecter quand même ?";
        if (!window.confirm(message)) { return; }
      }
      wipe().then(submit, submit);
    });
  }

  // --- the service worker and what this page keeps ---------------------------------------------

  function assets() {
    var urls = [];
    document.querySelectorAll("script[src], link[rel=stylesheet][href], link[rel=manifest][href]")
      .forEach(function (node) {
        var url = new URL(node.src || node.href, window.location.href);
        if (url.origin === window.location.origin) { urls.push({ key: url.pathname + url.search }); }
      });
    return urls;
  }

  function register() {
    if (!cfg.register || !cfg.sw || !("serviceWorker" in navigator)) { return; }
    // After the page's own loading (figures, map): on a weak network the copy must not compete.
    if (document.readyState !== "complete") {
      window.addEventListener("load", function () { setTimeout(register, WARM_DELAY_MS); }, { once: true });
      return;
    }
    navigator.serviceWorker.register(cfg.sw, { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      if (!reg.active) { return; }
      var channel = new MessageChannel();
      channel.port1.onmessage = function () { document.documentElement.setAttribute("data-offline-ready", "1"); };
      reg.active.postMessage({ type: "warm", items: (cfg.warm || []).concat(assets()) }, [channel.port2]);
    }).catch(function () { return undefined; });
    if (cfg.situation && cfg.user) {
      put("situations", {
        url: cfg.situation.url,
        title: cfg.situation.title,
        at: cfg.at,
        user: cfg.user
      }).catch(function () { return undefined; });
    }
  }

  function listSituations() {
    var list = document.getElementById("offline-situations");
    if (!list) { return; }
    hasDb().then(function (exists) { return exists ? all("situations") : []; }).then(function (found) {
      if (!found.length) { return; }
      list.textContent = "";
      found.forEach(function (s) {
        var li = el("li");
        var link = el("a", s.title);
        link.href = s.url;
        li.appendChild(link);
        li.appendChild(el("span", " — situation " + situationLabel(s.at), "muted"));
        list.appendChild(li);
      });
    }).catch(function () { return undefined; });
  }

  // --- start -----------------------------------------------------------------------------------

  if (cfg.fallback_page) {
    connection.state = "offline";
    renderBanner();
    listSituations();
  } else {
    register();
  }
  renderQueue().then(function (found) {
    var controlled = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (cfg.user && (controlled || found[0].length)) {
      // Is this page the tablet's copy? Then its data are as old as it says (data-config "at").
      probe().then(function (session) {
        if (session) {
          var served = Date.parse(session.server_time);
          if (cfg.at && !isNaN(served) && served - cfg.at > COPY_AFTER_MS) { connection.stale = true; }
          back(session.server_time);
          if (found[0].length) { flush(); }
        } else if (connection.state === "offline") {
          connection.stale = true;
        }
      });
    }
  });
})();
