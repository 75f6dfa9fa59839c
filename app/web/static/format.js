// Words and numbers for drivers: connector names, power, ages, distances, opening hours.
// Pure functions, no DOM.

const CONNECTOR_NAMES = {
  IEC_62196_T2_COMBO: "CCS (Combo 2)",
  IEC_62196_T1_COMBO: "CCS (Combo 1)",
  IEC_62196_T2: "Type 2",
  IEC_62196_T1: "Type 1",
  IEC_62196_T3A: "Type 3A",
  IEC_62196_T3C: "Type 3C",
  CHADEMO: "CHAdeMO",
  CHAOJI: "ChaoJi",
  SAE_J3400: "NACS (J3400)",
  TESLA_S: "Tesla",
  TESLA_R: "Tesla Roadster",
  GBT_AC: "GB/T AC",
  GBT_DC: "GB/T DC",
  MCS: "MCS",
  DOMESTIC_F: "Schuko (F)",
  DOMESTIC_E: "French socket (E)",
  DOMESTIC_G: "UK socket (G)",
  PANTOGRAPH_BOTTOM_UP: "Pantograph (bottom-up)",
  PANTOGRAPH_TOP_DOWN: "Pantograph (top-down)",
  UNKNOWN: "Unknown connector",
};

export function connectorName(standard) {
  if (!standard) return "Unknown connector";
  if (CONNECTOR_NAMES[standard]) return CONNECTOR_NAMES[standard];
  if (standard.startsWith("DOMESTIC_")) return `Domestic ${standard.slice(9)}`;
  if (standard.startsWith("IEC_60309")) return "CEE (IEC 60309)";
  if (standard.startsWith("NEMA_")) return standard.replace("NEMA_", "NEMA ").replace("_", "-");
  return standard;
}

export function powerTypeName(powerType) {
  if (!powerType) return "";
  if (powerType === "DC") return "DC";
  if (powerType === "AC_3_PHASE") return "AC 3-phase";
  if (powerType === "AC_2_PHASE" || powerType === "AC_2_PHASE_SPLIT") return "AC 2-phase";
  if (powerType === "AC_1_PHASE") return "AC 1-phase";
  return powerType;
}

export function formatPower(kw) {
  if (kw === null || kw === undefined) return "power unknown";
  if (kw >= 100) return `${Math.round(kw)} kW`;
  return `${Number(kw.toFixed(1))} kW`;
}

export function formatDistance(m) {
  if (m === null || m === undefined) return "";
  if (m < 995) return `${Math.round(m / 10) * 10} m`;
  if (m < 9_950) return `${(m / 1000).toFixed(1)} km`;
  return `${Math.round(m / 1000).toLocaleString("en")} km`;
}

