/* The event's interactive map (impact/_map.html): Leaflet over an offline basemap drawn from the
 * territory's own GeoJSON (or the console's raster basemap; no external request), with what a
 * crisis room needs to read it: the zones coloured red / orange / yellow, the source, the road
 * closure points, the public establishments, the layers opened by a grant (each its own colour,
 * marked DIFFUSION RESTREINTE), the names of the communes, a scale, a north arrow, the wind
 * (arrow and speed), a legend of every layer drawn, tap targets a finger can hit, and a
 * "plein écran" mode for the room's wall screen.
 *
 * The map follows the event live: static/js/live.js fires "live-refresh" on #event-map when the
 * zones or the grants change; the zones, points and opened layers are fetched again and redrawn
 * (data-zones-version says which zones are drawn).
 * Configuration comes from data-* attributes (the CSP forbids inline scripts); every text taken
 * from the data is written with textContent, never as HTML. */
(function () {
  "use strict";

  if (!window.L) { return; } // Leaflet did not load: the no-script image stays

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
  var BASEMAP_LABELS = {
    communes: "Limites communales",
    territory: "Limite de l'agglomération",
    seine: "La Seine",
    roads: "Routes (touchez pour le nom)"
  };
  var ESTABLISHMENT = {
    schools: { color: "#1b5e20", fillColor: "#66bb6a", label: "Établissement scolaire", plural: "Établissements scolaires" },
    "health-care": { color: "#0d47a1", fillColor: "#64b5f6", label: "Établissement de santé", plural: "Établissements de santé" }
  };
  var CLOSURE = { color: "#7d0c14", fillColor: "#ffffff", label: "Point de bouclage", plural: "Points de bouclage" };
  var SOURCE = { color: "#000000", fillColor: "#d7191c", label: "Source (lieu de l'événement)" };
  var CENTRE = { color: "#0b4f2a", fillColor: "#2e9d5b", label: "Centre d'accueil ouvert (places restantes)", plural: "Centres d'accueil ouverts (places restantes)" };
  // Layers opened by a grant: colours apart from the zones, the establishments and each other.
  var RESTRICTED = [
    { color: "#6a1b9a", fillColor: "#ce93d8", dashArray: "7 3" },
    { color: "#c2185b", fillColor: "#f48fb1", dashArray: "2 4" },
    { color: "#00838f", fillColor: "#80deea", dashArray: "10 3 2 3" },
    { color: "#4e342e", fillColor: "#bcaaa4", dashArray: "4 2" },
    { color: "#283593", fillColor: "#9fa8da", dashArray: "12 4" },
    { color: "#827717", fillColor: "#e6ee9c", dashArray: "1 3" }
  ];
  var LEVEL_LABELS = { red: "zone rouge", orange: "zone orange", yellow: "zone jaune" };
  var COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSO", "SO", "OSO", "O", "ONO", "NO", "NNO"];
  var LABEL_MIN_ZOOM = 11;
  var SVG_NS = "http://www.w3.org/2000/svg";

  function coarse() {
    return window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  }

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

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function fmtNumber(n, digits) {
    return Number(n).toLocaleString("fr-FR", { maximumFractionDigits: digits || 0 });
  }

  function fmtDistance(m) {
    if (m === null || m === undefined) { return ""; }
    return m >= 1000 ? fmtNumber(m / 1000, 1) + " km" : fmtNumber(m) + " m";
  }

  function compass(deg) {
    return COMPASS[Math.floor(((Number(deg) % 360) + 360) % 360 / 22.5 + 0.5) % 16];
  }

  function hhmm(iso) {
    var d = new Date(iso);
    if (isNaN(d)) { return ""; }
    return new Intl.DateTimeFormat("fr-FR", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit" }).format(d);
  }

  // --- popups ----------------------------------------------------------------------------------

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

  function showRestricted(container, restricted) {
    if (!container) { return; }
    var shown = (restricted || []).filter(function (r) { return r.count > 0; });
    container.textContent = "";
    container.hidden = !shown.length;
    if (!shown.length) { return; }
    container.appendChild(el("span", "Non affichées sur la carte (données restreintes) : "));
    shown.forEach(function (r, i) {
      if (i > 0) { container.appendChild(document.createTextNode(" · ")); }
      container.appendChild(el("span", fmtNumber(r.count) + " " + r.title + " "));
      var a = el("a", "ouvrir l'accès");
      a.href = r.request_access;
      container.appendChild(a);
    });
  }

  // --- controls: north arrow, wind, restricted marking -----------------------------------------

  var NorthArrow = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = el("div", null, "map-north leaflet-bar");
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", "Nord en haut de la carte");
      var pic = svg("svg", { viewBox: "-12 -14 24 28", width: "30", height: "36", "aria-hidden": "true" });
      pic.appendChild(svg("path", { d: "M0,-12 L7,8 L0,4 L-7,8 Z", "class": "north-needle" }));
      var n = svg("text", { x: "0", y: "14", "class": "north-n" });
      n.textContent = "N";
      pic.appendChild(n);
      box.appendChild(pic);
      return box;
    }
  });

  var WindControl = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = el("div", null, "map-wind leaflet-bar");
      box.setAttribute("role", "img");
      this._pic = svg("svg", { viewBox: "-16 -16 32 32", width: "40", height: "40", "aria-hidden": "true" });
      this._pic.appendChild(svg("circle", { r: "15", "class": "wind-ring" }));
      this._needle = svg("g", {});
      this._needle.appendChild(svg("path", { d: "M0,-13 L7,7 L0,3 L-7,7 Z" }));
      this._pic.appendChild(this._needle);
      this._text = el("span", "", "map-wind-text");
      box.appendChild(this._pic);
      box.appendChild(this._text);
      this._box = box;
      return box;
    },
    set: function (from, speed) {
      if (!this._box) { return; }
      var has = from !== null && from !== undefined && from !== "" && !isNaN(Number(from));
      this._box.hidden = !has;
      if (!has) { return; }
      var deg = Number(from);
      // The arrow points where the wind blows (downwind): where the plume goes.
      this._needle.setAttribute("transform", "rotate(" + ((deg + 180) % 360) + ")");
      var text = "Vent du " + fmtNumber(deg, 1) + "° (" + compass(deg) + ")";
      if (speed !== null && speed !== undefined && speed !== "" && !isNaN(Number(speed))) {
        text += " · " + fmtNumber(Number(speed), 1) + " m/s";
      }
      this._text.textContent = text;
      this._box.setAttribute("aria-label", text);
      this._box.setAttribute("data-wind-from", String(deg));
    }
  });

  var RestrictedMark = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var box = el("div", "DIFFUSION RESTREINTE", "map-restricted-mark");
      box.hidden = true;
      this._box = box;
      return box;
    },
    show: function (on) { if (this._box) { this._box.hidden = !on; } }
  });

  // --- the legend (below the map, inside its panel: also shown in full screen) ----------------

  function swatch(kind, style) {
    var pic = svg("svg", { viewBox: "0 0 22 14", width: "22", height: "14", "aria-hidden": "true", "class": "legend-swatch" });
    if (kind === "area") {
      pic.appendChild(svg("rect", { x: "1", y: "1", width: "20", height: "12", rx: "2", fill: style.fillColor || "none", "fill-opacity": style.fillOpacity === undefined ? 0.6 : Math.max(style.fillOpacity, 0.35), stroke: style.color, "stroke-width": "2" }));
    } else if (kind === "line") {
      var line = svg("line", { x1: "1", y1: "7", x2: "21", y2: "7", stroke: style.color, "stroke-width": String(Math.min(style.weight || 2, 5)) });
      if (style.dashArray) { line.setAttribute("stroke-dasharray", style.dashArray); }
      pic.appendChild(line);
    } else {
      pic.appendChild(svg("circle", { cx: "11", cy: "7", r: "5", fill: style.fillColor, stroke: style.color, "stroke-width": "2" }));
    }
    return pic;
  }

  function renderLegend(box, entries, zonesInfo) {
    if (!box) { return; }
    box.textContent = "";
    var head = el("p", "Légende", "legend-title");
    if (zonesInfo && zonesInfo.version) {
      head.appendChild(el("span", " — zones version " + zonesInfo.version + (zonesInfo.at ? ", calculées à " + hhmm(zonesInfo.at) : ""), "legend-meta"));
    }
    box.appendChild(head);
    var list = el("ul", null, "legend-list");
    entries.forEach(function (e) {
      var li = el("li", null, e.restricted ? "legend-restricted" : "");
      li.appendChild(swatch(e.kind, e.style));
      li.appendChild(el("span", e.label));
      if (e.restricted) { li.appendChild(el("span", "DIFFUSION RESTREINTE", "restricted-mark")); }
      list.appendChild(li);
    });
    box.appendChild(list);
    box.setAttribute("data-entries", String(entries.length));
  }

  // --- the map ---------------------------------------------------------------------------------

  function init(node) {
    if (!window.L || node.dataset.ready) { return; }
    node.dataset.ready = "1";
    node.textContent = "";  // the no-script fallback image
    var panel = node.closest(".impact-map-card") || node.parentNode;
    var legendBox = el("div", null, "map-legend");
    legendBox.id = "event-map-legend";
    legendBox.setAttribute("aria-label", "Légende de la carte");
    node.parentNode.insertBefore(legendBox, node.nextSibling);

    var map = L.map(node, { zoomControl: false, attributionControl: true, preferCanvas: false, tap: true });
    L.control.zoom({ zoomInTitle: "Zoomer", zoomOutTitle: "Dézoomer" }).addTo(map);
    map.attributionControl.setPrefix(false);
    var rasters = JSON.parse(node.getAttribute("data-basemaps") || "[]");
    var basemapStyles = BASEMAP;
    var rasterName = null;
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
      rasterName = r.title || r.name;
      map.attributionControl.addAttribution("Limites : IGN ADMIN EXPRESS, données de démonstration");
    } else {
      map.attributionControl.addAttribution("Fond : IGN ADMIN EXPRESS, données de démonstration");
    }
    map.setView([49.5, 0.6], 11);
    // The panel's size changes after the map is made (legend filled, notice shown, full screen):
    // keep Leaflet's idea of its size right, and the zones framed.
    if (window.ResizeObserver) {
      var resizing = null;
      new ResizeObserver(function () {
        clearTimeout(resizing);
        resizing = setTimeout(function () {
          map.invalidateSize();
          var b = zonesLayer.getLayers().length ? zonesLayer.getBounds() : null;
          if (b && b.isValid() && !map.getBounds().contains(b)) { map.fitBounds(b, { padding: [20, 20] }); }
        }, 60);
      }).observe(node);
    }
    map.createPane("zones").style.zIndex = 420;
    map.createPane("labels").style.zIndex = 450;
    map.getPane("labels").style.pointerEvents = "none";
    map.createPane("points").style.zIndex = 640;
    L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
    new NorthArrow().addTo(map);
    var wind = new WindControl();
    wind.addTo(map);
    wind.set(node.getAttribute("data-wind-from"), node.getAttribute("data-wind-speed"));
    var mark = new RestrictedMark();
    mark.addTo(map);

    // Commune names: hidden when zoomed out too far to read them.
    function labelsByZoom() {
      node.classList.toggle("labels-off", map.getZoom() < LABEL_MIN_ZOOM);
    }
    map.on("zoomend", labelsByZoom);
    labelsByZoom();

    var state = { zones: [], opened: [], points: { closure: 0, establishment: 0, source: 0 }, basemap: [], zonesInfo: null };

    function legend() {
      var entries = [];
      state.zones.forEach(function (p) {
        var text = (p.threshold ? p.threshold + " — " : "") + p.label + (p.distance_m ? " (" + fmtDistance(p.distance_m) + ")" : "");
        entries.push({ kind: "area", style: ZONE_STYLES[p.level] || ZONE_STYLES.yellow, label: text });
      });
      if (state.points.source) { entries.push({ kind: "point", style: SOURCE, label: SOURCE.label }); }
      function named(kind, n) { return (n > 1 ? kind.plural : kind.label) + " (" + n + ")"; }
      if (state.points.closure) { entries.push({ kind: "point", style: CLOSURE, label: named(CLOSURE, state.points.closure) }); }
      if (state.points.centre) { entries.push({ kind: "point", style: CENTRE, label: named(CENTRE, state.points.centre) }); }
      Object.keys(ESTABLISHMENT).forEach(function (slug) {
        if (state.points[slug]) { entries.push({ kind: "point", style: ESTABLISHMENT[slug], label: named(ESTABLISHMENT[slug], state.points[slug]) }); }
      });
      state.opened.forEach(function (o) {
        entries.push({ kind: o.kind, style: o.style, label: o.title + " (" + fmtNumber(o.count) + ")", restricted: true });
      });
      ["roads", "seine", "territory", "communes"].forEach(function (slug) {
        if (state.basemap.indexOf(slug) !== -1) {
          var s = basemapStyles[slug];
          entries.push({ kind: slug === "communes" ? "area" : "line", style: s, label: BASEMAP_LABELS[slug] + (slug === "communes" ? " et leurs noms" : "") });
        }
      });
      if (rasterName) { entries.push({ kind: "area", style: { color: "#8d8d8d", fillColor: "#e0dccd", fillOpacity: 1 }, label: "Fond de plan : " + rasterName }); }
      renderLegend(legendBox, entries, state.zonesInfo);
    }

    var labels = L.layerGroup([], { pane: "labels" }).addTo(map);
    ["communes", "territory", "seine", "roads"].forEach(function (slug) {
      var url = node.getAttribute("data-basemap-" + slug);
      if (!url) { return; }
      getJSON(url).then(function (data) {
        var layer = L.geoJSON(data, { style: basemapStyles[slug], interactive: slug === "roads" });
        if (slug === "roads") {
          layer.eachLayer(function (l) {
            var p = l.feature.properties || {};
            var label = [p.ref, p.name].filter(Boolean).join(" — ");
            if (label) {
              l.bindTooltip(el("span", label), { sticky: true });
              l.bindPopup(el("strong", label)); // a tap shows it too: nothing only on hover
            }
          });
        }
        if (slug === "communes") {
          layer.eachLayer(function (l) {
            var name = (l.feature.properties || {}).name;
            if (!name || !l.getBounds) { return; }
            var text = el("span", name);
            L.marker(l.getBounds().getCenter(), {
              pane: "labels", interactive: false, keyboard: false,
              icon: L.divIcon({ className: "commune-label", html: text, iconSize: null })
            }).addTo(labels);
          });
          node.setAttribute("data-communes", String(labels.getLayers().length));
        }
        layer.addTo(map);
        if (slug === "territory" || slug === "seine" || slug === "roads") { layer.bringToFront(); }
        state.basemap.push(slug);
        legend();
        return layer;
      }).catch(function () { return null; });
    });

    var zonesLayer = L.geoJSON(null, {
      pane: "zones",
      style: function (f) { return ZONE_STYLES[f.properties.level] || ZONE_STYLES.yellow; },
      onEachFeature: function (f, l) { l.bindPopup(zonePopup(f.properties)); }
    }).addTo(map);
    var pointsLayer = L.layerGroup().addTo(map);
    var openedLayer = L.layerGroup().addTo(map);
    var fitted = false;

    function drawZones(fc) {
      var feats = (fc.features || []).slice().sort(function (a, b) {
        return (ZONE_ORDER[a.properties.level] || 0) - (ZONE_ORDER[b.properties.level] || 0);
      });
      zonesLayer.clearLayers();
      zonesLayer.addData({ type: "FeatureCollection", features: feats });
      state.zones = feats.map(function (f) { return f.properties; }).reverse(); // worst first
      state.zonesInfo = { version: fc.version, at: fc.computed_at };
      if (fc.parameters) { wind.set(fc.parameters.wind_from_deg, fc.parameters.wind_speed_ms); }
      if (feats.length) {
        var bounds = zonesLayer.getBounds();
        // Frame the zones at first, and again when new zones leave the view.
        if (!fitted || !map.getBounds().contains(bounds)) {
          map.fitBounds(bounds, { padding: [20, 20] });
          fitted = true;
        }
      } else if (fc.source && !fitted) {
        map.setView([fc.source.lat, fc.source.lon], 13);
        fitted = true;
      }
      node.setAttribute("data-zones", String(feats.length));
      node.setAttribute("data-zones-version", fc.version === null || fc.version === undefined ? "" : String(fc.version));
    }

    function marker(latlng, style, radius) {
      return L.circleMarker(latlng, {
        pane: "points", radius: radius, color: style.color, weight: style.weight || 1.5,
        fillColor: style.fillColor, fillOpacity: style.fillOpacity === undefined ? 1 : style.fillOpacity
      });
    }

    // A finger needs ~44 px: an invisible disc around each point answers the tap.
    function hitArea(latlng, popup) {
      var hit = L.circleMarker(latlng, { pane: "points", radius: coarse() ? 22 : 11, stroke: false, fillOpacity: 0, className: "map-hit" });
      hit.bindPopup(popup);
      return hit;
    }

    function drawPoints(fc) {
      pointsLayer.clearLayers();
      var counts = { closure: 0, establishment: 0, source: 0 };
      var hits = [];
      (fc.features || []).forEach(function (f) {
        var p = f.properties;
        var latlng = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
        var m;
        counts[p.kind] = (counts[p.kind] || 0) + 1;
        if (p.kind === "closure") {
          m = marker(latlng, { color: CLOSURE.color, weight: 3, fillColor: CLOSURE.fillColor }, 7);
        } else if (p.kind === "source") {
          m = marker(latlng, { color: SOURCE.color, weight: 2, fillColor: SOURCE.fillColor }, 8);
        } else if (p.kind === "centre") {
          // Open reception centres with their places left, always labelled (app.pcs.centres).
          m = marker(latlng, { color: CENTRE.color, weight: 3, fillColor: p.remaining <= 0 ? "#b2182b" : CENTRE.fillColor }, 9);
          m.bindTooltip(p.occupancy > p.capacity ? "complet" : fmtNumber(p.remaining) + " pl.", {
            permanent: true, direction: "right", className: "centre-tooltip"
          });
        } else {
          var s = ESTABLISHMENT[p.dataset] || ESTABLISHMENT.schools;
          counts[p.dataset] = (counts[p.dataset] || 0) + 1;
          m = marker(latlng, { color: s.color, fillColor: s.fillColor, fillOpacity: p.zone ? 1 : 0.6 }, p.zone ? 6 : 4);
        }
        var popup = pointPopup(p);
        m.bindPopup(popup);
        m.addTo(pointsLayer);
        hits.push(hitArea(latlng, popup));
      });
      hits.forEach(function (h) { h.addTo(pointsLayer); h.bringToBack(); });
      state.points = counts;
      node.setAttribute("data-closures", String(counts.closure));
      node.setAttribute("data-establishments", String(counts.establishment));
      node.setAttribute("data-centres", String(counts.centre || 0));
      showRestricted(document.getElementById("event-map-restricted"), fc.restricted);
      drawOpened(fc.opened || []);
    }

    // Layers opened by a valid grant: drawn apart, each in its colour, marked, said above the map.
    function drawOpened(opened) {
      openedLayer.clearLayers();
      var note = document.getElementById("event-map-opened");
      if (note) { note.parentNode.removeChild(note); }
      state.opened = [];
      mark.show(opened.length > 0);
      node.setAttribute("data-opened", String(opened.length));
      if (!opened.length) { return; }
      note = el("p", "", "map-opened");
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
      opened.forEach(function (o, i) {
        var colours = RESTRICTED[i % RESTRICTED.length];
        var style = { className: "restricted-feature restricted-" + i, color: colours.color, weight: 3, opacity: 0.95, dashArray: colours.dashArray, fillColor: colours.fillColor, fillOpacity: 0.35 };
        var kinds = {};
        L.geoJSON(o.features, {
          style: function (f) {
            var type = f.geometry.type;
            if (type.indexOf("Point") !== -1) { kinds.point = 1; return Object.assign({}, style, { dashArray: null, weight: 2.5, fillOpacity: 1 }); }
            kinds[type.indexOf("Polygon") !== -1 ? "area" : "line"] = 1;
            return style;
          },
          pointToLayer: function (f, latlng) {
            kinds.point = 1;
            return L.circleMarker(latlng, { className: "restricted-feature restricted-" + i, pane: "points", radius: 6, color: colours.color, weight: 2.5, fillColor: colours.fillColor, fillOpacity: 1 });
          },
          onEachFeature: function (f, l) { l.bindPopup(restrictedPopup(o, f.properties || {})); }
        }).addTo(openedLayer);
        state.opened.push({
          title: o.title, count: o.features.features.length, style: style,
          kind: kinds.line ? "line" : kinds.area ? "area" : "point"
        });
      });
    }

    function load() {
      var zonesDone = getJSON(node.dataset.zonesUrl).then(drawZones);
      var pointsDone = getJSON(node.dataset.featuresUrl).then(drawPoints);
      return Promise.all([zonesDone, pointsDone]).then(function () {
        legend();
        node.removeAttribute("data-error");
        var err = panel.querySelector(".map-load-error");
        if (err) { err.parentNode.removeChild(err); }
        node.setAttribute("data-loaded", "1");
      }).catch(function () {
        node.setAttribute("data-error", "1");
        if (!panel.querySelector(".map-load-error")) {
          var msg = el("p", "La carte n'a pas pu être chargée ; l'extrait imprimable reste disponible.", "alert alert-error map-load-error");
          node.parentNode.insertBefore(msg, node);
        }
      });
    }
    load();

    // Live: the zones or the grants changed somewhere in the room.
    var reloading = null;
    node.addEventListener("live-refresh", function () {
      if (reloading) { return; }
      node.setAttribute("data-refreshing", "1");
      reloading = load().then(function () {
        reloading = null;
        node.removeAttribute("data-refreshing");
      });
    });
    document.addEventListener("crisis:live", function (ev) {
      var zones = ev.detail && ev.detail.state && ev.detail.state.zones;
      if (zones) { wind.set(zones.wind_from_deg, zones.wind_speed_ms); }
    });

    // Full screen for the room's wall screen: the whole panel (title, map, legend).
    var button = panel.querySelector("[data-fullscreen]");
    if (button) {
      button.hidden = false;
      var setPressed = function (on) {
        button.setAttribute("aria-pressed", on ? "true" : "false");
        button.textContent = on ? "Quitter le plein écran" : "Plein écran";
        panel.classList.toggle("is-fullscreen", on);
        setTimeout(function () { map.invalidateSize(); }, 50);
      };
      button.addEventListener("click", function () {
        var on = document.fullscreenElement === panel || panel.classList.contains("is-fullscreen");
        if (on) {
          if (document.fullscreenElement) { document.exitFullscreen().catch(function () { return undefined; }); }
          setPressed(false);
          return;
        }
        setPressed(true);
        if (panel.requestFullscreen) {
          panel.requestFullscreen().catch(function () { return undefined; }); // else the CSS mode
        }
      });
      document.addEventListener("fullscreenchange", function () {
        if (!document.fullscreenElement && panel.classList.contains("is-fullscreen")) { setPressed(false); }
      });
      document.addEventListener("keydown", function (ev) {
        if (ev.key === "Escape" && panel.classList.contains("is-fullscreen") && !document.fullscreenElement) { setPressed(false); }
      });
    }
  }

  function initAll() {
    document.querySelectorAll(".event-map[data-zones-url]").forEach(init);
  }

  document.addEventListener("DOMContentLoaded", initAll);
  document.addEventListener("htmx:afterSettle", initAll);
})();
