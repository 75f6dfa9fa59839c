// Route mode: a bundled route or a pasted GeoJSON LineString / encoded polyline, drawn with its
// corridor, and the stations along it in route order (POST /v1/locations/along-route), each with
// its price for the session, or the cheapest first (issue 13).

import { ApiError, filterBody, getJSON, isAbort, postJSON, sessionBody } from "./api.js";
import { h } from "./dom.js";
import { compactPrice, formatDistance, formatEnergy, formatKm, formatPower, locationStatus, shownPrice } from "./format.js";
import { shownCounts } from "./markers.js";

const PAGE_SIZE = 100;
// Sorted by price, the API ranks the next 500 stops and the next page starts after them: a page
// of all 500 leaves none of them out.
const PRICE_RUN = 500;
const EARTH_CIRCUMFERENCE_M = 40_075_016.686;
const EMPTY = { type: "FeatureCollection", features: [] };

/** Google's encoded polyline algorithm (precision 5 or 6) → [[lon, lat], …]. */
export function decodePolyline(text, precision) {
  const factor = 10 ** precision;
  const points = [];
  let index = 0;
  let lat = 0;
  let lon = 0;
  const next = () => {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      if (index >= text.length) throw new Error("the polyline is truncated");
      byte = text.charCodeAt(index++) - 63;
      if (byte < 0 || byte > 63) throw new Error("the polyline has a character outside its alphabet");
      result |= (byte & 0x1f) << shift;
      shift += 5;
    } while (byte >= 0x20);
    return result & 1 ? ~(result >> 1) : result >> 1;
  };
  while (index < text.length) {
    lat += next();
    lon += next();
    points.push([lon / factor, lat / factor]);
  }
  return points;
}

/** Pasted text → {route (request body form), coordinates (for drawing)}; throws with a reason. */
export function parseRouteInput(text, precision) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("Paste a GeoJSON LineString or an encoded polyline first.");
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    let value;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new Error(`That is not valid JSON: ${error.message}`);
    }
    let geometry = value;
    if (Array.isArray(value)) geometry = { type: "LineString", coordinates: value };
    else if (value.type === "FeatureCollection") geometry = value.features?.find((f) => f.geometry?.type === "LineString")?.geometry;
    else if (value.type === "Feature") geometry = value.geometry;
    if (!geometry || geometry.type !== "LineString" || !Array.isArray(geometry.coordinates)) {
      throw new Error("The GeoJSON must be a LineString (or a Feature holding one).");
    }
    return { route: { type: "LineString", coordinates: geometry.coordinates }, coordinates: geometry.coordinates };
  }
  const encoded = trimmed.replace(/\s+/g, "");
  let coordinates = [];
  try {
    coordinates = decodePolyline(encoded, precision);
  } catch {
    coordinates = []; // the server says what is wrong with it
  }
  return { route: { encoded_polyline: encoded, precision }, coordinates };
}

export class RouteMode {
  constructor(map, els, { getFilters, getSession, onPick, onChange, motion }) {
    this.map = map;
    this.motion = motion;
    this.els = els;
    this.getFilters = getFilters;
    this.getSession = getSession;
    this.onPick = onPick;
    this.onChange = onChange;
    this.routes = [];
    this.geometryCache = new Map();
    this.current = null; // {name, title, route, coordinates, corridorM}
    this.results = [];
    this.nextCursor = null;
    this.controller = null;
    this.layersReady = new Promise((resolve) => {
      this.resolveLayers = resolve;
    });
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    els.clear.addEventListener("click", () => this.clear());
    els.more.addEventListener("click", () => this.query(true));
    els.select.addEventListener("change", () => {
      if (els.select.value) {
        els.paste.open = false;
        this.submit();
      }
    });
    els.corridor.addEventListener("change", () => {
      if (this.current) this.submit();
    });
    els.sortPrice.addEventListener("change", () => {
      if (this.current) this.query(false);
      this.onChange();
    });
  }

  get sortByPrice() {
    return this.els.sortPrice.checked;
  }

  /** From the URL: the list re-asked only when the order changes. */
  setSortByPrice(on) {
    if (on === this.sortByPrice) return;
    this.els.sortPrice.checked = on;
    if (this.current) this.query(false);
  }

  get name() {
    return this.current?.name || null;
  }

