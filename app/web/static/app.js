// The Wattlas live map (issue 5). Wires the map, the viewport loading (clusters zoomed out,
// one marker per location zoomed in), the filters, the URL, the detail panel, search, route mode
// and the live stream together. Each part lives in its own module.

import {
  ApiError, POWER_STOPS_KW, activeFilterCount, defaultSession, emptyFilters, filterParams, getJSON,
  hasEvseFilters, isAbort, normaliseNetworks, parseSession, sessionHashParams, sessionParams,
} from "./api.js";
import { loadMapConfig, offlineStyle } from "./basemap.js";
import { DetailPanel } from "./detail.js";
import { debounce, h } from "./dom.js";
import { formatEnergy } from "./format.js";
import { LiveStream } from "./live.js";
import { ClusterMarkers, LocationMarkers } from "./markers.js";
import { NetworkOptions } from "./networks.js";
import { RouteMode } from "./route.js";
import { SearchBox } from "./search.js";

const MARKER_MIN_ZOOM = 11; // below: clusters
const SAMPLE_OK_ZOOM = 14; // from here: markers even when the view holds more than one page
const PAGE_LIMIT = 500;
const DEFAULT_VIEW = { zoom: 3.6, lat: 50.5, lon: 18 };
const CLUSTER_REFRESH_MS = 5000; // zoomed out, live changes refresh the cells at most this often
const RECENT_EVENTS_MS = 30_000;
const NETWORK_ID = /^[A-Z]{2}[*-][A-Z0-9]{1,3}$/;
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)");

/** Animation length for camera moves: none for people who asked the system for less motion. */
function motion(ms) {
  return REDUCED_MOTION.matches ? 0 : ms;
}

const $ = (id) => document.getElementById(id);

const state = {
  filters: emptyFilters(),
  session: defaultSession(), // the charging session every answer is priced for (issue 13)
  currencyChosen: false, // the driver picked the currency: it no longer follows what is shown
  mode: null, // "markers" | "clusters"
  bbox: null,
  selectedId: null,
  liveCount: 0,
  loads: 0,
  requested: 0, // view changes and loads asked for; the view is settled when the last one is drawn
};

function viewRequested() {
  state.requested += 1;
  $("view-status").dataset.settled = "false";
  return state.requested;
}

function viewDrawn(ticket) {
  if (ticket === state.requested) $("view-status").dataset.settled = "true";
}

let map;
let markers;
let clusters;
let detail;
let route;
let live;
let networkOptions;
let viewController = null;
const recentEvents = new Map(); // location id → latest live event (merged into fresh loads)

/** Filters and session as one key: whatever changes what a load answers. */
function askKey(filters = state.filters, session = state.session) {
  return JSON.stringify([filterParams(filters), sessionParams(session)]);
}

/** Active filters, the price limit included (a filter on the session's price). */
function activeCount() {
  return activeFilterCount(state.filters) + (state.session.max_price !== "" ? 1 : 0);
}

// ---- URL: #map=zoom/lat/lon&connector=…&energy_kwh=…&loc=…&route=… ------------------------------
function readHash() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  let view = null;
  const parts = (params.get("map") || "").split("/").map(Number);
  if (parts.length === 3 && parts.every(Number.isFinite)) {
    view = { zoom: clamp(parts[0], 0, 22), lat: clamp(parts[1], -85, 85), lon: clamp(parts[2], -180, 180) };
  }
  const filters = emptyFilters();
  filters.connector = (params.get("connector") || "").split(",").map((s) => s.trim()).filter(Boolean);
  filters.min_power_kw = Number(params.get("min_power_kw")) || 0;
  filters.power_type = ["AC", "DC"].includes(params.get("power_type")) ? params.get("power_type") : "";
  filters.available = params.get("available") === "true";
  filters.open_now = params.get("open_now") === "true";
  filters.max_status_age_s = params.get("max_status_age_s") || "";
  filters.network = params.get("network") || "";
  const { session } = parseSession({
    energy: params.get("energy_kwh"), maxPrice: params.get("max_price"), currency: params.get("currency"),
  });
  return {
    view,
    filters,
    session,
    currencyChosen: params.has("currency"),
    loc: params.get("loc"),
    route: params.get("route"),
    corridor: Number(params.get("corridor_m")) || null,
    routeSort: params.get("route_sort") === "price",
  };
}

