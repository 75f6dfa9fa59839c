// The discovery API as the page uses it: the filter state, its query form, and fetch helpers
// that turn the API's 400 answers ({"error": {"parameter", "message"}}) into ApiError.

export const POWER_STOPS_KW = [0, 11, 22, 50, 100, 150, 250, 350];

export function emptyFilters() {
  return {
    connector: [],
    min_power_kw: 0,
    power_type: "",
    available: false,
    open_now: false,
    max_status_age_s: "",
    network: "",
  };
}

/** The filters as API query parameters (only those that are set), in a stable order. */
export function filterParams(filters) {
  const out = {};
  if (filters.connector.length) out.connector = filters.connector.join(",");
  if (filters.min_power_kw > 0) out.min_power_kw = String(filters.min_power_kw);
  if (filters.power_type) out.power_type = filters.power_type;
  if (filters.available) out.available = "true";
  if (filters.max_status_age_s) out.max_status_age_s = String(filters.max_status_age_s);
  if (filters.network.trim()) out.network = normaliseNetworks(filters.network);
  if (filters.open_now) out.open_now = "true";
  return out;
}

/** The same filters as the JSON `filters` object of POST /v1/locations/along-route. */
export function filterBody(filters) {
  const out = {};
  for (const [key, value] of Object.entries(filterParams(filters))) {
    if (key === "min_power_kw" || key === "max_status_age_s") out[key] = Number(value);
    else if (value === "true") out[key] = true;
    else out[key] = value;
  }
  return out;
}

/**
 * The charging session every answer is priced for (issue 13): `energy_kwh`, and optionally the
 * most it may cost (incl. VAT) in `currency`. Prices are never converted, so the currency is
 * part of the limit.
 */
export const DEFAULT_ENERGY_KWH = 30;
export const MAX_ENERGY_KWH = 1000;

export function defaultSession() {
  return { energy_kwh: DEFAULT_ENERGY_KWH, max_price: "", currency: "EUR" };
}

/** The session as API query parameters: energy always, the limit with its currency if set. */
export function sessionParams(session) {
  const out = { energy_kwh: String(session.energy_kwh) };
  if (session.max_price !== "") {
    out.max_price = String(session.max_price);
    out.currency = session.currency;
  }
  return out;
}

/** The same as top-level fields of the along-route body (JSON numbers). */
export function sessionBody(session) {
  const out = { energy_kwh: Number(session.energy_kwh) };
  if (session.max_price !== "") {
    out.max_price = Number(session.max_price);
    out.currency = session.currency;
  }
  return out;
}

/** What of the session the URL keeps: only what differs from the default, like the filters. */
export function sessionHashParams(session) {
  const out = {};
  if (Number(session.energy_kwh) !== DEFAULT_ENERGY_KWH) out.energy_kwh = String(session.energy_kwh);
  if (session.max_price !== "") {
    out.max_price = String(session.max_price);
    out.currency = session.currency;
  }
  return out;
}

/** A session from text (the URL, the form); null fields are invalid, with the reason. */
export function parseSession({ energy, maxPrice, currency }) {
  const session = defaultSession();
  const errors = [];
  const kwh = Number(String(energy ?? "").trim() || DEFAULT_ENERGY_KWH);
  if (Number.isFinite(kwh) && kwh > 0 && kwh <= MAX_ENERGY_KWH) session.energy_kwh = kwh;
  else errors.push({ parameter: "energy_kwh", message: `the session must be more than 0 and at most ${MAX_ENERGY_KWH} kWh` });
  const limit = String(maxPrice ?? "").trim();
  if (limit) {
    const amount = Number(limit);
    if (Number.isFinite(amount) && amount >= 0) session.max_price = amount;
    else errors.push({ parameter: "max_price", message: "the maximum price must be a number of at least 0" });
  }
  const code = String(currency ?? "").trim().toUpperCase();
  if (/^[A-Z]{3}$/.test(code)) session.currency = code;
  return { session, error: errors[0] || null };
}

export function normaliseNetworks(text) {
  return text.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean).join(",");
}

/** Filters the API evaluates on one EVSE: with these, a location's own counts are not enough. */
export function hasEvseFilters(filters) {
  return Boolean(filters.connector.length || filters.min_power_kw > 0 || filters.power_type
    || filters.available || filters.max_status_age_s);
}

export function activeFilterCount(filters) {
  return Object.keys(filterParams(filters)).length;
}

export class ApiError extends Error {
  constructor(status, parameter, message) {
    super(message);
    this.status = status;
    this.parameter = parameter;
  }
}

async function answer(response) {
  if (response.ok) return response.json();
  let parameter = null;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      parameter = body.error.parameter ?? null;
      message = body.error.message ?? message;
    } else if (body && body.detail) {
      message = body.detail;
    }
  } catch {
    // not JSON: keep the status line
  }
  throw new ApiError(response.status, parameter, message);
}

export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * GET as JSON. `fresh`: revalidate instead of using the browser cache (the API allows 5 s of
 * caching, which is right for panning back and forth, wrong after a live event).
 */
export async function getJSON(path, params = {}, signal = undefined, { fresh = false } = {}) {
  return answer(await fetch(url(path, params), {
    signal,
    cache: fresh ? "no-cache" : "default",
    headers: { Accept: "application/json" },
  }));
}

export async function postJSON(path, body, signal = undefined) {
  return answer(await fetch(path, {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  }));
}

export function isAbort(error) {
  return error && error.name === "AbortError";
}

/** "minLon,minLat,maxLon,maxLat" as the API takes it. */
export function bboxParam(bbox) {
  return bbox.map((v) => String(v)).join(",");
}