export function formatKm(m) {
  return `${(m / 1000).toLocaleString("en", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} km`;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 days ago", "3 years ago". */
export function formatAge(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "time unknown";
  const s = Math.max(0, Math.round(seconds));
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ago`;
  const days = Math.floor(h / 24);
  if (days < 60) return `${days} days ago`;
  const months = Math.floor(days / 30.44);
  if (months < 24) return `${months} months ago`;
  return `${Math.floor(days / 365.25)} years ago`;
}

export function formatDuration(seconds) {
  return formatAge(seconds).replace(" ago", "");
}

export const STATUS_LABELS = {
  AVAILABLE: "Available",
  CHARGING: "Charging",
  BLOCKED: "Blocked",
  RESERVED: "Reserved",
  INOPERATIVE: "Inoperative",
  OUTOFORDER: "Out of order",
  PLANNED: "Planned",
  UNKNOWN: "Status unknown",
  REMOVED: "Removed",
};

/** A status as the page shows it: a stale one is not known now, whatever it last said. */
export function statusLabel(status, stale) {
  return stale ? "Unknown" : STATUS_LABELS[status] || status;
}

/** "3 min ago"; for a stale status "last reported 17 months ago". */
export function statusAge(seconds, stale) {
  return stale ? `last reported ${formatAge(seconds)}` : formatAge(seconds);
}

/** One kind of charge point in words: "Type 2, 11 kW", several connectors joined by " + ". */
export function connectorsSummary(connectors) {
  return connectors.map((c) => `${connectorName(c.standard)}, ${formatPower(c.max_power_kw)}`).join(" + ")
    || "no connector listed";
}

/** OCPI status → the bucket the API uses (architecture.md). */
export function bucketOfStatus(status) {
  switch (status) {
    case "AVAILABLE": return "available";
    case "CHARGING": case "BLOCKED": case "RESERVED": return "occupied";
    case "INOPERATIVE": case "OUTOFORDER": return "out_of_service";
    case "PLANNED": return "planned";
    default: return "unknown";
  }
}

/**
 * One colour for a location from its EVSE counts: any free → available; else any in use →
 * occupied; else any out of service → out_of_service; else unknown (or stale, when that is why).
 */
export function locationStatus(counts) {
  if (!counts) return "unknown";
  if (counts.available > 0) return "available";
  if (counts.occupied > 0) return "occupied";
  if (counts.out_of_service > 0) return "out_of_service";
  if (counts.stale > 0) return "stale";
  return "unknown";
}

export const BUCKET_WORDS = {
  available: "free",
  occupied: "in use",
  out_of_service: "out of service",
  unknown: "unknown",
  planned: "planned",
  stale: "stale",
};

/** "2 free · 1 in use · 1 out of service" from availability counts. */
export function countsSentence(counts) {
  const parts = [];
  for (const key of ["available", "occupied", "out_of_service", "unknown", "planned", "stale"]) {
    if (counts[key] > 0) parts.push(`${counts[key]} ${BUCKET_WORDS[key]}`);
  }
  return parts.join(" · ") || "no charge points";
}

// ---- opening hours -----------------------------------------------------------------------------
const DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MIDNIGHT_ENDS = new Set(["23:59", "24:00", "00:00"]);

function periodText(begin, end) {
  if (begin === "00:00" && MIDNIGHT_ENDS.has(end)) return "all day";
  const shownEnd = MIDNIGHT_ENDS.has(end) ? "midnight" : end;
  if (!MIDNIGHT_ENDS.has(end) && end < begin) return `${begin}–${end} (next day)`;
  return `${begin}–${shownEnd}`;
}

/** Regular hours as lines such as "Mon–Fri 07:00–22:00", days with the same hours grouped. */
export function regularHoursLines(regular) {
  const perDay = DAY_NAMES.map(() => []);
  for (const r of regular) {
    if (r.weekday >= 1 && r.weekday <= 7) perDay[r.weekday - 1].push(periodText(r.period_begin, r.period_end));
  }
  const texts = perDay.map((periods) => (periods.length ? periods.join(", ") : "closed"));
  const lines = [];
  let start = 0;
  for (let i = 1; i <= 7; i++) {
    if (i === 7 || texts[i] !== texts[start]) {
      const days = i - 1 === start ? DAY_NAMES[start] : `${DAY_NAMES[start]}–${DAY_NAMES[i - 1]}`;
      lines.push(`${days} ${texts[start]}`);
      start = i;
    }
  }
  return lines;
}

function formatLocal(iso, timeZone) {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone || undefined, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    }).format(new Date(iso));
  } catch {
    return new Date(iso).toUTCString();
  }
}

export function localClock(timeZone, now = new Date()) {
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", weekday: "short" }).format(now);
  } catch {
    return null;
  }
}

/**
 * Opening hours in words: {headline, lines[], notes[]}. Regular hours are local to the location
 * (its time zone is named); exceptional periods are UTC instants, shown in local time.
 */
export function openingHours(openingTimes, timeZone, now = new Date()) {
  if (!openingTimes) return { headline: "Opening hours not published", lines: [], notes: [] };
  const notes = [];
  const soon = now.getTime() + 30 * 86400_000;
  for (const c of openingTimes.exceptional_closings || []) {
    const end = Date.parse(c.period_end);
    if (end >= now.getTime() && Date.parse(c.period_begin) <= soon) {
      notes.push(`Closed ${formatLocal(c.period_begin, timeZone)} – ${formatLocal(c.period_end, timeZone)}`);
    }
  }
  for (const o of openingTimes.exceptional_openings || []) {
    const end = Date.parse(o.period_end);
    if (end >= now.getTime() && Date.parse(o.period_begin) <= soon) {
      notes.push(`Also open ${formatLocal(o.period_begin, timeZone)} – ${formatLocal(o.period_end, timeZone)}`);
    }
  }
  if (openingTimes.twentyfourseven) return { headline: "Open 24/7", lines: [], notes };
  const regular = openingTimes.regular_hours || [];
  if (!regular.length) return { headline: "Opening hours not published", lines: [], notes };
  const clock = timeZone ? localClock(timeZone, now) : null;
  const zone = timeZone ? `local time, ${timeZone.replaceAll("_", " ")}${clock ? `, now ${clock}` : ""}` : "local time";
  return { headline: `Opening hours (${zone})`, lines: regularHoursLines(regular), notes };
}

// ---- prices (issue 13) -------------------------------------------------------------------------
/** "€10.89", "£4.20", "CHF 7.50": the currency's own symbol and minor unit. */
export function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).format(amount);
  } catch {
    return `${Number(amount).toFixed(2)} ${currency}`; // a code Intl does not know
  }
}

/** What a driver is told where a price comes from, beside the network's own tariffs. */
export const PRICE_BASIS_WORDS = {
  demo: "demo price",
  registry_text: "from a public register",
};

/**
 * A session's price (the API's PriceQuote) as shown: incl. VAT, or, where the VAT is not known,
 * the amount as published (excl. VAT). {amount, text, inclVat, basis, words} or null (unpriced).
 */
export function shownPrice(price) {
  if (!price) return null;
  const inclVat = price.incl_vat !== null && price.incl_vat !== undefined;
  const amount = inclVat ? price.incl_vat : price.excl_vat;
  if (amount === null || amount === undefined) return null;
  const text = formatMoney(amount, price.currency);
  const vat = inclVat ? "incl. VAT" : "excl. VAT, as published";
  const basis = PRICE_BASIS_WORDS[price.basis] || null;
  return { amount, currency: price.currency, text, inclVat, basis: price.basis, words: [`${text} ${vat}`, basis].filter(Boolean).join(", ") };
}

/** "€10.89", "$3.00 excl.", "€10.89 demo": short enough for a marker or a list. */
export function compactPrice(shown) {
  if (!shown) return "";
  const tags = [shown.inclVat ? null : "excl.", shown.basis === "demo" ? "demo" : null,
    shown.basis === "registry_text" ? "register" : null];
  return [shown.text, ...tags].filter(Boolean).join(" ");
}

export function formatEnergy(kwh) {
  return `${Number(kwh).toLocaleString("en", { maximumFractionDigits: 1 })} kWh`;
}
