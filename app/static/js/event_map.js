/* The event's interactive map (impact/_map.html): Leaflet over an offline basemap drawn from the
 * territory's own GeoJSON (no tile server, no external request), the zones coloured red / orange
 * / yellow, the road closure points and the public establishments.
 * Configuration comes from data-* attributes (the CSP forbids inline scripts); every text taken
 * from the data is written with textContent, never as HTML. */
(function () {
  "use strict";

  var ZONE_STYLES = {
    red: { color: "#b2182b", fillColor: "#e31a1c", fillOpacity: 0.35, weight: 2 },
    orange: { color: "#e06000", fillColor: "#fd8d3c", fillOpacity: 0.35, weight: 2 },
    yellow: { color: "#c9a400", fillColor: "#ffe135", fillOpacity: 0.35, weight: 2 }
  };
  var ZONE_ORDER = { yellow: 0, orange: 1, red: 2 };
  var BASEMAP = {
    communes: { color: "#9a9a9a", weight: 1, fillColor: "#f3f1ea", fillOpacity: 1 },
    territory: { color: "#3c3c3c", weight: 2.5, fill: false },
    seine: { color: "#4a7fc1", weight: 5, opacity: 0.9 },
    roads: { color: "#7a4b2a", weight: 2, opacity: 0.9 }
  };
  var ESTABLISHMENT = {
    schools: { color: "#1b5e20", fillColor: "#66bb6a", label: "Établissement scolaire" },
    "health-care": { color: "#0d47a1", fillColor: "#64b5f6", label: "Établissement de santé" }
  };
  var LEVEL_LABELS = { red: "zone rouge", orange: "zone orange", yellow: "zone jaune" };

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + " : " + r.status); }
        return r.json();
      });
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function fmtNumber(n, digits) {
    return Number(n).toLocaleString("fr-FR", { maximumFractionDigits: digits || 0 });
  }

  function fmtDistance(m) {
    if (m === null || m === undefined) { return ""; }
    return m >= 1000 ? fmtNumber(m / 1000, 1) + " km" : fmtNumber(m) + " m";
  }

  function zonePopup(p) {
    var box = el("div");
    box.appendChild(el("strong", p.label));
    box.appendChild(el("div", "Seuil : " + p.threshold));
    if (p.distance_m) {
      var src = p.distance_source === "site" ? " (étude de dangers du site)" : " (distance générique)";
      box.appendChild(el("div", "Distance : " + fmtDistance(p.distance_m) + src));
    }
    box.appendChild(el("div", p.family, "muted"));
    return box;
  }

  function pointPopup(p) {
    var box = el("div");
    if (p.kind === "closure") {
      box.appendChild(el("strong", "Point de bouclage"));
      box.appendChild(el("div", [p.ref, p.name].filter(Boolean).join(" — ")));
      if (p.bearing_deg !== null && p.bearing_deg !== undefined) {
        box.appendChild(el("div", "Direction depuis la source : " + fmtNumber(p.bearing_deg) + "°"));
      }
      return box;
    }
    if (p.kind === "source") {
      box.appendChild(el("strong", "Source"));
      box.appendChild(el("div", p.name));
      return box;
    }
    if (p.kind === "centre") {
      box.appendChild(el("strong", p.name));
      box.appendChild(el("div", "Centre d'accueil ouvert — " + p.commune));
      box.appendChild(el("div", "Présents : " + fmtNumber(p.occupancy) + " / " + fmtNumber(p.capacity)));
      box.appendChild(el("div", remainingText(p), p.occupancy > p.capacity ? "danger" : ""));
      return box;
    }
    box.appendChild(el("strong", p.name || p.id));
    var kind = ESTABLISHMENT[p.dataset];
    box.appendChild(el("div", [kind ? kind.label : "", p.type].filter(Boolean).join(" — ")));
    if (p.capacity !== null && p.capacity !== undefined) {
      box.appendChild(el("div", "Capacité : " + fmtNumber(p.capacity)));
    }
    if (p.commune) { box.appendChild(el("div", p.commune)); }
    box.appendChild(el("div", "À " + fmtDistance(p.distance_m) + " de la source"));
    if (p.zone) { box.appendChild(el("div", "Dans la " + (LEVEL_LABELS[p.zone] || p.zone), "muted")); }
    return box;
  }

  function remainingText(p) {
    if (p.occupancy > p.capacity) { return "Capacité dépassée de " + fmtNumber(p.occupancy - p.capacity); }
    return fmtNumber(p.remaining) + (p.remaining > 1 ? " places restantes" : " place restante");
  }

  function showRestricted(container, restricted) {
    var shown = (restricted || []).filter(function (r) { return r.count > 0; });
    if (!container || !shown.length) { return; }
    container.textContent = "";
    container.appendChild(el("span", "Non affichées sur la carte (données restreintes) : "));
    shown.forEach(function (r, i) {
      if (i > 0) { container.appendChild(document.createTextNode(" · ")); }
      container.appendChild(el("span", fmtNumber(r.count) + " " + r.title + " "));
      var a = el("a", "ouvrir l'accès");
      a.href = r.request_access;
      container.appendChild(a);
    });
    container.hidden = false;
  }

  function restrictedPopup(layer, p) {
    var box = el("div");
    box.appendChild(el("strong", "DIFFUSION RESTREINTE", "restricted-mark"));
    box.appendChild(el("div", layer.title));
    Object.keys(p).sort().forEach(function (k) {
      if (p[k] !== null && p[k] !== undefined && p[k] !== "") {
        box.appendChild(el("div", k + " : " + String(p[k])));
      }
    });
    return box;
  }

  // Layers opened by a valid grant: drawn apart, marked, and said above the map.
  function showOpened(map, node, opened) {
    if (!opened || !opened.length) { return; }
    var note = el("p", "", "map-opened");
    note.id = "event-map-opened";
    note.appendChild(el("strong", "DIFFUSION RESTREINTE", "restricted-mark"));
    note.appendChild(document.createTextNode(" Affichées par bris de glace : " + opened.map(function (o) {
      return o.title + " (" + fmtNumber(o.features.features.length) + ")";
    }).join(" · ")));
    opened.forEach(function (o) {
      // A dataset kept by its owner: say whether it was read live or from the synced copy.
      if (o.source && o.source.kind !== "live") {
        note.appendChild(el("span", " — " + o.title + " : " + o.source.message, "map-source-copy"));
      }
    });
    node.parentNode.insertBefore(note, node);
    opened.forEach(function (o) {
      L.geoJSON(o.features, {
        style: function () { return { className: "restricted-feature", color: "#6a1b9a", weight: 2.5, opacity: 0.9, dashArray: "6 3" }; },
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { className: "restricted-feature", pane: "points", radius: 5, color: "#4a148c", weight: 1.5, fillColor: "#ce93d8", fillOpacity: 1 });
        },
        onEachFeature: function (f, l) { l.bindPopup(restrictedPopup(o, f.properties || {})); }
      }).addTo(map);
    });
    node.setAttribute("data-opened", String(opened.length));
  }

  function init(node) {
    if (!window.L || node.dataset.ready) { return; }
    node.dataset.ready = "1";
    node.textContent = "";  // the no-script fallback image
    var map = L.map(node, { zoomControl: true, attributionControl: true, preferCanvas: false });
    map.attributionControl.setPrefix(false);
    var rasters = JSON.parse(node.getAttribute("data-basemaps") || "[]");
    var basemapStyles = BASEMAP;
    if (rasters.length) {
      // The territory's own raster basemap, served by the console (/basemaps/…), under
      // everything; the communes become outlines so that it shows through.
      var r = rasters[0];
      var options = {
        minZoom: r.minZoom, maxNativeZoom: r.maxNativeZoom, maxZoom: 19,
        attribution: r.attribution, className: "raster-basemap"
      };
      if (r.bounds) { options.bounds = [[r.bounds[1], r.bounds[0]], [r.bounds[3], r.bounds[2]]]; }
      L.tileLayer(r.url, options).addTo(map);
      basemapStyles = Object.assign({}, BASEMAP, { communes: { color: "#5f5f5f", weight: 1.2, fill: false } });
      node.setAttribute("data-raster", r.name);
      map.attributionControl.addAttribution("Limites : IGN ADMIN EXPRESS, données de démonstration");
    } else {
      map.attributionControl.addAttribution("Fond : IGN ADMIN EXPRESS, données de démonstration");
    }
    map.setView([49.5, 0.6], 11);
    map.createPane("zones").style.zIndex = 420;
    map.createPane("points").style.zIndex = 640;

    var base = {};
    ["communes", "territory", "seine", "roads"].forEach(function (slug) {
      var url = node.getAttribute("data-basemap-" + slug);
      if (!url) { return; }
      base[slug] = getJSON(url).then(function (data) {
        var layer = L.geoJSON(data, { style: basemapStyles[slug], interactive: slug === "roads" });
        if (slug === "roads") {
          layer.eachLayer(function (l) {
            var p = l.feature.properties || {};
            var label = [p.ref, p.name].filter(Boolean).join(" — ");
            if (label) { l.bindTooltip(el("span", label), { sticky: true }); }
          });
        }
        layer.addTo(map);
        if (slug === "territory" || slug === "seine" || slug === "roads") { layer.bringToFront(); }
        return layer;
      }).catch(function () { return null; });
    });

    var zonesDone = getJSON(node.dataset.zonesUrl).then(function (fc) {
      var feats = (fc.features || []).slice().sort(function (a, b) {
        return (ZONE_ORDER[a.properties.level] || 0) - (ZONE_ORDER[b.properties.level] || 0);
      });
      var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
        pane: "zones",
        style: function (f) { return ZONE_STYLES[f.properties.level] || ZONE_STYLES.yellow; },
        onEachFeature: function (f, l) { l.bindPopup(zonePopup(f.properties)); }
      }).addTo(map);
      if (feats.length) {
        map.fitBounds(layer.getBounds(), { padding: [20, 20] });
      } else if (fc.source) {
        map.setView([fc.source.lat, fc.source.lon], 13);
      }
      node.setAttribute("data-zones", String(feats.length));
      return layer;
    });

    var pointsDone = getJSON(node.dataset.featuresUrl).then(function (fc) {
      var counts = { closure: 0, establishment: 0, source: 0 };
      L.geoJSON(fc, {
        pane: "points",
        pointToLayer: function (f, latlng) {
          var p = f.properties;
          counts[p.kind] = (counts[p.kind] || 0) + 1;
          if (p.kind === "closure") {
            return L.circleMarker(latlng, { pane: "points", radius: 7, color: "#7d0c14", weight: 3, fillColor: "#ffffff", fillOpacity: 1 });
          }
          if (p.kind === "source") {
            return L.circleMarker(latlng, { pane: "points", radius: 8, color: "#000000", weight: 2, fillColor: "#d7191c", fillOpacity: 1 });
          }
          if (p.kind === "centre") {
            var full = p.remaining <= 0;
            return L.circleMarker(latlng, {
              pane: "points", radius: 9, color: "#0b4f2a", weight: 3, fillColor: full ? "#b2182b" : "#2e9d5b", fillOpacity: 1
            }).bindTooltip(p.occupancy > p.capacity ? "complet" : fmtNumber(p.remaining) + " pl.", {
              permanent: true, direction: "right", className: "centre-tooltip"
            });
          }
          var s = ESTABLISHMENT[p.dataset] || ESTABLISHMENT.schools;
          return L.circleMarker(latlng, {
            pane: "points", radius: p.zone ? 6 : 4, color: s.color, weight: 1.5,
            fillColor: s.fillColor, fillOpacity: p.zone ? 1 : 0.6
          });
        },
        onEachFeature: function (f, l) { l.bindPopup(pointPopup(f.properties)); }
      }).addTo(map);
      node.setAttribute("data-closures", String(counts.closure));
      node.setAttribute("data-establishments", String(counts.establishment));
      node.setAttribute("data-centres", String(counts.centre || 0));
      showRestricted(document.getElementById("event-map-restricted"), fc.restricted);
      showOpened(map, node, fc.opened);
    });

    Promise.all([zonesDone, pointsDone]).then(function () {
      node.setAttribute("data-loaded", "1");
    }).catch(function () {
      node.setAttribute("data-error", "1");
      node.appendChild(el("p", "La carte n'a pas pu être chargée ; l'extrait imprimable reste disponible.", "alert alert-error"));
    });
  }

  function initAll() {
    document.querySelectorAll(".event-map[data-zones-url]").forEach(init);
  }

  document.addEventListener("DOMContentLoaded", initAll);
  document.addEventListener("htmx:afterSettle", initAll);
})();
