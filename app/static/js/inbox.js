/* Nothing waits unseen: the menu badge and the regions showing the inbox follow the user's inbox.
 *
 * Polls GET /api/v1/inbox every few seconds with If-None-Match (a 304 costs nothing), updates
 * the badge (#inbox-badge) and, when what waits changed, fires "inbox-changed" on the body: the
 * htmx regions marked data-inbox-region (the home block, the inject notices of a drill page)
 * refresh themselves on it — but not while the user is typing in one of them. Pauses quietly
 * while the page is hidden or the tablet offline (the connection banner of offline.js says so,
 * not this script); stops when the session has ended (401). The poll does not keep an idle
 * session alive (the server does not count it as activity).
 */
(function () {
  "use strict";
  var badge = document.getElementById("inbox-badge");
  if (!badge || !window.fetch) { return; }
  var POLL_MS = 4000;
  var url = badge.dataset.url;
  var etag = badge.dataset.etag || null; // what the page shows
  var shown = etag;
  var timer = null;
  var stopped = false;

  function offline() {
    return navigator.onLine === false ||
      (window.CrisisConnection && window.CrisisConnection.state === "offline");
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (!stopped) { timer = setTimeout(poll, ms === undefined ? POLL_MS : ms); }
  }

  function busy() {
    return Array.prototype.some.call(document.querySelectorAll("[data-inbox-region]"), function (el) {
      return window.crisisBusy && window.crisisBusy(el);
    });
  }

  // The regions refresh once per new inbox, when nobody is typing in them.
  function refreshRegions() {
    if (shown === etag || !window.htmx || busy()) { return; }
    shown = etag;
    window.htmx.trigger(document.body, "inbox-changed");
  }

  function show(data) {
    var n = data.count || 0;
    badge.textContent = String(n);
    badge.dataset.count = String(n);
    badge.hidden = n === 0;
    badge.setAttribute("aria-label", n + (n > 1 ? " éléments à traiter" : " élément à traiter"));
  }

  function poll() {
    if (document.hidden || offline()) { schedule(); return; }
    var headers = { Accept: "application/json" };
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        if (response.status === 401) { stopped = true; return null; }
        if (response.status === 304 || !response.ok || response.headers.get("X-Offline-Served")) {
          return null;
        }
        etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (data) { if (data) { show(data); } }, function () { /* offline: quiet */ })
      .then(function () { refreshRegions(); schedule(); });
  }

  // Signing out: no more polls (the page is clearing the tablet).
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form instanceof HTMLFormElement && /\/logout$/.test(form.getAttribute("action") || "")) {
      stopped = true;
      clearTimeout(timer);
    }
  }, true);

  // An action on the page (approve, acknowledge…) answered with "inbox-changed": the regions
  // refresh themselves; ask the server now for the badge.
  document.body.addEventListener("inbox-changed", function () { schedule(300); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { schedule(0); } });
  window.addEventListener("online", function () { schedule(0); });
  schedule();
})();
