// Small progressive enhancements; the console works without them.
"use strict";

// Confirmations sent by an htmx answer (HX-Trigger "crisis-flash", app.web.notices): shown in
// the #flash region of base.html, like the messages flashed before a redirect.
function crisisFlash(message, level) {
  var region = document.getElementById("flash");
  if (!region || !message) { return; }
  var p = document.createElement("p");
  p.className = "alert alert-" + (["ok", "warn", "error"].indexOf(level) >= 0 ? level : "ok") + " flash-message";
  p.textContent = message;
  region.replaceChildren(p);
  region.scrollIntoView({ block: "nearest" });
}

document.addEventListener("DOMContentLoaded", function () {
  document.body.addEventListener("crisis-flash", function (ev) {
    var d = ev.detail || {};
    var v = d.value && typeof d.value === "object" ? d.value : d;
    crisisFlash(v.message, v.level);
  });
  // Print buttons (data-print): the page's print CSS does the rest (the timeline).
  document.body.addEventListener("click", function (ev) {
    var el = ev.target instanceof Element ? ev.target.closest("[data-print]") : null;
    if (el) { window.print(); }
  });
  // Confirm dangerous actions (forms marked data-confirm) without inline script.
  document.body.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        ev.preventDefault();
      }
    }
  });
});

// Countdowns (elements with data-expires="ISO date"): shown as mm:ss, refreshed every second.
function crisisTickCountdowns() {
  var now = Date.now();
  document.querySelectorAll("[data-expires]").forEach(function (el) {
    var left = Math.max(0, Math.floor((Date.parse(el.dataset.expires) - now) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = (h > 0 ? h + " h " : "") + String(m).padStart(2, "0") + " min " + String(s).padStart(2, "0") + " s";
    if (left === 0) { el.classList.add("expired"); }
  });
}
setInterval(crisisTickCountdowns, 1000);

// A region being typed in is not replaced under the user's fingers: refreshes wait until the
// focus leaves it and nothing typed is left in it (used by the inbox; static/js/live.js
// has its own rule for the regions that follow an event's state).
function crisisBusy(region) {
  if (!region) { return false; }
  if (region.contains(document.activeElement) && document.activeElement !== document.body) { return true; }
  return Array.prototype.some.call(region.querySelectorAll("textarea, input:not([type=hidden])"), function (el) {
    return el.value && el.value.trim() !== "";
  });
}