function writeHash() {
  const centre = map.getCenter();
  const params = new URLSearchParams();
  params.set("map", `${map.getZoom().toFixed(2)}/${centre.lat.toFixed(5)}/${centre.lng.toFixed(5)}`);
  for (const [key, value] of Object.entries(filterParams(state.filters))) params.set(key, value);
  for (const [key, value] of Object.entries(sessionHashParams(state.session))) params.set(key, value);
  if (state.selectedId) params.set("loc", state.selectedId);
  if (route?.name) {
    params.set("route", route.name);
    params.set("corridor_m", String(route.current.corridorM));
    if (route.sortByPrice) params.set("route_sort", "price");
  }
  const hash = `#${params.toString().replaceAll("%2F", "/").replaceAll("%2C", ",").replaceAll("%2A", "*")}`;
  if (hash !== window.location.hash) history.replaceState(null, "", hash);
}

async function applyHash() {
  const wanted = readHash();
  if (wanted.view) {
    const c = map.getCenter();
    const moved = Math.abs(c.lat - wanted.view.lat) > 1e-5 || Math.abs(c.lng - wanted.view.lon) > 1e-5
      || Math.abs(map.getZoom() - wanted.view.zoom) > 0.005;
    if (moved) map.jumpTo({ center: [wanted.view.lon, wanted.view.lat], zoom: wanted.view.zoom });
  }
  if (askKey(wanted.filters, wanted.session) !== askKey()) {
    state.filters = wanted.filters;
    state.session = wanted.session;
    state.currencyChosen = state.currencyChosen || wanted.currencyChosen;
    writeFilterForm(state.filters, state.session);
    filtersChanged({ fromHash: true });
  }
  if (wanted.route) route.setSortByPrice(wanted.routeSort); // a pasted route is not in the URL
  if (wanted.loc && wanted.loc !== state.selectedId) selectLocation(wanted.loc, {});
  else if (!wanted.loc && state.selectedId) detail.close();
  if (wanted.route && wanted.route !== route.name) await route.restore(wanted.route, wanted.corridor);
  else if (!wanted.route && route.name) route.clear();
}

// ---- the viewport ------------------------------------------------------------------------------
function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

