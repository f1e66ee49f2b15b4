// Address search results (addresses/_search.html): choosing one places the point.
// "declare": fills the declare form's longitude/latitude; "map": asks the map to show it
// (a "crisis:address" event that map.js listens to). Loaded once however often the field is
// swapped in.
"use strict";

(function () {
  if (window.crisisAddressSearch) { return; }
  window.crisisAddressSearch = true;

  function choose(button) {
    var box = button.closest("[data-address-search]");
    if (!box) { return; }
    var lon = button.dataset.lon, lat = button.dataset.lat, label = button.dataset.label;
    var status = box.querySelector(".address-chosen");
    if (box.dataset.addressSearch === "map") {
      document.dispatchEvent(new CustomEvent("crisis:address", {
        detail: { lon: parseFloat(lon), lat: parseFloat(lat), label: label }
      }));
    } else {
      var form = box.closest("form") || document;
      var lonInput = form.querySelector("#lon"), latInput = form.querySelector("#lat");
      if (lonInput && latInput) {
        lonInput.value = lon;
        latInput.value = lat;
        var site = form.querySelector("#site");
        if (site && site.querySelector('option[value=""]')) { site.value = ""; }
        // The declaration's map (declare_map.js) follows the fields: marker, commune, readout.
        lonInput.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
    if (status) { status.textContent = "Point placé : " + label + " (" + lon + ", " + lat + ")"; }
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest(".address-result");
    if (button) { ev.preventDefault(); choose(button); }
  });

  // Enter in the search field searches; it must not submit the declare form around it.
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && ev.target.closest && ev.target.closest("[data-address-search] input")) {
      ev.preventDefault();
      if (window.htmx) { window.htmx.trigger(ev.target, "search"); }
    }
  });
})();
