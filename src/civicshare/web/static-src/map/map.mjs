// The one map component (docs/maps.md). Leaflet and leaflet.markercluster are loaded before
// this module from /assets (npm packages, no CDN). Each `[data-map-config]` element becomes a
// map, configured by the JSON block it names: no inline script runs (the CSP forbids it).
//
// Base layer: the gateway's own reference data (/map/reference/...): district boundaries
// always, streets from `streets_from_zoom`, property points from `properties_from_zoom`; tiles
// only when the gateway configures a tile URL. Overlays: the page's features (points clustered;
// lines and polygons drawn as paths with a clustered marker at their centre, so every feature is
// keyboard-reachable), the page's context (e.g. an incident area), and a list on the page whose
// "Show on map" buttons zoom to a feature and open its popup.

const L = window.L;
const instances = new Map();
// Keep an open popup clear of the zoom buttons (top left) and of the map's edges.
const POPUP = { autoPanPaddingTopLeft: [60, 20], autoPanPaddingBottomRight: [20, 20], maxWidth: 280 };

export const DEFAULTS = {
  reference: "/map/reference",
  streets_from_zoom: 13,
  properties_from_zoom: 16,
  max_zoom: 19,
  fit_max_zoom: 17,
  noun: ["feature", "features"],
  rank_name: "",
};

/** The map component made for the element with this id (undefined before it is made). */
export function mapFor(id) {
  return instances.get(id);
}

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : {};
}

async function getJson(url, signal) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/geo+json, application/json" },
    signal,
  });
  if (!response.ok) return { type: "FeatureCollection", features: [] };
  return response.json();
}

function bboxOf(map) {
  const b = map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
}

function pane(map, name, zIndex) {
  const created = map.createPane(name);
  created.style.zIndex = String(zIndex);
  created.style.pointerEvents = "none";
  return L.svg({ pane: name });
}

// -- the base layer: districts, streets and properties from the gateway ----------------------