  addLayers() {
    const map = this.map;
    map.addSource("route", { type: "geojson", data: EMPTY });
    map.addSource("route-stations", { type: "geojson", data: EMPTY });
    // The corridor is opaque (a translucent wide line darkens where it folds over itself at
    // bends) and goes under the base map's lines and labels, so borders and roads stay visible.
    const firstLine = map.getStyle().layers.find((l) => l.type === "line" || l.type === "symbol");
    map.addLayer({
      id: "route-corridor",
      type: "line",
      source: "route",
      layout: { "line-join": "round", "line-cap": "round" },
      paint: { "line-color": "#d3e1f8", "line-width": 1 },
    }, firstLine?.id);
    map.addLayer({
      id: "route-casing",
      type: "line",
      source: "route",
      layout: { "line-join": "round", "line-cap": "round" },
      paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 3, 4, 12, 8] },
    });
    map.addLayer({
      id: "route-line",
      type: "line",
      source: "route",
      layout: { "line-join": "round", "line-cap": "round" },
      paint: { "line-color": "#1f5fd1", "line-width": ["interpolate", ["linear"], ["zoom"], 3, 2, 12, 4.5] },
    });
    map.addLayer({
      id: "route-stations",
      type: "circle",
      source: "route-stations",
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 3, 3.5, 12, 7],
        "circle-color": ["match", ["get", "status"],
          "available", "#137a4b", "occupied", "#b45309", "out_of_service", "#c0262d", "#6b7280"],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1.5,
      },
    });
    this.resolveLayers();
  }

  async loadRoutes() {
    try {
      this.routes = await getJSON("/v1/routes");
    } catch {
      this.routes = [];
    }
    for (const r of this.routes) {
      this.els.select.append(h("option", { value: r.name },
        `${r.title}${r.length_km ? ` · ${Math.round(r.length_km).toLocaleString("en")} km` : ""}`));
    }
  }

  /** Restore a bundled route named in the URL. */
  async restore(name, corridorM) {
    if (!this.routes.some((r) => r.name === name)) return;
    this.els.select.value = name;
    if (corridorM) this.els.corridor.value = String(corridorM);
    await this.submit({ fit: false });
  }

  async submit({ fit = true } = {}) {
    this.showError(null);
    const corridorM = Number(this.els.corridor.value);
    let current;
    try {
      if (this.els.paste.open && this.els.input.value.trim()) {
        const precision = Number(this.els.form.querySelector("input[name=precision]:checked").value);
        const parsed = parseRouteInput(this.els.input.value, precision);
        current = { name: null, title: "your route", ...parsed, corridorM };
      } else if (this.els.select.value) {
        const name = this.els.select.value;
        const info = this.routes.find((r) => r.name === name);
        let geometry = this.geometryCache.get(name);
        if (!geometry) {
          geometry = await getJSON(`/v1/routes/${encodeURIComponent(name)}`);
          this.geometryCache.set(name, geometry);
        }
        current = { name, title: info?.title || name, route: geometry, coordinates: geometry.coordinates, corridorM };
      } else {
        this.showError("Choose a bundled route, or paste one.");
        return;
      }
    } catch (error) {
      this.showError(error.message);
      return;
    }
    this.current = current;
    // The route is drawn once the style has loaded (an external style may never: then the list
    // still works).
    await Promise.race([this.layersReady, new Promise((resolve) => setTimeout(resolve, 5000))]);
    this.draw(fit);
    await this.query(false);
    this.onChange();
  }

  draw(fit) {
    const { coordinates, corridorM } = this.current;
    const source = this.map.getSource("route");
    if (!source) return;
    if (coordinates.length < 2) {
      source.setData(EMPTY);
      return;
    }
    source.setData({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates } });
    // The corridor is the line drawn `2 × corridor` metres wide: metres → pixels at each zoom
    // (512 px tiles), at the route's mean latitude. Exact enough to see; the list is exact.
    const meanLat = coordinates.reduce((sum, c) => sum + c[1], 0) / coordinates.length;
    const metresPerPixelAtZ0 = (EARTH_CIRCUMFERENCE_M * Math.cos((meanLat * Math.PI) / 180)) / 512;
    const w0 = (2 * corridorM) / metresPerPixelAtZ0;
    this.map.setPaintProperty("route-corridor", "line-width",
      ["interpolate", ["exponential", 2], ["zoom"], 0, w0, 24, w0 * 2 ** 24]);
    if (fit) {
      const bounds = new maplibregl.LngLatBounds(coordinates[0], coordinates[0]);
      for (const c of coordinates) bounds.extend(c);
      this.map.fitBounds(bounds, { padding: fitPadding(), maxZoom: 13, duration: this.motion(600) });
    }
  }

  async query(more) {
    if (!this.current) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    if (!more) {
      this.results = [];
      this.nextCursor = null;
      this.els.list.replaceChildren();
      this.els.summary.textContent = "Finding stations along the route…";
      this.els.root.dataset.state = "loading";
    }
    const byPrice = this.sortByPrice;
    try {
      const body = await postJSON("/v1/locations/along-route", {
        route: this.current.route,
        corridor_m: this.current.corridorM,
        limit: byPrice ? PRICE_RUN : PAGE_SIZE,
        cursor: more ? this.nextCursor : null,
        filters: filterBody(this.getFilters()),
        ...sessionBody(this.getSession()),
        ...(byPrice ? { sort: "price" } : {}),
      }, controller.signal);
      this.results = more ? [...this.results, ...body.results] : body.results;
      this.nextCursor = body.next_cursor || null;
      this.sortedByPrice = byPrice;
      this.renderList();
    } catch (error) {
      if (isAbort(error)) return;
      this.els.root.dataset.state = "error";
      this.els.summary.textContent = "";
      this.showError(error instanceof ApiError && error.parameter
        ? `${error.parameter}: ${error.message}` : `Could not search along the route: ${error.message}`);
      if (this.map.getSource("route") && !this.current.coordinates.length) this.map.getSource("route").setData(EMPTY);
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  renderList() {
    const n = this.results.length;
    const km = this.current.corridorM / 1000;
    const session = this.getSession();
    const filtered = Object.keys(filterBody(this.getFilters())).length || session.max_price !== "";
    // Each run of 500 stops is ranked on its own: "Show more" continues further along the road.
    const order = this.sortedByPrice
      ? `cheapest first for ${formatEnergy(session.energy_kwh)}${this.nextCursor ? ` (ranked ${PRICE_RUN} stops at a time)` : ""}`
      : "in route order";
    this.els.summary.textContent = n
      ? `${n}${this.nextCursor ? "+" : ""} station${n === 1 ? "" : "s"} within ${km} km of ${this.current.title}, ${order}.`
      : `No stations within ${km} km of ${this.current.title}${filtered ? " with these filters" : ""}.`;
    this.els.root.dataset.sort = this.sortedByPrice ? "price" : "route";
    this.els.list.replaceChildren(...this.results.map((r, i) => this.item(r, i)));
    this.els.more.hidden = !this.nextCursor;
    this.els.root.dataset.state = "ready";
    this.els.root.dataset.count = String(n);
    const stations = this.map.getSource("route-stations");
    stations?.setData({
      type: "FeatureCollection",
      features: this.results.map((r) => ({
        type: "Feature",
        properties: { id: r.id, status: locationStatus(shownCounts(r)) },
        geometry: { type: "Point", coordinates: [r.coordinates.lon, r.coordinates.lat] },
      })),
    });
  }

  item(r, index) {
    const counts = shownCounts(r);
    const status = locationStatus(counts);
    const price = shownPrice(r.price);
    return h("li", {},
      h("button", {
        type: "button",
        class: "result",
        "data-testid": "route-result",
        "data-location-id": r.id,
        "data-route-offset-m": String(r.route_offset_m),
        "data-status": status,
        "data-price": price ? String(price.amount) : null,
        "data-currency": price ? price.currency : null,
        onclick: (event) => this.onPick(r, { focus: event.detail === 0 }),
      },
      h("span", { class: "offset", "aria-label": `At ${formatKm(r.route_offset_m)} along the route` }, formatKm(r.route_offset_m)),
      h("span", { class: "result-main" },
        h("span", { class: "result-name" }, `${index + 1}. ${r.name || "Charging station"}`),
        h("span", { class: "result-meta" },
          `${formatDistance(r.distance_from_route_m)} off route · ${r.city || r.country || ""}`
          + `${r.max_power_kw ? ` · ${formatPower(r.max_power_kw)}` : ""}`)),
      h("span", {
        class: `result-price${price ? "" : " none"}`,
        "data-testid": "route-price",
        "aria-label": price ? price.words : "no published price",
      }, price ? compactPrice(price) : "–"),
      h("span", { class: `free status-${status}`, "aria-label": `${counts.available} of ${counts.total} free` },
        `${counts.available}/${counts.total}`)));
  }

  /** A live event: the list shows each station's free count. */
  applyEvent(event, evseFilters) {
    if (evseFilters) return;
    const index = this.results.findIndex((r) => r.id === event.location_id);
    if (index < 0) return;
    const r = this.results[index];
    this.results[index] = { ...r, availability: { ...r.availability, ...event.availability, stale: 0 } };
    this.renderList();
  }

  showError(message) {
    this.els.error.hidden = !message;
    this.els.error.textContent = message || "";
  }

  clear() {
    this.controller?.abort();
    this.current = null;
    this.results = [];
    this.nextCursor = null;
    this.els.select.value = "";
    this.els.list.replaceChildren();
    this.els.summary.textContent = "";
    this.els.more.hidden = true;
    delete this.els.root.dataset.state;
    this.showError(null);
    this.map.getSource("route")?.setData(EMPTY);
    this.map.getSource("route-stations")?.setData(EMPTY);
    this.onChange();
  }
}

export function fitPadding() {
  const wide = window.innerWidth >= 760;
  return wide ? { top: 60, bottom: 60, left: 400, right: 60 } : { top: 140, bottom: 80, left: 30, right: 30 };
}
