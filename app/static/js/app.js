// Small progressive enhancements; the console works without them.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
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