function baseLayer(map, element, config) {
  const districts = L.geoJSON(null, {
    renderer: pane(map, "districts", 210),
    style: { color: "#505a5f", weight: 2, fill: false, dashArray: "6 4" },
    interactive: false,
  }).addTo(map);
  const streets = L.geoJSON(null, {
    renderer: pane(map, "streets", 220),
    style: { color: "#6f777b", weight: 3, opacity: 0.9 },
    interactive: false,
  }).addTo(map);
  const properties = L.geoJSON(null, {
    renderer: pane(map, "properties", 230),
    pointToLayer: (feature, latlng) =>
      L.circleMarker(latlng, { radius: 2, color: "#b1b4b6", weight: 1, fillOpacity: 0.8, interactive: false }),
  }).addTo(map);

  const ready = getJson(`${config.reference}/districts.geojson`).then((data) => {
    districts.addData(data);
    element.dataset.districts = String(data.features.length);
    return districts;
  });

  // One request per layer at a time: a newer view aborts the older request.
  let timer = null;
  let controller = null;
  async function refresh() {
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    const zoom = map.getZoom();
    const bbox = bboxOf(map);
    try {
      const [s, p] = await Promise.all([
        zoom >= config.streets_from_zoom
          ? getJson(`${config.reference}/streets.geojson?bbox=${bbox}&zoom=${zoom}`, signal)
          : null,
        zoom >= config.properties_from_zoom
          ? getJson(`${config.reference}/properties.geojson?bbox=${bbox}`, signal)
          : null,
      ]);
      streets.clearLayers();
      properties.clearLayers();
      if (s) streets.addData(s);
      if (p) properties.addData(p);
      element.dataset.streets = String(s ? s.features.length : 0);
      element.dataset.properties = String(p ? p.features.length : 0);
    } catch (error) {
      if (error.name !== "AbortError") throw error;
    }
  }
  map.on("moveend", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
  return { ready, districts, streets, properties };
}

// -- overlays: the page's features, clustered, tied to its list ------------------------------

function popupContent(p) {
  const box = document.createElement("div");
  box.className = "app-map-popup";
  box.tabIndex = -1; // "Show on map" moves focus here, so a screen reader reads it
  const strong = document.createElement("strong");
  strong.textContent = p.title || "";
  box.append(strong);
  for (const line of p.popup || []) {
    box.append(document.createElement("br"), document.createTextNode(line));
  }
  if (p.href) {
    const link = document.createElement("a");
    link.className = "govuk-link";
    link.href = p.href;
    link.textContent = p.link_text || "Open";
    box.append(document.createElement("br"), link);
  }
  return box;
}

function markerFor(feature, latlng) {
  const p = feature.properties || {};
  const span = document.createElement("span");
  span.className = p.marker_class || `app-map-marker app-map-kind--${p.kind || "default"}`;
  span.setAttribute("aria-hidden", "true");
  span.textContent = p.label || "";
  const icon = L.divIcon({ className: "app-map-pin", html: span.outerHTML, iconSize: [26, 26] });
  const marker = L.marker(latlng, { icon, title: p.title, keyboard: true, rank: p.rank });
  marker.on("add", () => marker.getElement().setAttribute("aria-label", p.title || ""));
  marker.on("keypress", (event) => {
    if (event.originalEvent.key === " ") marker.openPopup();
  });
  marker.bindPopup(popupContent(p), POPUP);
  return marker;
}

function clusterIcon(config) {
  const [one, many] = config.noun;
  return (cluster) => {
    const count = cluster.getChildCount();
    const ranks = cluster.getAllChildMarkers().map((m) => m.options.rank).filter((r) => r != null);
    const top = ranks.length ? Math.min(...ranks) : null;
    const size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    const rankText = top != null && config.rank_name ? `, most urgent ${config.rank_name} ${top}` : "";
    const html =
      `<div><span aria-hidden="true">${count}</span>` +
      `<span class="govuk-visually-hidden">${count} ${count === 1 ? one : many} here${rankText}: ` +
      "select to zoom in</span></div>";
    const rankClass = top != null ? ` app-map-cluster--rank-${top}` : "";
    return L.divIcon({ html, className: `marker-cluster marker-cluster-${size} app-map-cluster${rankClass}`, iconSize: [40, 40] });
  };
}

function contextLayer(map, context) {
  const style = { color: "#d4351c", weight: 3, fillOpacity: 0.05, interactive: false };
  return L.geoJSON(context, {
    style: (f) => ({ ...style, color: (f.properties && f.properties.colour) || style.color }),
    pointToLayer: (feature, latlng) =>
      feature.properties && feature.properties.radius_m
        ? L.circle(latlng, { ...style, radius: feature.properties.radius_m })
        : L.circleMarker(latlng, { ...style, radius: 4 }),
  }).addTo(map);
}

function overlays(map, config) {
  const group = L.markerClusterGroup({
    showCoverageOnHover: false,
    spiderfyOnMaxZoom: true,
    spiderfyDistanceMultiplier: 2, // spread markers apart so no two touch targets overlap
    maxClusterRadius: 50,
    iconCreateFunction: clusterIcon(config),
  });
  // A cluster is a keyboard button too: Enter or Space zooms in (or spreads it out at the end).
  group.on("clusterkeypress", (event) => {
    if (!["Enter", " "].includes(event.originalEvent.key)) return;
    const cluster = event.layer;
    if (map.getZoom() >= map.getMaxZoom()) cluster.spiderfy();
    else cluster.zoomToBounds({ padding: [20, 20] });
  });
  const paths = L.featureGroup().addTo(map);
  const byId = new Map();
  function add(collection) {
    const features = collection.type === "FeatureCollection" ? collection.features : [collection];
    // Lowest rank last, so the most urgent are drawn on top.
    const ordered = [...features].sort((a, b) => ((b.properties || {}).rank ?? 0) - ((a.properties || {}).rank ?? 0));
    for (const feature of ordered) {
      const p = feature.properties || {};
      let path = null;
      let latlng;
      if (feature.geometry.type === "Point") {
        const [lon, lat] = feature.geometry.coordinates;
        latlng = L.latLng(lat, lon);
      } else {
        path = L.geoJSON(feature, { style: { color: p.colour || "#1d70b8", weight: 5, opacity: 0.9, fillOpacity: 0.2 } });
        path.bindPopup(popupContent(p), POPUP);
        paths.addLayer(path);
        latlng = path.getBounds().getCenter();
      }
      const marker = markerFor(feature, latlng);
      group.addLayer(marker);
      byId.set(String(feature.id), { marker, path });
    }
  }
  group.addTo(map);
  return { group, paths, byId, add };
}

function fitTo(map, bounds, config) {
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: config.fit_max_zoom });
}

