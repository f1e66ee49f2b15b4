/* The live picture (issue 12): one poll of the event's state, the regions that changed refreshed.
 *
 * A page includes templates/_live.html: #live-state carries the state URL
 * (/api/v1/events/<id>/state, or /api/v1/state for the home page), the version and the
 * per-part versions the page was rendered at. Every few seconds this script asks the state
 * with If-None-Match (a 304 when nothing changed: one indexed read on the server). When the
 * state moved, every region whose data-live-part names a changed part (or "*") receives the
 * "live-refresh" event: htmx regions declare hx-trigger="live-refresh" and re-fetch themselves,
 * scripts (the map) listen for it. A region the user is typing in, or has left words typed in,
 * is refreshed once they leave it and the words are sent or emptied, never under their fingers. The "crisis:live" event (on document) tells scripts what
 * changed, with the state.
 *
 * When the zones changed, the page's notice ([data-live-notice]) says so: "Zones recalculées
 * (version 3, vent 260°) à 14:02 par …". A poll that cannot reach the server drives the one
 * connection banner (window.CrisisConnection from offline.js): "Connexion perdue — données de
 * 14:02"; the next poll that succeeds brings the regions up to date and the banner down.
 * Texts are written with textContent (strict CSP, no inline script).
 */
(function () {
  "use strict";

  var holder = document.getElementById("live-state");
  if (!holder) { return; }
  var url = holder.getAttribute("data-live-state");
  var period = Number(holder.getAttribute("data-live-period")) || 2000;
  var HIDDEN_PERIOD = 15000; // a tab nobody looks at polls less; back at once when shown
  var UNAVAILABLE = [502, 503, 504];
  var known = {
    version: Number(holder.getAttribute("data-live-version")) || 0,
    parts: {},
    etag: holder.getAttribute("data-live-etag") || null
  };
  try { known.parts = JSON.parse(holder.getAttribute("data-live-parts") || "{}"); } catch (e) { known.parts = {}; }
  var timer = null;
  var stopped = false;

  function connection() { return window.CrisisConnection || null; }

  // --- regions ---------------------------------------------------------------------------------

  function partsOf(node) {
    return (node.getAttribute("data-live-part") || "").split(/\s+/).filter(Boolean);
  }

  function concerned(node, changed) {
    if (changed === null) { return true; } // no parts known (the global state): everything
    var parts = partsOf(node);
    if (parts.indexOf("*") !== -1) { return changed.length > 0; }
    return parts.some(function (p) { return changed.indexOf(p) !== -1; });
  }

  // Someone is typing in this region, or left words typed in it (a note, a correction, a draft
  // synthesis): a refresh would swap their words away. It waits until they are sent or emptied.
  var FIELDS = "textarea, input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button])";

  function busy(node) {
    var active = document.activeElement;
    if (active && node.contains(active)) {
      var tag = active.tagName;
      if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
      if (tag === "INPUT" && (["checkbox", "radio", "button", "submit"].indexOf(active.type) === -1 || active.value !== "")) { return true; }
    }
    return typed(node);
  }

  function typed(node) {
    return Array.prototype.some.call(node.querySelectorAll(FIELDS), function (el) {
      return el.value !== el.defaultValue;
    });
  }

  function fire(node, detail) {
    if (window.htmx) {
      window.htmx.trigger(node, "live-refresh", detail);
    } else {
      node.dispatchEvent(new CustomEvent("live-refresh", { detail: detail }));
    }
  }

  // Regions that waited for the user: tried again when the focus leaves them and at each poll.
  var waiting = [];

  function refresh(node, detail) {
    if (!busy(node)) {
      fire(node, detail);
      return;
    }
    node.setAttribute("data-live-pending", "1");
    waiting = waiting.filter(function (w) { return w.node !== node; });
    waiting.push({ node: node, detail: detail });
    if (node.getAttribute("data-live-waits")) { return; }
    node.setAttribute("data-live-waits", "1");
    node.addEventListener("focusout", function () { setTimeout(retry, 0); });
  }

  function retry() {
    waiting = waiting.filter(function (w) {
      if (!w.node.isConnected) { return false; } // swapped meanwhile (the user's own send)
      if (busy(w.node)) { return true; }
      w.node.removeAttribute("data-live-pending");
      fire(w.node, w.detail);
      return false;
    });
  }

  // --- the notice ------------------------------------------------------------------------------

  function notice(state) {
    var zones = state.zones;
    if (!zones || !zones.notice) { return; }
    document.querySelectorAll("[data-live-notice]").forEach(function (box) {
      var text = box.querySelector(".live-notice-text") || box;
      text.textContent = zones.notice;
      box.hidden = false;
      box.setAttribute("data-zones-version", String(zones.version));
      box.classList.remove("live-notice-fresh");
      void box.offsetWidth; // restart the highlight
      box.classList.add("live-notice-fresh");
    });
  }

  // --- polling ---------------------------------------------------------------------------------

  function changedParts(state) {
    if (!state.parts) { return null; }
    return Object.keys(state.parts).filter(function (p) {
      return state.parts[p] > (known.parts[p] || 0);
    });
  }

  function apply(state) {
    if (typeof state.version !== "number" || state.version === known.version) { return; }
    var changed = changedParts(state);
    var detail = { state: state, changed: changed };
    known.version = state.version;
    if (state.parts) { known.parts = state.parts; }
    holder.setAttribute("data-live-version", String(state.version));
    document.querySelectorAll("[data-live-part]").forEach(function (node) {
      if (concerned(node, changed)) { refresh(node, detail); }
    });
    if (changed && changed.indexOf("zones") !== -1) { notice(state); }
    document.dispatchEvent(new CustomEvent("crisis:live", { detail: detail }));
  }

  function schedule() {
    if (stopped) { return; }
    if (waiting.length) { retry(); }
    clearTimeout(timer);
    timer = setTimeout(poll, document.hidden ? HIDDEN_PERIOD : period);
  }

  function lost() {
    var c = connection();
    if (c) { c.lost(); }
  }

  function reached(response) {
    var c = connection();
    if (c) { c.back(response.headers.get("X-Situation-At")); }
  }

  // (The desk's entry text has the focus from the start: words in it, not the focus, count.)
  function signIn() {
    if (!typed(document.body)) { window.location.reload(); return; }
    setTimeout(signIn, period);
  }

  function poll() {
    var headers = { Accept: "application/json" };
    if (known.etag) { headers["If-None-Match"] = known.etag; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: headers }).then(function (response) {
      if (response.headers.get("X-Offline-Served") || UNAVAILABLE.indexOf(response.status) !== -1) {
        lost();
        return undefined;
      }
      if (response.status === 401) {
        // The session ended: the page would go on showing old data. Sign in again — but not
        // under the fingers of someone typing: their send goes to the sign-in page with the
        // draft (static/js/drafts.js); the page reloads once nothing is being typed.
        stopped = true;
        signIn();
        return undefined;
      }
      if (response.status === 304) {
        reached(response);
        return undefined;
      }
      if (!response.ok) { return undefined; }
      reached(response);
      known.etag = response.headers.get("ETag") || known.etag;
      return response.json().then(apply);
    }, lost).catch(function () { return undefined; }).then(schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { clearTimeout(timer); poll(); }
  });
  window.addEventListener("online", function () { clearTimeout(timer); poll(); });

  // For tests and the wall screen: poll now.
  window.CrisisLive = {
    poll: function () { clearTimeout(timer); poll(); },
    get version() { return known.version; }
  };

  schedule();
})();
