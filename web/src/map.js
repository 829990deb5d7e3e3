// The maps: the org-unit list's map (same filters as the table, asked of the GeoJSON API) and a
// unit's own map (its shape, and its point, which an editor may click or drag into place).
(function () {
  "use strict";
  var shapeStyle = { color: "#1565c0", weight: 1.5, fillOpacity: 0.12 };
  var pointStyle = { radius: 5, color: "#0d47a1", weight: 1, fillColor: "#42a5f5", fillOpacity: 0.9 };
  var tiles = document.documentElement.getAttribute("data-tiles");

  // A feature's popup: a link to its page.
  function popupLink(item, href, text) {
    var link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    item.bindPopup(link);
  }

  // A table row's map button shows its feature: the whole shape, or the point close up.
  function zoomTo(map, item) {
    if (item.getBounds) map.fitBounds(item.getBounds(), { maxZoom: 14 });
    else map.setView(item.getLatLng(), Math.max(map.getZoom(), 12));
    item.openPopup();
  }

  function baseMap(element) {
    var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    map.setView([0, 0], 2);
    return map;
  }

  function listMap(element) {
    var map = baseMap(element);
    var layer = null;
    var byId = {};
    var form = document.getElementById("filters");
    var request = 0;

    function reload() {
      var params = new URLSearchParams(new FormData(form));
      params.set("limit", element.getAttribute("data-limit"));
      params.set("defaultVersion", "true");
      // Only what can be drawn spends the limit.
      if (!params.get("geography")) params.set("geography", "any");
      var mine = ++request;
      fetch(element.getAttribute("data-features") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (collection) {
          if (mine !== request) return; // a later filter change won
          if (layer) layer.remove();
          byId = {};
          layer = L.geoJSON(collection, {
            style: function () { return shapeStyle; },
            pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, pointStyle); },
            onEachFeature: function (feature, item) {
              byId[feature.id] = item;
              popupLink(item, "/orgunits/" + feature.id, feature.properties.name);
              item.on("mouseover", function () { highlightRow(feature.id, true); });
              item.on("mouseout", function () { highlightRow(feature.id, false); });
            }
          }).addTo(map);
          var bounds = layer.getBounds();
          if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10], maxZoom: 14 });
          element.setAttribute("data-features-shown", String(Object.keys(byId).length));
        })
        .catch(function () { element.setAttribute("data-features-shown", "error"); });
    }

    function highlightRow(id, on) {
      var row = document.querySelector('#table tr[data-id="' + id + '"]');
      if (row) row.classList.toggle("highlight", on);
    }

    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-zoom-to]");
      if (!button) return;
      var item = byId[button.getAttribute("data-zoom-to")];
      if (item) zoomTo(map, item);
    });
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.target.id === "table") reload();
    });
    reload();
  }

  function unitMap(element) {
    var map = baseMap(element);
    var geo = JSON.parse(element.getAttribute("data-geo"));
    var editable = element.getAttribute("data-editable") === "true";
    var id = element.getAttribute("data-unit");
    var status = document.getElementById("map-status");
    var shape = null;
    var marker = null;

    function say(text, failed) {
      status.textContent = text;
      status.className = failed ? "error" : "ok";
    }

    function patch(body, done) {
      return fetch("/api/orgunits/" + id + "/", {
        method: "PATCH",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().then(function (json) {
          if (!r.ok) throw new Error(json.message || r.status);
          done(json);
        });
      }).catch(function (err) { say(element.getAttribute("data-failed") + ": " + err.message, true); });
    }

    function drawShape(geometry) {
      if (shape) shape.remove();
      shape = geometry ? L.geoJSON(geometry, { style: function () { return shapeStyle; } }).addTo(map) : null;
    }

    function place(latlng) {
      if (!marker) {
        marker = L.marker(latlng, { draggable: editable, autoPan: true }).addTo(map);
        marker.on("dragend", function () { save(marker.getLatLng()); });
      } else {
        marker.setLatLng(latlng);
      }
    }

    function save(latlng) {
      patch({ latitude: latlng.lat, longitude: latlng.lng }, function (unit) {
        document.getElementById("location-text").textContent =
          unit.latitude.toFixed(6) + ", " + unit.longitude.toFixed(6);
        element.setAttribute("data-saved-at", String(Date.now()));
        say(element.getAttribute("data-saved"), false);
      });
    }

    drawShape(geo.shape);
    if (geo.location) place([geo.location[1], geo.location[0]]);
    if (shape && shape.getBounds().isValid()) map.fitBounds(shape.getBounds(), { padding: [10, 10] });
    else if (marker) map.setView(marker.getLatLng(), 13);

    if (editable) {
      map.on("click", function (event) { place(event.latlng); save(event.latlng); });
      var file = document.getElementById("shape-file");
      if (file) file.addEventListener("change", function () {
        if (!file.files.length) return;
        file.files[0].text().then(function (text) {
          var document_;
          try { document_ = JSON.parse(text); } catch (err) { say(element.getAttribute("data-failed") + ": " + err.message, true); return; }
          patch({ geo_json: document_ }, function (unit) {
            var collection = unit.geo_json;
            drawShape(collection);
            if (shape && shape.getBounds().isValid()) map.fitBounds(shape.getBounds(), { padding: [10, 10] });
            say(element.getAttribute("data-shape-saved"), false);
          });
        });
      });
    }
    element.mapReady = true;
  }

  // The submissions' map: the table's page of located submissions, redrawn when the table is.
  function pointsMap(element) {
    var map = baseMap(element);
    var layer = null;
    var byId = {};
    function draw() {
      var source = document.getElementById("submission-points");
      if (!source) return;
      if (layer) layer.remove();
      byId = {};
      layer = L.geoJSON(JSON.parse(source.getAttribute("data-points")), {
        pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, pointStyle); },
        onEachFeature: function (feature, item) {
          byId[feature.id] = item;
          popupLink(item, "/submissions/" + feature.id, feature.properties.name);
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10], maxZoom: 14 });
      element.setAttribute("data-features-shown", String(Object.keys(byId).length));
    }
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-zoom-to]");
      var item = button && byId[button.getAttribute("data-zoom-to")];
      if (item) zoomTo(map, item);
    });
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.target.id === "table") draw();
    });
    draw();
  }

  var points = document.getElementById("points-map");
  if (points) pointsMap(points);
  var list = document.getElementById("map");
  if (list && list.hasAttribute("data-features")) listMap(list);
  var unit = document.getElementById("unit-map");
  if (unit) unitMap(unit);
})();
