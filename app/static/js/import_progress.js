// Progress bar of a dataset import: upload progress from htmx, then the server's own progress
// (polled from the URL the form carries). Without JavaScript the form posts as usual.
"use strict";

(function () {
  var timer = null;

  function region() { return document.getElementById("import-progress"); }

  function poll(url) {
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var el = region();
        if (html && el && timer !== null) { el.outerHTML = html; }
      })
      .catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.importProgress) { return; }
    var el = region();
    if (el) { el.hidden = false; }
    var url = form.dataset.importProgress;
    if (timer !== null) { clearInterval(timer); }
    timer = setInterval(function () { poll(url); }, 700);
  });

  document.addEventListener("htmx:xhr:progress", function (ev) {
    var el = region();
    var d = ev.detail || {};
    if (!el || !d.lengthComputable || !d.total) { return; }
    var bar = el.querySelector("progress");
    var text = el.querySelector("p");
    var pct = Math.round((100 * d.loaded) / d.total);
    if (bar && pct < 100) { bar.value = pct; }
    if (text && pct < 100) { text.textContent = "Envoi du fichier : " + pct + " %"; }
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.importProgress && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  });
})();