function wrapLon(lon) {
  if (lon >= -180 && lon <= 180) return lon;
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

/** The visible area as [w, s, e, n] for the API; w > e means it crosses the antimeridian. */
function viewportBbox() {
  const b = map.getBounds();
  let w = b.getWest();
  let e = b.getEast();
  if (e - w >= 360) {
    w = -180;
    e = 180;
  } else {
    w = wrapLon(w);
    e = wrapLon(e);
  }
  const down = (v) => Math.floor(v * 1e4) / 1e4;
  const up = (v) => Math.ceil(v * 1e4) / 1e4;
  return [
    clamp(down(w), -180, 180), clamp(down(b.getSouth()), -85, 85),
    clamp(up(e), -180, 180), clamp(up(b.getNorth()), -85, 85),
  ];
}

function inBbox(bbox, lon, lat) {
  if (!bbox || lat < bbox[1] || lat > bbox[3]) return false;
  return bbox[0] <= bbox[2] ? lon >= bbox[0] && lon <= bbox[2] : lon >= bbox[0] || lon <= bbox[2];
}

function setViewStatus(stateName, text, extra = {}) {
  const el = $("view-status");
  el.dataset.state = stateName;
  for (const [k, v] of Object.entries(extra)) el.dataset[k] = String(v);
  el.textContent = text;
  el.classList.toggle("error", stateName === "error");
}

/** Load what the view shows. Stale requests are aborted; only the latest answer is drawn. */
async function refresh({ quiet = false } = {}) {
  const ticket = viewRequested();
  viewController?.abort();
  const controller = new AbortController();
  viewController = controller;
  const bbox = viewportBbox();
  const zoom = map.getZoom();
  const params = filterParams(state.filters);
  const session = sessionParams(state.session);
  const bboxText = bbox.join(",");
  const query = new URLSearchParams(params).toString();
  const sessionQuery = new URLSearchParams(session).toString();
  if (!quiet) setViewStatus("loading", "Loading stations…");
  try {
    if (zoom >= MARKER_MIN_ZOOM) {
      const body = await getJSON("/v1/locations", { bbox: bboxText, limit: PAGE_LIMIT, ...params, ...session }, controller.signal, { fresh: quiet });
      const truncated = Boolean(body.next_cursor);
      if (!truncated || zoom >= SAMPLE_OK_ZOOM) {
        state.query = query;
        state.sessionQuery = sessionQuery;
        showMarkers(body, bbox, truncated);
        viewDrawn(ticket);
        return;
      }
    }
    // Clusters are not priced: they count stations at any price (the note says so).
    const zoomParam = zoom.toFixed(2);
    const body = await getJSON("/v1/clusters", { bbox: bboxText, zoom: zoomParam, ...params }, controller.signal, { fresh: quiet });
    state.query = query;
    state.sessionQuery = "";
    showClusters(body, bbox, zoomParam);
    viewDrawn(ticket);
  } catch (error) {
    if (isAbort(error)) return;
    if (error instanceof ApiError && error.status === 400) showFilterError(error);
    setViewStatus("error", `Could not load stations: ${error.message}`);
    viewDrawn(ticket);
  } finally {
    if (viewController === controller) viewController = null;
  }
}

function showMarkers(body, bbox, truncated) {
  showFilterError(null);
  clusters.clear();
  markers.render(body.results);
  state.mode = "markers";
  state.bbox = bbox;
  mergeRecentEvents(body.generated_at);
  networkOptions.remember(body.results);
  followCurrency(body.results);
  state.loads += 1; // completed loads: the browser tests wait on this
  markerStatus(truncated);
  showPriceNote();
}

function markerStatus(truncated = $("view-status").dataset.truncated === "true") {
  const n = markers.size;
  const text = n === 0
    ? `No stations in view${activeCount() ? " with these filters" : ""}.`
    : truncated
      ? `Showing ${n} stations spread over the view: zoom in to see all.`
      : `${n} station${n === 1 ? "" : "s"} in view.`;
  setViewStatus("ready", text, {
    mode: "markers", count: n, bbox: state.bbox.join(","), truncated, query: state.query, session: state.sessionQuery, loads: state.loads,
  });
}

function showClusters(body, bbox, zoomParam) {
  showFilterError(null);
  markers.clear();
  clusters.render(body.cells);
  state.mode = "clusters";
  state.bbox = bbox;
  state.loads += 1;
  const n = body.locations;
  const text = n === 0
    ? `No stations in view${activeFilterCount(state.filters) ? " with these filters" : ""}.`
    : `${n.toLocaleString("en")} station${n === 1 ? "" : "s"} in view`
      + `${state.session.max_price !== "" ? " at any price" : ""}: zoom in or pick an area.`;
  setViewStatus("ready", text, {
    mode: "clusters", count: n, cells: body.cells.length, bbox: bbox.join(","), zoom: zoomParam, truncated: false, query: state.query,
    session: state.sessionQuery, loads: state.loads,
  });
  showPriceNote();
}

const onViewChanged = debounce(() => {
  writeHash();
  refresh();
  live.follow(viewportBbox());
}, 200);

// ---- live updates ------------------------------------------------------------------------------
let clusterRefreshTimer = null;
let lastClusterRefresh = 0;
const recheckQueue = new Map();
const recheckSoon = debounce(recheckPending, 150);

function onLiveEvent(event) {
  const id = event.location_id;
  recentEvents.set(id, { ...event, receivedAt: Date.now() });
  state.liveCount += 1;
  const evseFilters = hasEvseFilters(state.filters);
  if (state.mode === "markers" && inBbox(state.bbox, event.lon, event.lat)) {
    if (!event.visible) {
      markers.remove(id);
      markerStatus();
    } else if (!evseFilters && markers.has(id)) {
      markers.applyAvailability(id, event.availability);
    } else {
      // Matching counts (EVSE-level filters), or a location not shown yet: ask the API about
      // this one location (a bbox around its point), with the same filters.
      recheckQueue.set(id, event);
      recheckSoon();
    }
  } else if (state.mode === "clusters" && inBbox(state.bbox, event.lon, event.lat)) {
    scheduleClusterRefresh();
  }
  route.applyEvent(event, evseFilters);
  if (detail.openId === id) detail.refresh();
}

async function recheckPending() {
  const events = [...recheckQueue.values()];
  recheckQueue.clear();
  const filtersKey = askKey();
  await Promise.all(events.map(async (event) => {
    const e = 1e-5;
    const bbox = [event.lon - e, event.lat - e, event.lon + e, event.lat + e].map((v) => v.toFixed(6)).join(",");
    try {
      const params = { bbox, limit: 50, ...filterParams(state.filters), ...sessionParams(state.session) };
      const body = await getJSON("/v1/locations", params, undefined, { fresh: true });
      if (state.mode !== "markers" || filtersKey !== askKey()) return;
      const found = body.results.find((r) => r.id === event.location_id);
      if (found) markers.pulse(markers.put(found).el);
      else markers.remove(event.location_id);
      markerStatus();
    } catch {
      // the next event or load corrects it
    }
  }));
}

function scheduleClusterRefresh() {
  if (clusterRefreshTimer) return;
  const wait = Math.max(0, CLUSTER_REFRESH_MS - (Date.now() - lastClusterRefresh));
  clusterRefreshTimer = setTimeout(() => {
    clusterRefreshTimer = null;
    lastClusterRefresh = Date.now();
    if (state.mode === "clusters" && !viewController) refresh({ quiet: true });
  }, wait);
}

/** Events that arrived while a load was in flight may be newer than its answer: apply them. */
function mergeRecentEvents(generatedAt) {
  const now = Date.now();
  for (const [id, event] of recentEvents) {
    if (now - event.receivedAt > RECENT_EVENTS_MS) recentEvents.delete(id);
  }
  if (hasEvseFilters(state.filters)) return;
  const since = Date.parse(generatedAt) - 3000;
  for (const [id, event] of recentEvents) {
    if (Date.parse(event.at) >= since && markers.has(id)) markers.applyAvailability(id, event.availability);
  }
}

function showLiveState(liveState, received) {
  const el = $("live");
  el.dataset.state = liveState;
  el.dataset.received = String(received);
  const text = {
    idle: "Live updates off",
    connecting: "Connecting…",
    live: received ? `Live · ${received.toLocaleString("en")} update${received === 1 ? "" : "s"}` : "Live",
    reconnecting: "Reconnecting…",
    offline: "Live updates unavailable, retrying…",
  }[liveState];
  el.querySelector(".live-text").textContent = text;
  el.title = liveState === "live" ? `Live availability, last change ${new Date().toLocaleTimeString()}` : text;
}

// ---- selection and detail ----------------------------------------------------------------------
function selectLocation(id, { focus = false, fly = null } = {}) {
  state.selectedId = id;
  markers.select(id);
  detail.open(id, { focus });
  if (fly) {
    map.flyTo({ center: [fly.lon, fly.lat], zoom: Math.max(map.getZoom(), 15), offset: clearOffset(), duration: motion(900) });
  } else {
    keepClear(markers.get(id));
  }
  writeHash();
}

/** A station picked on the map that the detail panel would cover is brought into the clear. */
function keepClear(summary) {
  if (!summary) return;
  const p = map.project([summary.coordinates.lon, summary.coordinates.lat]);
  const covered = window.innerWidth >= 760
    ? p.x > window.innerWidth - 440
    : p.y > window.innerHeight * 0.42 - 20;
  if (covered) {
    map.easeTo({ center: [summary.coordinates.lon, summary.coordinates.lat], offset: clearOffset(), duration: motion(400) });
  }
}

/**
 * Where the middle of the map that the panels leave clear is, relative to the container's
 * centre: a station flown to lands there, not under the detail panel. (An offset, not MapLibre's
 * padding, which would stay on the map and shift its centre in the URL.)
 */
function clearOffset() {
  if (window.innerWidth >= 760) {
    const left = $("control-panel").getBoundingClientRect().right;
    const right = window.innerWidth - 424; // the detail panel's left edge
    return [Math.round((left + right) / 2 - window.innerWidth / 2), 0];
  }
  const top = $("control-panel").getBoundingClientRect().bottom;
  const bottom = window.innerHeight * 0.42; // above the detail sheet
  return [0, Math.round((top + bottom) / 2 - window.innerHeight / 2)];
}

// ---- filters -----------------------------------------------------------------------------------
function readFilterForm() {
  const form = $("filters-panel");
  const filters = emptyFilters();
  filters.connector = [...form.querySelectorAll("input[name=connector]:checked")].map((i) => i.value);
  filters.min_power_kw = POWER_STOPS_KW[Number($("filter-power").value)] || 0;
  filters.power_type = form.querySelector("input[name=power_type]:checked")?.value || "";
  filters.available = form.querySelector("input[name=available]").checked;
  filters.open_now = form.querySelector("input[name=open_now]").checked;
  filters.max_status_age_s = $("filter-age").value;
  filters.network = normaliseNetworks($("filter-network").value);
  return filters;
}

function readSessionForm() {
  return parseSession({
    energy: $("session-energy").value, maxPrice: $("session-max-price").value, currency: $("session-currency").value,
  });
}

function writeSessionForm(session) {
  $("session-energy").value = String(session.energy_kwh);
  $("session-max-price").value = session.max_price === "" ? "" : String(session.max_price);
  showCurrency(session.currency);
}

/** Selects the currency, adding it to the list when a station is priced in one it lacks. */
function showCurrency(code) {
  const select = $("session-currency");
  if (![...select.options].some((o) => o.value === code)) select.append(h("option", { value: code }, code));
  select.value = code;
}

/**
 * Until the driver picks one or sets a limit, the currency follows the stations shown (the
 * first priced one), so that a limit typed in is in the currency the map shows.
 */
function followCurrency(results) {
  if (state.currencyChosen || state.session.max_price !== "") return;
  const currency = results.find((r) => r.price)?.price.currency;
  if (!currency || currency === state.session.currency) return;
  state.session = { ...state.session, currency };
  showCurrency(currency);
}

/** Where prices apply: on stations, not on the (unpriced) areas shown zoomed out. */
function showPriceNote() {
  const note = $("price-note");
  const limited = state.session.max_price !== "";
  const energy = formatEnergy(state.session.energy_kwh);
  note.dataset.mode = state.mode || "";
  note.textContent = state.mode === "clusters"
    ? limited
      ? "Zoom in to filter by price: areas count stations at any price."
      : `Zoom in to see each station's price for ${energy}.`
    : `Each station shows its cheapest price for ${energy}, incl. VAT where known.`;
}

function writeFilterForm(filters, session = state.session) {
  writeSessionForm(session);
  const form = $("filters-panel");
  for (const input of form.querySelectorAll("input[name=connector]")) input.checked = filters.connector.includes(input.value);
  let stop = POWER_STOPS_KW.findIndex((kw) => kw >= filters.min_power_kw);
  if (stop < 0) stop = POWER_STOPS_KW.length - 1;
  $("filter-power").value = String(stop);
  for (const input of form.querySelectorAll("input[name=power_type]")) input.checked = input.value === filters.power_type;
  form.querySelector("input[name=available]").checked = filters.available;
  form.querySelector("input[name=open_now]").checked = filters.open_now;
  $("filter-age").value = filters.max_status_age_s || "";
  $("filter-network").value = filters.network;
  showPower();
}

function showPower() {
  const kw = POWER_STOPS_KW[Number($("filter-power").value)] || 0;
  const text = kw ? `${kw} kW or more` : "any";
  $("filter-power-output").textContent = text;
  $("filter-power").setAttribute("aria-valuetext", text);
}

function filtersChanged({ fromHash = false } = {}) {
  const count = activeCount();
  const badge = $("filter-count");
  badge.hidden = count === 0;
  badge.textContent = String(count);
  badge.setAttribute("aria-label", `${count} active`);
  if (!fromHash) writeHash();
  showPriceNote();
  refresh();
  if (route.current) route.query(false);
  if (detail.openId) detail.refresh(); // "reported within" decides which of its statuses are stale
}

function showFilterError(error) {
  const el = $("filter-error");
  el.hidden = !error;
  el.textContent = error ? `${error.parameter ? `${error.parameter}: ` : ""}${error.message}` : "";
}

function wireFilters() {
  const form = $("filters-panel");
  const update = () => {
    const next = readFilterForm();
    const { session, error } = readSessionForm();
    showPower();
    const badNetwork = next.network.split(",").find((n) => n && !NETWORK_ID.test(n));
    if (badNetwork) {
      showFilterError({ parameter: "network", message: `“${badNetwork}” is not a network id: use country code * party id, e.g. NL*FLA` });
      return;
    }
    if (error) {
      showFilterError(error);
      return;
    }
    showFilterError(null);
    if (askKey(next, session) === askKey()) return;
    state.filters = next;
    state.session = session;
    filtersChanged();
  };
  const typed = debounce(update, 450);
  const TYPED = new Set(["filter-network", "session-energy", "session-max-price"]);
  form.addEventListener("change", (event) => {
    if (event.target.id === "session-currency") state.currencyChosen = true;
    if (TYPED.has(event.target.id)) typed.cancel();
    update();
  });
  $("filter-power").addEventListener("input", showPower);
  for (const id of TYPED) $(id).addEventListener("input", typed);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    update();
  });
  // "Clear filters" clears the price limit, not the session's size (not a filter).
  form.addEventListener("reset", () => setTimeout(() => {
    $("session-energy").value = String(state.session.energy_kwh);
    state.currencyChosen = false;
    update();
  }, 0));
}

