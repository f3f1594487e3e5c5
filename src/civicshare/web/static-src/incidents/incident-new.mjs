// Opening an incident: the shared map (/assets/map/map.mjs, docs/maps.md) with its base layer;
// a click sets the centre, or the buttons draw a polygon, into the form's fields.
import { mapFor } from "../map/map.mjs";

const L = window.L;
const instance = mapFor("incident-map");

function newIncident({ map }) {
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

if (instance && L) newIncident(instance);
