// The responder's map. Leaflet is loaded before this module (/assets/leaflet/leaflet.js, from
// the npm package, no CDN). Data comes from a JSON block in the page, so no inline script runs.
// Base-map tiles only when the gateway configures them; otherwise district boundaries and, once
// zoomed in, streets from the gateway's own reference data.

const L = window.L;
const element = document.getElementById("incident-map");

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) return { type: "FeatureCollection", features: [] };
  return response.json();
}

function baseMap(config) {
  const map = L.map(element, { zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  if (config && config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.attribution || "", maxZoom: 19 }).addTo(map);
  }
  map.setView([52.2, -2.2], 10);
  const districts = L.geoJSON(null, {
    style: { color: "#505a5f", weight: 2, fill: false, dashArray: "6 4" },
    interactive: false,
  }).addTo(map);
  const streets = L.geoJSON(null, {
    style: { color: "#626a6e", weight: 2, opacity: 0.8 },
    interactive: false,
  }).addTo(map);
  // One request at a time: districts first, then streets for the latest view only.
  let pending = null;
  let inFlight = null;
  const ready = getJson("/incidents/reference/districts.geojson").then((data) => {
    districts.addData(data);
    return districts;
  });
  function loadStreets() {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      await ready;
      if (inFlight) await inFlight;
      streets.clearLayers();
      if (map.getZoom() < 14) return;
      const b = map.getBounds();
      const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
      inFlight = getJson(`/incidents/reference/streets.geojson?bbox=${bbox}`);
      const data = await inFlight;
      inFlight = null;
      streets.clearLayers();
      streets.addData(data);
    }, 300);
  }
  map.on("moveend", loadStreets);
  return { map, ready, loadStreets };
}

function legend(map, priorities) {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "app-legend");
    div.setAttribute("aria-hidden", "true"); // the same key is in the table of counts
    for (const p of priorities) {
      const row = L.DomUtil.create("div", "", div);
      const badge = L.DomUtil.create("span", `app-priority app-priority--${p.rank}`, row);
      badge.textContent = p.rank;
      row.append(document.createTextNode(p.short));
    }
    return div;
  };
  control.addTo(map);
}

function drawArea(map, area) {
  const coords = area.geometry.coordinates;
  const style = { color: "#d4351c", weight: 3, fillOpacity: 0.05 };
  if (area.properties.kind === "circle") {
    return L.circle([coords[1], coords[0]], { radius: area.properties.radius_m, ...style, interactive: false }).addTo(map);
  }
  return L.geoJSON(area, { style, interactive: false }).addTo(map);
}

function showIncident(data) {
  const { map } = baseMap(data.map);
  const area = drawArea(map, data.area);
  map.fitBounds(area.getBounds(), { padding: [20, 20] });
  legend(map, data.priorities);
  const labels = Object.fromEntries(data.priorities.map((p) => [p.rank, p.label]));
  // Lowest priority first, so the most urgent are drawn on top.
  const ordered = [...data.households].sort((a, b) => b.priority - a.priority);
  for (const h of ordered) {
    const icon = L.divIcon({
      className: "app-marker",
      html: `<span class="app-priority app-priority--${h.priority}">${h.priority}</span>`,
      iconSize: [26, 26],
    });
    const text = `Priority ${h.priority} (${labels[h.priority]}): ${h.address}, ${Math.round(h.distance_m)} m`;
    const marker = L.marker([h.lat, h.lon], { icon, title: text, alt: text, keyboard: true }).addTo(map);
    marker.getElement().setAttribute("aria-label", text);
    const popup = document.createElement("div");
    const strong = document.createElement("strong");
    strong.textContent = h.address;
    popup.append(strong, document.createElement("br"),
      document.createTextNode(`Priority ${h.priority}: ${h.needs.join(", ")}`), document.createElement("br"),
      document.createTextNode(`${Math.round(h.distance_m)} m${h.precision === "uprn" ? "" : " (postcode centre)"}`));
    marker.bindPopup(popup);
  }
}

function newIncident(config) {
  const { map, ready } = baseMap(config);
  ready.then((districts) => {
    if (districts.getLayers().length) map.fitBounds(districts.getBounds());
  });
  const lat = document.getElementById("latitude");
  const lon = document.getElementById("longitude");
  const radius = document.getElementById("radius_m");
  const geojson = document.getElementById("geojson");
  let circle = null;
  let vertices = [];
  let outline = null;
  let drawing = false;
  const drawButton = document.getElementById("draw-polygon");

  function showCircle() {
    if (circle) circle.remove();
    circle = null;
    const la = parseFloat(lat.value);
    const lo = parseFloat(lon.value);
    const r = parseFloat(radius.value);
    if (Number.isFinite(la) && Number.isFinite(lo) && Number.isFinite(r) && r > 0) {
      circle = L.circle([la, lo], { radius: r, color: "#d4351c", weight: 3, fillOpacity: 0.05 }).addTo(map);
    }
  }
  function showPolygon() {
    if (outline) outline.remove();
    outline = vertices.length ? L.polygon(vertices, { color: "#d4351c", weight: 3, fillOpacity: 0.05 }).addTo(map) : null;
    if (vertices.length >= 3) {
      const ring = vertices.map(([a, b]) => [Number(b.toFixed(7)), Number(a.toFixed(7))]);
      ring.push(ring[0]);
      geojson.value = JSON.stringify({ type: "Polygon", coordinates: [ring] });
    }
  }
  map.on("click", (event) => {
    if (drawing) {
      vertices.push([event.latlng.lat, event.latlng.lng]);
      showPolygon();
      return;
    }
    lat.value = event.latlng.lat.toFixed(6);
    lon.value = event.latlng.lng.toFixed(6);
    showCircle();
  });
  for (const input of [lat, lon, radius]) input.addEventListener("input", showCircle);
  drawButton.addEventListener("click", () => {
    drawing = !drawing;
    drawButton.textContent = drawing ? "Finish the polygon" : "Draw a polygon";
    drawButton.setAttribute("aria-pressed", String(drawing));
    if (drawing) vertices = [];
  });
  document.getElementById("clear-area").addEventListener("click", () => {
    vertices = [];
    drawing = false;
    drawButton.textContent = "Draw a polygon";
    geojson.value = "";
    lat.value = "";
    lon.value = "";
    showPolygon();
    showCircle();
  });
  showCircle();
}

if (element && L) {
  if (element.dataset.mode === "show") showIncident(readJson("incident-data"));
  else newIncident(readJson("map-config"));
}
