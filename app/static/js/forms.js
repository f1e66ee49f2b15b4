/* Event forms, keyboard first (templates/events/_log_form.html, _param_field.html).
 *
 * - The main-courante entry: Enter inscribes (Shift+Enter: a new line), Alt + the letter shown
 *   on a category (or Alt+1…5) picks it without leaving the text, Escape empties the text. The
 *   form is submitted with requestSubmit(), so htmx (desk) or the tablet's queue (offline.js)
 *   sends it as if its button had been pressed; after an htmx swap the text has the focus again.
 * - The confirmation after each entry: the server's fragment says it on the desk; on the tablet
 *   the queue tells ("crisis:queued", "crisis:sent") and it is written here.
 * - A direction field (data-direction): degrees or a point of the compass (N, NNE, … NNO, and
 *   "sud-ouest"), its arrow drawn as you type, pointing where the wind blows.
 * Texts are written with textContent (strict CSP, no inline script).
 */
(function () {
  "use strict";

  var COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSO", "SO", "OSO", "O", "ONO", "NO", "NNO"];
  var WORDS = [["NORD", "N"], ["SUD", "S"], ["OUEST", "O"], ["EST", "E"], ["W", "O"]];

  // --- directions --------------------------------------------------------------------------------

  function parseDirection(text) {
    var raw = String(text || "").trim();
    if (!raw) { return null; }
    var number = raw.replace(",", ".").replace(/\s|°/g, "");
    if (/^[+-]?\d+(\.\d+)?$/.test(number)) {
      var deg = Number(number);
      return deg >= 0 && deg <= 360 ? deg : NaN;
    }
    var plain = raw.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toUpperCase().replace(/[^A-Z-]/g, "");
    WORDS.forEach(function (w) { plain = plain.split(w[0]).join(w[1]); });
    plain = plain.replace(/-/g, "");
    var i = COMPASS.indexOf(plain);
    return i === -1 ? NaN : i * 22.5;
  }

  function compass(deg) {
    return COMPASS[Math.floor(((deg % 360) + 360) % 360 / 22.5 + 0.5) % 16];
  }

  function fmt(n) {
    return Number(n).toLocaleString("fr-FR", { maximumFractionDigits: 1 });
  }

  function drawDirection(input) {
    var box = input.closest(".direction-input");
    if (!box) { return; }
    var needle = box.querySelector(".direction-needle");
    var read = box.querySelector(".direction-read");
    var deg = parseDirection(input.value);
    if (deg === null || isNaN(deg)) {
      if (needle) { needle.hidden = true; }
      if (read) { read.textContent = deg === null ? "" : "Direction non reconnue"; }
      input.setAttribute("aria-invalid", deg === null ? "false" : "true");
      input.removeAttribute("data-degrees");
      return;
    }
    if (needle) {
      // The exact angle (the server drew the nearest of 16); CSSOM, allowed by the CSP.
      needle.hidden = false;
      needle.style.transform = "rotate(" + ((deg + 180) % 360) + "deg)";
    }
    if (read) { read.textContent = fmt(deg) + "° (" + compass(deg) + ") — vers le " + compass((deg + 180) % 360); }
    input.setAttribute("aria-invalid", "false");
    input.setAttribute("data-degrees", String(deg));
  }

  document.addEventListener("input", function (ev) {
    if (ev.target.matches && ev.target.matches("input[data-direction]")) { drawDirection(ev.target); }
  });

  function initDirections(root) {
    (root || document).querySelectorAll("input[data-direction]").forEach(drawDirection);
  }

  // --- the entry form ------------------------------------------------------------------------------

  function entryForm(node) {
    return node && node.closest ? node.closest("form[data-entry-form]") : null;
  }

  function pick(form, radio) {
    if (!radio) { return false; }
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    var form = entryForm(ev.target);
    if (!form) { return; }
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      var key = (ev.key || "").toLowerCase();
      var byKey = form.querySelector('input[name="category"][data-key="' + key + '"]');
      var byIndex = /^[1-5]$/.test(key) ? form.querySelector('input[name="category"][data-index="' + key + '"]') : null;
      if (pick(form, byKey || byIndex)) {
        ev.preventDefault();
        var text = form.querySelector("textarea[name=text]");
        if (text && ev.target !== text) { text.focus(); }
      }
      return;
    }
    if (ev.target.tagName !== "TEXTAREA" || ev.target.name !== "text") { return; }
    if (ev.key === "Enter" && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
      ev.preventDefault();
      if (!ev.target.value.trim()) { return; }
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    } else if (ev.key === "Escape" && ev.target.value) {
      ev.preventDefault();
      ev.target.value = "";
    }
  });

  // Accesskey activation (Alt+letter in most browsers) checks the radio and moves the focus
  // there: give it back to the text.
  document.addEventListener("change", function (ev) {
    var form = entryForm(ev.target);
    if (form && ev.target.name === "category" && document.activeElement === ev.target) {
      var text = form.querySelector("textarea[name=text]");
      if (text && form.closest(".log-form-card:not(.compact)")) { text.focus(); }
    }
  });

  function confirmText(form, text) {
    var box = form && form.querySelector(".log-confirm");
    if (!box) { return; }
    box.textContent = "";
    var mark = document.createElement("span");
    mark.className = "log-confirm-mark";
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = "✓";
    box.appendChild(mark);
    box.appendChild(document.createTextNode(" " + text));
    box.hidden = false;
    box.classList.remove("log-confirm-fresh");
    void box.offsetWidth;
    box.classList.add("log-confirm-fresh");
  }

  function hhmm(iso) {
    var d = iso ? new Date(iso) : new Date();
    return new Intl.DateTimeFormat("fr-FR", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit" }).format(d);
  }

  function short(text) {
    text = String(text || "");
    return text.length > 60 ? text.slice(0, 57) + "…" : text;
  }

  // The tablet's queue: written on the tablet, then recorded by the console.
  document.addEventListener("crisis:queued", function (ev) {
    var item = ev.detail || {};
    if (item.kind !== "log") { return; }
    confirmText(document.querySelector("#log-form form"), "Saisie gardée sur la tablette à " + hhmm(item.fact_at) + " : « " + short(item.body && item.body.text) + " » — envoi en cours…");
  });
  document.addEventListener("crisis:sent", function (ev) {
    var item = ev.detail || {};
    if (item.kind !== "log") { return; }
    var answer = item.answer || {};
    var number = answer.id ? "n°" + answer.id + ", " : "";
    confirmText(document.querySelector("#log-form form"), "Inscrit à la main courante : " + number + "à " + hhmm(answer.recorded_at) + " — « " + short(item.body && item.body.text) + " »");
  });

  // After htmx put a fresh form (desk), the text keeps the focus: the next entry is one keystroke away.
  document.addEventListener("htmx:afterSettle", function (ev) {
    var target = ev.detail && ev.detail.elt;
    if (target && target.id === "log-form") {
      var text = target.querySelector("textarea[name=text]");
      if (text && !target.classList.contains("compact")) { text.focus(); }
    }
    initDirections(target);
  });

  document.addEventListener("DOMContentLoaded", function () { initDirections(document); });
})();