// ---- panels, tabs, legend ----------------------------------------------------------------------
function wireTabs() {
  const tabs = [$("tab-filters"), $("tab-route")];
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    expandPanel(true);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        select(tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length], true);
      }
    });
  });
  $("panel-toggle").addEventListener("click", () => expandPanel($("panel-toggle").getAttribute("aria-expanded") !== "true"));
  const legendToggle = document.querySelector(".legend-toggle");
  const setLegend = (open) => {
    legendToggle.setAttribute("aria-expanded", String(open));
    legendToggle.parentElement.classList.toggle("open", open);
  };
  legendToggle.addEventListener("click", () => setLegend(legendToggle.getAttribute("aria-expanded") !== "true"));
  setLegend(window.innerWidth >= 760);
  if (window.innerWidth < 760) expandPanel(false);
}

function expandPanel(open) {
  $("panel-toggle").setAttribute("aria-expanded", String(open));
  $("control-panel").classList.toggle("collapsed", !open);
}

// ---- start -------------------------------------------------------------------------------------
async function start() {
  if (typeof maplibregl === "undefined") {
    setViewStatus("error", "The map library did not load.");
    return;
  }
  networkOptions = new NetworkOptions($("network-options"));
  networkOptions.load(); // in the background, alongside the map's start
  const config = await loadMapConfig();
  const initial = readHash();
  state.filters = initial.filters;
  state.session = initial.session;
  state.currencyChosen = initial.currencyChosen;
  writeFilterForm(state.filters, state.session);
  const view = initial.view || DEFAULT_VIEW;

  map = new maplibregl.Map({
    container: "map",
    style: config.basemap_style || offlineStyle(config.countries_url, config.attribution),
    center: [view.lon, view.lat],
    zoom: view.zoom,
    minZoom: 1,
    maxZoom: 19,
    maxPitch: 0,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    renderWorldCopies: false,
    attributionControl: { compact: true, customAttribution: config.basemap_style ? config.attribution : undefined },
  });
  map.touchZoomRotate.disableRotation();
  map.keyboard.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
  map.addControl(new maplibregl.GeolocateControl({ positionOptions: { enableHighAccuracy: true }, fitBoundsOptions: { maxZoom: 14 } }), "bottom-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");

  markers = new LocationMarkers(map, { onSelect: (id, opts) => selectLocation(id, opts) });
  clusters = new ClusterMarkers(map, {
    onZoomInto: (cell) => map.easeTo({ center: [cell.lon, cell.lat], zoom: Math.min(map.getZoom() + 2.5, 16), duration: motion(500) }),
  });
  detail = new DetailPanel($("detail"), {
    onClose: () => {
      state.selectedId = null;
      markers.select(null);
      writeHash();
    },
    onLocate: (d) => map.flyTo({
      center: [d.coordinates.lon, d.coordinates.lat], zoom: Math.max(map.getZoom(), 16), offset: clearOffset(), duration: motion(900),
    }),
    getMaxStatusAge: () => Number(state.filters.max_status_age_s) || null,
    getSession: () => state.session,
  });
  route = new RouteMode(map, {
    root: $("route-panel"),
    form: $("route-panel"),
    select: $("route-select"),
    input: $("route-input"),
    paste: $("route-paste"),
    corridor: $("route-corridor"),
    list: $("route-results"),
    summary: $("route-summary"),
    error: $("route-error"),
    more: $("route-more"),
    clear: $("route-clear"),
    sortPrice: $("route-sort-price"),
  }, {
    getFilters: () => state.filters,
    getSession: () => state.session,
    onPick: (r, opts) => selectLocation(r.id, { ...opts, fly: r.coordinates }),
    onChange: () => writeHash(),
    motion,
  });
  new SearchBox({ form: $("search-form"), input: $("search-input"), results: $("search-results") }, {
    getCentre: () => map.getCenter().toArray(),
    getFilters: () => state.filters,
    getSession: () => state.session,
    onPick: (r, opts) => selectLocation(r.id, { ...opts, fly: r.coordinates }),
  });
  live = new LiveStream({
    onEvent: onLiveEvent,
    onReset: () => {
      // Too far behind to replay: reload what is shown.
      refresh({ quiet: true });
      if (detail.openId) detail.refresh();
    },
    onState: showLiveState,
  });

  wireFilters();
  wireTabs();
  filtersChanged({ fromHash: true });
  map.on("moveend", () => {
    viewRequested();
    onViewChanged();
  });
  window.addEventListener("hashchange", () => applyHash());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.target.closest?.("input, textarea, select")) detail.close();
  });
  live.follow(viewportBbox());
  if (initial.loc) selectLocation(initial.loc, {});

  const loaded = new Promise((resolve) => map.once("load", resolve));
  route.loadRoutes().then(async () => {
    await loaded;
    route.addLayers();
    if (initial.route) {
      $("tab-route").click();
      route.setSortByPrice(initial.routeSort);
      await route.restore(initial.route, initial.corridor);
    }
  });
  window.wattlas = { map, state, live }; // for the console and the browser tests
}

start().catch((error) => {
  setViewStatus("error", `The map could not start: ${error.message}`);
  throw error;
});

