// What is drawn over the map: one HTML marker per location (zoomed in) or per H3 cell (zoomed
// out). Markers are <button>s, so they are reachable by keyboard and carry data-* attributes
// that the browser tests read. Elements are kept and updated in place between loads, so a live
// update recolours the same element.

import { h, icon } from "./dom.js";
import { BUCKET_WORDS, compactPrice, formatPower, locationStatus, shownPrice } from "./format.js";

/** The counts a marker shows: the EVSEs matching the EVSE-level filters when there are any. */
export function shownCounts(summary) {
  return summary.matching || summary.availability;
}

function compact(n) {
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1).replace(/\.0$/, "")}k`;
  return String(n);
}

/** Locations closer than about a metre share a place on the map at any zoom. */
export function samePlace(summary) {
  return `${summary.coordinates.lat.toFixed(5)},${summary.coordinates.lon.toFixed(5)}`;
}

export class LocationMarkers {
  constructor(map, { onSelect }) {
    this.map = map;
    this.onSelect = onSelect;
    this.entries = new Map(); // location id → {marker, el, summary}
    this.selectedId = null;
  }

  get size() {
    return this.entries.size;
  }

  has(id) {
    return this.entries.has(id);
  }

  get(id) {
    return this.entries.get(id)?.summary;
  }

  /** Show exactly these locations: keep, update, add and remove elements as needed. */
  render(summaries) {
    const keep = new Set();
    for (const summary of summaries) {
      keep.add(summary.id);
      this.upsert(summary);
    }
    for (const id of [...this.entries.keys()]) if (!keep.has(id)) this.remove(id);
    this.spread();
  }

  /**
   * Locations at the same point (one site listed per operator or per car park level, which the
   * real feeds do) are set around it in a small ring, so that each stays visible and clickable.
   */
  spread() {
    const groups = new Map();
    for (const entry of this.entries.values()) {
      const key = samePlace(entry.summary);
      groups.set(key, [...(groups.get(key) || []), entry]);
    }
    for (const group of groups.values()) {
      group.sort((a, b) => (a.summary.id < b.summary.id ? -1 : 1));
      const radius = group.length > 1 ? 14 + 3 * group.length : 0;
      group.forEach((entry, i) => {
        const angle = (2 * Math.PI * i) / group.length - Math.PI / 2;
        const offset = [Math.round(radius * Math.cos(angle)), Math.round(radius * Math.sin(angle))];
        entry.marker.setOffset(offset);
        entry.el.dataset.offset = offset.join(",");
      });
    }
    this.declutterPrices();
  }

  /**
   * Price labels that would overlap on screen: the cheaper one is shown (drivers look for the
   * cheap ones), the other hidden until zooming in sets them apart. Every price stays in its
   * marker's accessible label. Runs after each load, which follows every move of the map.
   */
  declutterPrices() {
    const labelled = [...this.entries.values()]
      .map((entry) => ({ entry, label: entry.el.querySelector(".marker-price") }))
      .filter(({ label }) => label)
      .sort((a, b) => Number(a.entry.el.dataset.price) - Number(b.entry.el.dataset.price));
    const sizes = labelled.map(({ label }) => [label.offsetWidth, label.offsetHeight]); // one layout
    const placed = [];
    labelled.forEach(({ entry, label }, i) => {
      const p = this.map.project(entry.marker.getLngLat());
      const [dx, dy] = (entry.el.dataset.offset || "0,0").split(",").map(Number);
      const [w, ht] = sizes[i];
      const box = { x: p.x + dx - w / 2, y: p.y + dy + 18, w, h: ht };
      const clear = !placed.some((o) => box.x < o.x + o.w + 2 && o.x < box.x + box.w + 2
        && box.y < o.y + o.h + 1 && o.y < box.y + box.h + 1);
      if (clear) placed.push(box);
      label.classList.toggle("covered", !clear);
      entry.el.dataset.priceShown = String(clear);
    });
  }

  /** Add or update one location (a live recheck); keeps co-located markers apart. */
  put(summary) {
    const entry = this.upsert(summary);
    this.spread();
    return entry;
  }

  upsert(summary) {
    let entry = this.entries.get(summary.id);
    if (!entry) {
      const el = h("button", {
        type: "button",
        class: "marker",
        dataset: { testid: "marker", locationId: summary.id },
        onclick: (event) => {
          event.stopPropagation();
          this.onSelect(summary.id, { focus: event.detail === 0 });
        },
      });
      const marker = new maplibregl.Marker({ element: el, anchor: "center" })
        .setLngLat([summary.coordinates.lon, summary.coordinates.lat])
        .addTo(this.map);
      entry = { marker, el, summary };
      this.entries.set(summary.id, entry);
    } else {
      entry.marker.setLngLat([summary.coordinates.lon, summary.coordinates.lat]);
    }
    entry.summary = summary;
    this.paint(entry);
    return entry;
  }

  paint(entry) {
    const { el, summary } = entry;
    const counts = shownCounts(summary);
    const status = locationStatus(counts);
    const fast = (summary.max_power_kw ?? 0) >= 50;
    // classList, not className: MapLibre's own classes (position, anchor) must stay.
    for (const name of [...el.classList]) if (name.startsWith("status-")) el.classList.remove(name);
    el.classList.add(`status-${status}`);
    el.classList.toggle("fast", fast);
    el.classList.toggle("selected", summary.id === this.selectedId);
    el.dataset.status = status;
    el.dataset.available = String(counts.available);
    el.dataset.total = String(counts.total);
    const matching = summary.matching ? " matching your filters" : "";
    // The session's price (issue 13), the location's cheapest; none when nothing prices it.
    const price = shownPrice(summary.price);
    const covered = el.dataset.priceShown === "false"; // until the next declutter
    el.classList.toggle("priced", Boolean(price));
    for (const key of ["price", "currency", "priceText", "priceBasis", "priceShown"]) delete el.dataset[key];
    if (price) {
      Object.assign(el.dataset, {
        price: String(price.amount), currency: price.currency, priceText: compactPrice(price), priceBasis: price.basis,
      });
    }
    const label = [
      `${summary.name || "Charging station"}:`,
      `${counts.available} of ${counts.total} charge points${matching} free`,
      counts.available === 0 && status !== "unknown" ? `(${BUCKET_WORDS[status]})` : null,
      summary.max_power_kw ? `, up to ${formatPower(summary.max_power_kw)}` : null,
      price ? `, from ${price.words}` : null,
    ].filter(Boolean).join(" ");
    el.setAttribute("aria-label", label);
    el.title = label;
    el.replaceChildren(h("span", { class: "marker-count" }, String(counts.available)));
    if (fast) el.append(icon("bolt", "marker-bolt"));
    if (price) {
      el.append(h("span", {
        class: `marker-price${price.inclVat ? "" : " excl"}${price.basis !== "tariff" ? ` basis-${price.basis}` : ""}${covered ? " covered" : ""}`,
        "data-testid": "marker-price",
        "aria-hidden": "true",
      }, compactPrice(price)));
      el.dataset.priceShown = String(!covered);
    }
  }

  /** A live event carries the location's own counts (fresh: the network just spoke). */
  applyAvailability(id, availability) {
    const entry = this.entries.get(id);
    if (!entry) return false;
    entry.summary = {
      ...entry.summary,
      availability: { ...entry.summary.availability, ...availability, stale: 0, stale_reason: null },
    };
    this.paint(entry);
    this.pulse(entry.el);
    return true;
  }

  pulse(el) {
    el.classList.remove("pulse");
    void el.offsetWidth; // restart the animation
    el.classList.add("pulse");
  }

  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.marker.remove();
    this.entries.delete(id);
  }

  clear() {
    for (const id of [...this.entries.keys()]) this.remove(id);
  }

  select(id) {
    const previous = this.entries.get(this.selectedId);
    this.selectedId = id;
    if (previous) this.paint(previous);
    const entry = this.entries.get(id);
    if (entry) this.paint(entry);
  }

  summaries() {
    return [...this.entries.values()].map((e) => e.summary);
  }
}

const MERGE_PX = 46;
const SUMMED = ["locations", "locations_available", "evses", "available", "occupied", "out_of_service", "stale"];

export class ClusterMarkers {
  constructor(map, { onZoomInto }) {
    this.map = map;
    this.onZoomInto = onZoomInto;
    this.entries = new Map(); // cell → {marker, el}
  }

  get size() {
    return this.entries.size;
  }

  /**
   * Cells closer than MERGE_PX on screen are drawn as one bubble (sums of their counts, at the
   * location-weighted mean position): the server's H3 cells follow the zoom only in steps.
   */
  merge(cells) {
    const sorted = [...cells].sort((a, b) => b.locations - a.locations);
    const groups = [];
    const grid = new Map();
    const key = (x, y) => `${Math.floor(x / MERGE_PX)}:${Math.floor(y / MERGE_PX)}`;
    for (const cell of sorted) {
      const p = this.map.project([cell.lon, cell.lat]);
      let target = null;
      const gx = Math.floor(p.x / MERGE_PX);
      const gy = Math.floor(p.y / MERGE_PX);
      for (let dx = -1; dx <= 1 && !target; dx++) {
        for (let dy = -1; dy <= 1 && !target; dy++) {
          for (const g of grid.get(`${gx + dx}:${gy + dy}`) || []) {
            if (Math.hypot(g.x - p.x, g.y - p.y) < MERGE_PX) {
              target = g;
              break;
            }
          }
        }
      }
      if (!target) {
        target = { x: p.x, y: p.y, cells: [], lat: 0, lon: 0 };
        for (const f of SUMMED) target[f] = 0;
        groups.push(target);
        const k = key(p.x, p.y);
        grid.set(k, [...(grid.get(k) || []), target]);
      }
      target.cells.push(cell.cell);
      for (const f of SUMMED) target[f] += cell[f];
      target.lat += cell.lat * cell.locations;
      target.lon += cell.lon * cell.locations;
    }
    return groups.map((g) => ({
      ...g,
      cell: g.cells[0],
      lat: g.lat / Math.max(1, g.locations),
      lon: g.lon / Math.max(1, g.locations),
    }));
  }

  render(rawCells) {
    const cells = this.merge(rawCells);
    const keep = new Set();
    for (const cell of cells) {
      keep.add(cell.cell);
      let entry = this.entries.get(cell.cell);
      if (!entry) {
        const el = h("button", { type: "button", class: "cluster", dataset: { testid: "cluster", cell: cell.cell } });
        el.addEventListener("click", (event) => {
          event.stopPropagation();
          this.onZoomInto(entry.cell);
        });
        const marker = new maplibregl.Marker({ element: el, anchor: "center" })
          .setLngLat([cell.lon, cell.lat])
          .addTo(this.map);
        entry = { marker, el, cell };
        this.entries.set(cell.cell, entry);
      } else {
        entry.marker.setLngLat([cell.lon, cell.lat]);
      }
      entry.cell = cell;
      this.paint(entry);
    }
    for (const id of [...this.entries.keys()]) {
      if (!keep.has(id)) {
        this.entries.get(id).marker.remove();
        this.entries.delete(id);
      }
    }
  }

  paint({ el, cell }) {
    const size = Math.round(Math.min(72, 28 + 11 * Math.log10(Math.max(1, cell.locations))));
    const evses = Math.max(1, cell.evses);
    const free = cell.available / evses;
    const occupied = free + cell.occupied / evses;
    const broken = occupied + cell.out_of_service / evses;
    const deg = (share) => `${(share * 360).toFixed(1)}deg`;
    el.style.setProperty("--size", `${size}px`);
    el.style.setProperty(
      "--ring",
      `conic-gradient(var(--available) 0 ${deg(free)}, var(--occupied) ${deg(free)} ${deg(occupied)}, `
        + `var(--out-of-service) ${deg(occupied)} ${deg(broken)}, var(--unknown) ${deg(broken)} 360deg)`,
    );
    const share = cell.locations ? cell.locations_available / cell.locations : 0;
    el.dataset.share = share >= 0.5 ? "high" : share > 0 ? "some" : "none";
    el.dataset.locations = String(cell.locations);
    el.dataset.locationsAvailable = String(cell.locations_available);
    el.dataset.available = String(cell.available);
    el.dataset.cells = String(cell.cells.length);
    const label = `${cell.locations} stations here, ${cell.locations_available} with a free charge point `
      + `(${cell.available} of ${cell.evses} charge points free). Zoom in.`;
    el.setAttribute("aria-label", label);
    el.title = label;
    el.replaceChildren(h("span", { class: "cluster-count" }, compact(cell.locations)));
  }

  clear() {
    for (const entry of this.entries.values()) entry.marker.remove();
    this.entries.clear();
  }
}