function tieToolbar(element, instance) {
  const toolbar = document.querySelector(`[data-map-toolbar="${element.id}"]`);
  if (!toolbar) return;
  const actions = {
    "zoom-in": () => instance.map.zoomIn(),
    "zoom-out": () => instance.map.zoomOut(),
    fit: () => instance.fit(),
  };
  for (const button of toolbar.querySelectorAll("[data-map-action]")) {
    button.addEventListener("click", () => actions[button.dataset.mapAction]());
  }
  toolbar.hidden = false;
}

function tieList(element, instance) {
  const buttons = document.querySelectorAll(`[data-map="${element.id}"][data-map-feature]`);
  for (const button of buttons) {
    button.hidden = false;
    button.addEventListener("click", () => {
      const box = element.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) element.scrollIntoView({ block: "start" });
      instance.show(button.dataset.mapFeature, button);
    });
  }
}

function create(element, config) {
  const map = L.map(element, { zoomControl: false, attributionControl: true, maxZoom: config.max_zoom });
  map.attributionControl.setPrefix("Leaflet");
  if (config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.attribution || "", maxZoom: config.max_zoom }).addTo(map);
  }
  map.on("zoomend", () => {
    element.dataset.zoom = String(map.getZoom()); // for the page's tests, and to debug
  });
  map.setView([52.2, -2.2], 10);
  const base = baseLayer(map, element, config);
  const context = config.context ? contextLayer(map, config.context) : null;
  const layers = overlays(map, config);
  let returnFocus = null;
  map.on("popupopen", (event) => {
    const box = event.popup.getElement().querySelector(".app-map-popup");
    if (returnFocus && box) box.focus();
  });
  map.on("popupclose", () => {
    if (returnFocus) returnFocus.focus({ preventScroll: true });
    returnFocus = null;
  });

  const instance = {
    map,
    base,
    context,
    layers,
    element,
    config,
    /** Zoom to the feature with this id and open its popup; focus goes to the popup and
     * back to `from` when it closes. */
    show(id, from = null) {
      const entry = layers.byId.get(String(id));
      if (!entry) return false;
      returnFocus = from;
      if (entry.path) map.fitBounds(entry.path.getBounds(), { padding: [20, 20], maxZoom: config.fit_max_zoom });
      layers.group.zoomToShowLayer(entry.marker, () => entry.marker.openPopup());
      return true;
    },
    fit() {
      const target = config.fit === "context" && context ? context.getBounds() : null;
      const features = L.latLngBounds([]);
      if (layers.group.getLayers().length) features.extend(layers.group.getBounds());
      if (layers.paths.getLayers().length) features.extend(layers.paths.getBounds());
      if (context && config.fit !== "features") features.extend(context.getBounds());
      if (target) fitTo(map, target, config);
      else if (features.isValid()) fitTo(map, features, config);
      else base.ready.then((d) => fitTo(map, d.getBounds(), config));
    },
  };
  const loaded = config.features_url
    ? getJson(config.features_url).then((data) => layers.add(data))
    : Promise.resolve(config.features && layers.add(config.features));
  instance.ready = loaded.then(() => {
    instance.fit();
    tieList(element, instance);
    tieToolbar(element, instance);
    element.dataset.ready = "true";
    return instance;
  });
  if (config.legend && config.legend.length) legend(map, config.legend);
  return instance;
}

function legend(map, items) {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "app-map-legend");
    div.setAttribute("aria-hidden", "true"); // the page states the same key in words
    for (const item of items) {
      const row = L.DomUtil.create("div", "", div);
      const badge = L.DomUtil.create("span", item.marker_class, row);
      badge.textContent = item.label;
      row.append(document.createTextNode(item.text));
    }
    return div;
  };
  control.addTo(map);
}

if (L) {
  for (const element of document.querySelectorAll("[data-map-config]")) {
    const config = { ...DEFAULTS, ...readJson(element.dataset.mapConfig) };
    instances.set(element.id, create(element, config));
  }
}
