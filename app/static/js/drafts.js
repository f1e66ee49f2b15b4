/* Nothing typed is lost: drafts of the desk forms, kept in this tab (sessionStorage).
 *
 * A form marked data-draft="<key>" (the main courante entry on the desk, the justification of a
 * break-glass request) saves what is typed as it is typed, with the user it belongs to
 * (data-draft-user). When the session has just ended, the submission goes to the sign-in page
 * instead; after signing in again the user comes back to the page, the form is filled again and
 * a notice offers to send it (or to drop it). A draft is cleared once the server accepted the
 * form. Only the same user sees it; signing out clears the tab (Clear-Site-Data). Hidden fields,
 * passwords and one-time codes are never stored. The tablet's liaison view has its own outbox
 * (offline.js): its forms carry no data-draft.
 * Texts are written with textContent (strict CSP, no inline script).
 */
(function () {
  "use strict";

  var PREFIX = "crisis-draft:";
  var SKIP = { csrf_token: true, password: true, totp: true, code: true };

  function store() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function keyOf(form) { return PREFIX + form.getAttribute("data-draft"); }

  function fields(form) {
    var out = {};
    var empty = true;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.name] || el.type === "hidden" || el.type === "password" ||
          el.type === "submit" || el.type === "button") { return; }
      out[el.name] = el.value;
      if (el.tagName === "TEXTAREA" && el.value.trim()) { empty = false; }
      if (el.type === "text" && el.value.trim()) { empty = false; }
    });
    return empty ? null : out;
  }

  function read(form) {
    var s = store();
    if (!s) { return null; }
    try { return JSON.parse(s.getItem(keyOf(form)) || "null"); } catch (e) { return null; }
  }

  function save(form, submitted) {
    var s = store();
    if (!s) { return; }
    var values = fields(form);
    if (!values) { s.removeItem(keyOf(form)); return; }
    var previous = read(form) || {};
    s.setItem(keyOf(form), JSON.stringify({
      user: form.getAttribute("data-draft-user") || "",
      path: window.location.pathname + window.location.search,
      at: previous.at && previous.submitted ? previous.at : Date.now(),
      submitted: !!submitted,
      fields: values
    }));
  }

  function clear(form) {
    var s = store();
    if (s) { s.removeItem(keyOf(form)); }
    var notice = form.querySelector(".draft-notice");
    if (notice) { notice.remove(); }
  }

  function hhmm(ms) {
    var d = new Date(ms);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function offer(form, draft) {
    var notice = document.createElement("div");
    notice.className = "alert alert-warn draft-notice";
    notice.setAttribute("role", "status");
    var text = document.createElement("span");
    text.textContent = (draft.submitted
      ? "Votre saisie de " + hhmm(draft.at) + " n'a pas été enregistrée (la session avait pris fin) : elle est reprise ci-dessous."
      : "Brouillon de " + hhmm(draft.at) + " repris ci-dessous.") + " Vérifiez-la puis envoyez-la.";
    var send = document.createElement("button");
    send.type = "button";
    send.className = "btn btn-primary btn-small";
    send.textContent = "Envoyer";
    send.addEventListener("click", function () {
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
    var drop = document.createElement("button");
    drop.type = "button";
    drop.className = "btn btn-small";
    drop.textContent = "Effacer le brouillon";
    drop.addEventListener("click", function () {
      Object.keys(draft.fields).forEach(function (name) {
        var el = form.elements[name];
        if (el && el.tagName === "TEXTAREA") { el.value = ""; }
      });
      clear(form);
    });
    notice.appendChild(text);
    notice.appendChild(send);
    notice.appendChild(drop);
    form.insertBefore(notice, form.firstChild);
  }

  function restore(form) {
    var draft = read(form);
    if (!draft || draft.user !== (form.getAttribute("data-draft-user") || "")) { return; }
    var filled = false;
    Object.keys(draft.fields || {}).forEach(function (name) {
      var el = form.elements[name];
      if (!el || el.type === "hidden") { return; }
      if (el.value !== draft.fields[name]) { el.value = draft.fields[name]; filled = true; }
    });
    if (filled || draft.submitted) { offer(form, draft); }
  }

  function scan(root) {
    (root || document).querySelectorAll("form[data-draft]").forEach(restore);
  }

  // A plain form's answer page names the drafts it accepted (data-draft-done="<key>"):
  // forget them (the break-glass request, once the grant page shows it).
  function forgetAccepted() {
    var s = store();
    if (!s) { return; }
    document.querySelectorAll("[data-draft-done]").forEach(function (el) {
      s.removeItem(PREFIX + el.getAttribute("data-draft-done"));
    });
  }

  function waiting() {
    var s = store();
    var box = document.getElementById("draft-waiting");
    if (!s || !box) { return; }
    for (var i = 0; i < s.length; i++) {
      if ((s.key(i) || "").indexOf(PREFIX) === 0) { box.hidden = false; return; }
    }
  }

  document.addEventListener("input", function (ev) {
    var form = ev.target && ev.target.closest ? ev.target.closest("form[data-draft]") : null;
    if (form) { save(form, false); }
  });
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-draft")) { save(form, true); }
  }, true);
  // htmx forms (the main courante): the answer is swapped in, unless it sends to the sign-in
  // page (HX-Redirect, no swap: the draft stays). Accepted (2xx): forget the draft before the
  // fresh form arrives; refused (a 422 with the server's message): keep it, as a plain draft.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var config = ev.detail && ev.detail.requestConfig;
    var form = config && config.elt;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-draft")) { return; }
    var status = ev.detail.xhr ? ev.detail.xhr.status : 0;
    if (status >= 200 && status < 300) { clear(form); } else { save(form, false); }
  });
  document.addEventListener("htmx:afterSwap", function (ev) { scan(ev.target); });

  function start() {
    forgetAccepted();
    scan(document);
    waiting();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
