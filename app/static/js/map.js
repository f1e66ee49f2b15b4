/* Interactive map: Leaflet over an offline basemap drawn from our own GeoJSON (no tile server).
 * Configuration comes from data-* attributes (the CSP forbids inline scripts); feature
 * properties are shown with textContent only, never as HTML. */
(function () {
  "use strict";

  var STYLES = {
    territory: { color: "#0b3c6e", weight: 3, fill: false },
    communes: { color: "#8a97a6", weight: 1, fillColor: "#f7f5ef", fillOpacity: 0.9 },
    seine: { color: "#2b7bb9", weight: 5, opacity: 0.9 },
    roads: { color: "#c0392b", weight: 2.5, opacity: 0.85 },
    "flood-extents": { color: "#1f6fb2", weight: 1, fillColor: "#5fa8e8", fillOpacity: 0.25 },
    ppi: { color: "#b03a2e", weight: 2, dashArray: "6 4", fillOpacity: 0.05 },
    "population-grid": { color: "#8e44ad", weight: 0.3, fillColor: "#8e44ad", fillOpacity: 0.25 }
  };
  var POINT_COLORS = {
    "seveso-sites": "#d35400",
    schools: "#16a085",
    "health-care": "#c0392b"
  };
  var PALETTE = ["#2c3e50", "#27ae60", "#8e44ad", "#e67e22", "#16a085", "#7f8c8d"];

  function styleFor(layer, i) {
    if (STYLES[layer.slug]) { return STYLES[layer.slug]; }
    var c = PALETTE[i % PALETTE.length];
    return { color: c, weight: 2, fillColor: c, fillOpacity: 0.2 };
  }

  function roadStyle(feature) {
    var kind = feature.properties && feature.properties.kind;
    if (kind === "motorway") { return { color: "#b03a2e", weight: 4 }; }
    if (kind === "bridge") { return { color: "#6c3483", weight: 5 }; }
    if (kind === "primary") { return { color: "#d35400", weight: 3 }; }
    return { color: "#e59866", weight: 2 };
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) { el.className = cls; }
    return el;
  }

  function formatValue(v) {
    if (v === null || v === undefined) { return "—"; }
    if (typeof v === "boolean") { return v ? "oui" : "non"; }
    if (typeof v === "number") { return v.toLocaleString("fr-FR"); }
    if (typeof v === "object") { return JSON.stringify(v); }
    return String(v);
  }

  function popupFor(layer, feature) {
    var props = feature.properties || {};
    var box = document.createElement("div");
    box.appendChild(text("p", props.name || props.title || String(feature.id), "popup-title"));
    box.appendChild(text("p", layer.title, "popup-layer"));
    var table = document.createElement("table");
    table.className = "popup-table";
    var labels = {};
    (layer.fields || []).forEach(function (f) { labels[f.name] = f.label; });
    Object.keys(props).forEach(function (key) {
      if (key === "name") { return; }
      var v = props[key];
      if (v !== null && typeof v === "object" && !Array.isArray(v) && "type" in v) { return; }
      var tr = document.createElement("tr");
      tr.appendChild(text("th", labels[key] || key));
      tr.appendChild(text("td", formatValue(v)));
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  // A raster basemap of the console's own (/basemaps/…): never a request off the origin.
  function rasterLayer(r) {
    var options = {
      minZoom: r.minZoom, maxNativeZoom: r.maxNativeZoom, maxZoom: 19,
      attribution: r.attribution, className: "raster-basemap"
    };
    if (r.bounds) { options.bounds = [[r.bounds[1], r.bounds[0]], [r.bounds[3], r.bounds[2]]]; }
    return L.tileLayer(r.url, options);
  }

  function setStatus(message) {
    var el = document.getElementById("map-status");
    if (el) { el.textContent = message; }
  }

  function init() {
    var nonPoint = 0;
    function countLines() { nonPoint += 1; return nonPoint - 1; }
    var el = document.getElementById("map");
    if (!el || typeof L === "undefined") { return; }
    var layers = JSON.parse(el.getAttribute("data-layers") || "[]");
    var extent = JSON.parse(el.getAttribute("data-extent") || "null");
    var rasters = JSON.parse(el.getAttribute("data-basemaps") || "[]");
    var map = L.map(el, { preferCanvas: true, zoomSnap: 0.25, tap: true, attributionControl: true });
    map.attributionControl.setPrefix(false);
    if (rasters.length) {
      // The territory's own raster basemap, served by the console: the communes become outlines.
      rasterLayer(rasters[0]).addTo(map);
      STYLES.communes = { color: "#5d6d7e", weight: 1.2, fill: false };
      el.setAttribute("data-raster", rasters[0].name);
      map.attributionControl.addAttribution("Limites : IGN ADMIN EXPRESS (simplifiées), données de démonstration");
    } else {
      map.attributionControl.addAttribution("Fond : communes IGN ADMIN EXPRESS (simplifiées), données de démonstration");
    }
    if (extent) {
      map.fitBounds([[extent[1], extent[0]], [extent[3], extent[2]]], { padding: [10, 10] });
    } else {
      map.setView([49.53, 0.6], 11);
    }
    L.control.scale({ imperial: false }).addTo(map);

    var overlays = {};
    var order = [];
    // Layers arrive in any order: keep the declared stacking (basemap first, points on top).
    function restack() {
      order.forEach(function (g) { if (map.hasLayer(g)) { g.bringToFront(); } });
    }
    var control = L.control.layers(null, null, { collapsed: window.innerWidth < 900 });
    var pending = 0;

    layers.forEach(function (layer, i) {
      var style = styleFor(layer, i);
      var group = L.geoJSON(null, {
        style: layer.slug === "roads" ? roadStyle : function () { return style; },
        pointToLayer: function (feature, latlng) {
          var color = POINT_COLORS[layer.slug] || PALETTE[i % PALETTE.length];
          return L.circleMarker(latlng, {
            radius: 7, color: "#fff", weight: 1.5, fillColor: color, fillOpacity: 0.95
          });
        },
        onEachFeature: function (feature, lyr) {
          lyr.bindPopup(function () { return popupFor(layer, feature); }, { maxWidth: 320 });
        },
        interactive: layer.slug !== "territory"
      });
      var loaded = false;
      function load() {
        if (loaded) { return; }
        loaded = true;
        pending += 1;
        setStatus("Chargement : " + layer.title + "…");
        fetch(layer.url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
          .then(function (r) {
            if (!r.ok) { throw new Error(String(r.status)); }
            return r.json();
          })
          .then(function (data) {
            group.addData(data);
            restack();
          })
          .catch(function () {
            loaded = false;
            setStatus("Impossible de charger « " + layer.title + " ».");
          })
          .then(function () {
            pending -= 1;
            if (pending === 0) { setStatus(""); }
          });
      }
      group.on("add", function () { load(); restack(); });
      var label = layer.title + " (" + layer.count.toLocaleString("fr-FR") + ")";
      overlays[layer.slug] = group;
      if (layer.geometry === "Point") { order.push(group); } else { order.splice(countLines(), 0, group); }
      control.addOverlay(group, label);
      if (layer.basemap) { group.addTo(map); }
    });
    control.addTo(map);

    // An address chosen in the search field (addresses/_search.html) is shown as a point.
    var addressMarker = null;
    document.addEventListener("crisis:address", function (ev) {
      var d = ev.detail || {};
      if (typeof d.lat !== "number" || typeof d.lon !== "number") { return; }
      if (addressMarker) { map.removeLayer(addressMarker); }
      addressMarker = L.circleMarker([d.lat, d.lon], {
        radius: 9, color: "#0b3c6e", weight: 3, fillColor: "#f1c40f", fillOpacity: 1
      }).addTo(map);
      addressMarker.bindPopup(function () { return text("p", d.label, "popup-title"); }).openPopup();
      map.setView([d.lat, d.lon], Math.max(map.getZoom(), 16));
    });
    el.setAttribute("data-ready", "1");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
