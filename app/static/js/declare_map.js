/* Declaring where it happens (templates/events/_declare_form.html): the position of an event
 * without a site is picked on a map of the territory (a tap places the marker, a drag moves it),
 * or taken from the list of communes, or from the list of sites; never typed as coordinates
 * (the fields stay, folded, for a position read off a GPS). The wind typed in the parameters is
 * drawn from the point as an arrow going downwind. Leaflet over the territory's own layers (or
 * the console's raster basemap): no request leaves the console. Texts via textContent only. */
(function () {
  "use strict";

  if (!window.L) { return; }

  var COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSO", "SO", "OSO", "O", "ONO", "NO", "NNO"];
  var ARROW_M = 2500;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  function fmt(n, digits) {
    return Number(n).toLocaleString("fr-FR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  // Is [lon, lat] inside a GeoJSON (Multi)Polygon? Ray casting, holes included.
  function inRing(pt, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < (xj - xi) * (pt[1] - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }

  function inPolygon(pt, rings) {
    if (!inRing(pt, rings[0])) { return false; }
    for (var k = 1; k < rings.length; k++) { if (inRing(pt, rings[k])) { return false; } }
    return true;
  }

  function communeAt(features, lon, lat) {
    for (var i = 0; i < features.length; i++) {
      var g = features[i].geometry;
      var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      for (var k = 0; k < polys.length; k++) {
        if (inPolygon([lon, lat], polys[k])) { return (features[i].properties || {}).name || null; }
      }
    }
    return null;
  }

  // A point `metres` away on a bearing (degrees from north): plenty accurate over a few km.
  function destination(latlng, bearing, metres) {
    var rad = bearing * Math.PI / 180;
    var dLat = metres * Math.cos(rad) / 111320;
    var dLon = metres * Math.sin(rad) / (111320 * Math.cos(latlng.lat * Math.PI / 180));
    return L.latLng(latlng.lat + dLat, latlng.lng + dLon);
  }

  function parseDirection(text) {
    var raw = String(text || "").trim();
    if (!raw) { return null; }
    var number = raw.replace(",", ".").replace(/\s|°/g, "");
    if (/^[+-]?\d+(\.\d+)?$/.test(number)) {
      var deg = Number(number);
      return deg >= 0 && deg <= 360 ? deg : null;
    }
    var plain = raw.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toUpperCase().replace(/[^A-Z-]/g, "");
    [["NORD", "N"], ["SUD", "S"], ["OUEST", "O"], ["EST", "E"], ["W", "O"]].forEach(function (w) { plain = plain.split(w[0]).join(w[1]); });
    var i = COMPASS.indexOf(plain.replace(/-/g, ""));
    return i === -1 ? null : i * 22.5;
  }

  function init(node) {
    if (node.dataset.ready) { return; }
    node.dataset.ready = "1";
    node.hidden = false;
    var form = node.closest("form");
    var lon = form.querySelector("#lon");
    var lat = form.querySelector("#lat");
    var commune = form.querySelector("#commune");
    var site = form.querySelector("#site");
    var read = form.querySelector("#place-read");
    var wind = form.querySelector("input[data-direction]");
    var bbox = JSON.parse(node.getAttribute("data-bbox") || "[0.3, 49.35, 1.0, 49.75]");
    var map = L.map(node, { zoomControl: false, attributionControl: true, tap: true });
    L.control.zoom({ zoomInTitle: "Zoomer", zoomOutTitle: "Dézoomer" }).addTo(map);
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Fond : IGN ADMIN EXPRESS, données de démonstration");
    map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]]);
    L.control.scale({ imperial: false }).addTo(map);
    var rasters = JSON.parse(node.getAttribute("data-basemaps") || "[]");
    if (rasters.length) {
      var r = rasters[0];
      L.tileLayer(r.url, { minZoom: r.minZoom, maxNativeZoom: r.maxNativeZoom, maxZoom: 19, attribution: r.attribution }).addTo(map);
    }
    map.createPane("labels").style.zIndex = 450;
    map.getPane("labels").style.pointerEvents = "none";
    var communes = [];
    var styles = {
      communes: rasters.length ? { color: "#5f5f5f", weight: 1.2, fill: false } : { color: "#9a9a9a", weight: 1, fillColor: "#f3f1ea", fillOpacity: 1 },
      territory: { color: "#3c3c3c", weight: 2.5, fill: false },
      seine: { color: "#4a7fc1", weight: 5, opacity: 0.9 },
      roads: { color: "#7a4b2a", weight: 2, opacity: 0.9 }
    };
    ["communes", "territory", "seine", "roads"].forEach(function (slug) {
      getJSON(node.getAttribute("data-" + slug)).then(function (data) {
        L.geoJSON(data, { style: styles[slug], interactive: false }).addTo(map);
        if (slug === "communes") {
          communes = data.features || [];
          communes.forEach(function (f) {
            var name = (f.properties || {}).name;
            var bounds = L.geoJSON(f).getBounds();
            if (!name || !bounds.isValid()) { return; }
            var text = document.createElement("span");
            text.textContent = name;
            L.marker(bounds.getCenter(), { pane: "labels", interactive: false, keyboard: false, icon: L.divIcon({ className: "commune-label", html: text, iconSize: null }) }).addTo(map);
          });
          node.setAttribute("data-communes", String(communes.length));
          describe();
        }
      }).catch(function () { return null; });
    });

    var pin = L.divIcon({ className: "place-pin", iconSize: [28, 28], iconAnchor: [14, 28], html: "" });
    var marker = null;
    var arrow = L.layerGroup().addTo(map);

    function place(latlng, pan) {
      if (!marker) {
        marker = L.marker(latlng, { icon: pin, draggable: true, keyboard: false, title: "" }).addTo(map);
        marker.on("dragend", function () { pick(marker.getLatLng(), false); });
      } else {
        marker.setLatLng(latlng);
      }
      if (pan) { map.setView(latlng, Math.max(map.getZoom(), 12)); }
      drawWind();
    }

    function describe() {
      var text = "";
      if (site && site.value) {
        text = "Site : " + site.options[site.selectedIndex].textContent.trim();
      } else if (commune && commune.value) {
        text = "Commune de " + commune.options[commune.selectedIndex].textContent.trim() + " (position à préciser)";
      } else if (lon.value && lat.value && !isNaN(Number(lon.value)) && !isNaN(Number(lat.value))) {
        var name = communeAt(communes, Number(lon.value), Number(lat.value));
        text = "Point : " + fmt(lat.value, 5) + " N, " + fmt(lon.value, 5) + " E" + (name ? " — " + name : "");
      } else {
        text = "Aucun lieu choisi : touchez la carte ou choisissez une commune.";
      }
      read.textContent = text;
      node.setAttribute("data-place", text);
    }

    // A point picked on the map (tap or drag): the coordinates are filled in for the form.
    function pick(latlng, pan) {
      lon.value = latlng.lng.toFixed(6);
      lat.value = latlng.lat.toFixed(6);
      if (commune) { commune.value = ""; }
      if (site) { site.value = ""; }
      place(latlng, pan);
      describe();
      lon.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function fromOption(select) {
      var option = select.options[select.selectedIndex];
      if (!option || !option.value) { return null; }
      return L.latLng(Number(option.getAttribute("data-lat")), Number(option.getAttribute("data-lon")));
    }

    map.on("click", function (ev) { pick(ev.latlng, false); });
    if (commune) {
      commune.addEventListener("change", function () {
        var at = fromOption(commune);
        if (at) {
          lon.value = "";
          lat.value = "";
          if (site) { site.value = ""; }
          place(at, true);
        }
        describe();
      });
    }
    if (site) {
      site.addEventListener("change", function () {
        var at = fromOption(site);
        if (at) {
          lon.value = "";
          lat.value = "";
          if (commune) { commune.value = ""; }
          place(at, true);
        }
        describe();
      });
    }
    [lon, lat].forEach(function (input) {
      input.addEventListener("input", function () {
        if (!isNaN(Number(lon.value)) && !isNaN(Number(lat.value)) && lon.value && lat.value) {
          if (commune) { commune.value = ""; }
          if (site) { site.value = ""; }
          place(L.latLng(Number(lat.value), Number(lon.value)), true);
        }
        describe();
      });
    });

    // The wind from the parameters: an arrow from the point, going downwind, as it is typed.
    function drawWind() {
      arrow.clearLayers();
      if (!marker || !wind) { return; }
      var from = parseDirection(wind.value);
      node.setAttribute("data-wind-arrow", from === null ? "" : String(from));
      if (from === null) { return; }
      var to = (from + 180) % 360;
      var start = marker.getLatLng();
      var end = destination(start, to, ARROW_M);
      var style = { color: "#0b5cad", weight: 4, opacity: 0.9, interactive: false, className: "wind-line" };
      L.polyline([start, end], style).addTo(arrow);
      L.polyline([destination(end, to + 150, 500), end, destination(end, to - 150, 500)], style).addTo(arrow);
    }
    if (wind) { wind.addEventListener("input", drawWind); }

    var initial = (site && fromOption(site)) || (commune && fromOption(commune)) ||
      (lon.value && lat.value && !isNaN(Number(lon.value)) && !isNaN(Number(lat.value)) ? L.latLng(Number(lat.value), Number(lon.value)) : null);
    if (initial) { place(initial, true); }
    describe();
    node.setAttribute("data-ready", "1");
  }

  function initAll() { document.querySelectorAll("#declare-map").forEach(init); }
  document.addEventListener("DOMContentLoaded", initAll);
  document.addEventListener("htmx:afterSettle", initAll);
})();
