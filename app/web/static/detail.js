// The detail panel of one location (GET /v1/locations/{id}): EVSEs with status and status age
// (identical ones grouped, a stale status shown as unknown), connectors with power and the price of
// the driver's session (issue 13), tariffs incl. VAT, opening hours in words, operator, network,
// freshness and links to navigate there.
// Live events for the open location refetch it; ages tick without refetching.

import { getJSON, isAbort } from "./api.js";
import { h, icon } from "./dom.js";
import {
  PRICE_BASIS_WORDS, bucketOfStatus, connectorName, connectorsSummary, countsSentence, formatAge,
  formatDuration, formatEnergy, formatPower, locationStatus, openingHours, powerTypeName, shownPrice,
  statusAge, statusLabel,
} from "./format.js";

const AGE_TICK_MS = 15_000;

function words(value) {
  return String(value).toLowerCase().replaceAll("_", " ");
}

function safeHttpUrl(text) {
  try {
    const parsed = new URL(text);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** What makes two EVSEs the same to a driver: their connectors and capabilities, as shown. */
function evseKind(evse) {
  const connectors = (evse.connectors || []).map((c) => JSON.stringify(
    [c.standard, c.format, c.power_type, c.max_power_kw, [...(c.capabilities || [])].sort()]));
  return JSON.stringify([connectors.sort(), [...(evse.capabilities || [])].sort()]);
}

/** EVSEs of the same kind together, kinds in the order they first appear: [[kind, evses]]. */
function groupByKind(evses) {
  const groups = new Map();
  for (const evse of evses) {
    const kind = evseKind(evse);
    if (!groups.has(kind)) groups.set(kind, []);
    groups.get(kind).push(evse);
  }
  return [...groups];
}

/** "AC 3-phase socket · reservable": what the group's one-line summary leaves out. */
function kindDetails(evse) {
  const connectors = (evse.connectors || []).map((c) =>
    [powerTypeName(c.power_type), c.format ? words(c.format) : null].filter(Boolean).join(" "));
  return [...new Set(connectors), ...(evse.capabilities || []).map(words)].filter(Boolean).join(" · ");
}

/** Where to drive: a geo: URI (the device's own maps app) first, then the usual map sites. */
function navigationLinks({ lat, lon }, name) {
  const at = `${lat},${lon}`;
  const label = encodeURIComponent(String(name || "Charging station").replace(/[()]/g, ""));
  return [
    { key: "geo", text: "Navigate", href: `geo:${at}?q=${at}(${label})` },
    { key: "google", text: "Google Maps", href: `https://www.google.com/maps/dir/?api=1&destination=${at}` },
    { key: "apple", text: "Apple Maps", href: `https://maps.apple.com/?daddr=${at}` },
    { key: "osm", text: "OpenStreetMap", href: `https://www.openstreetmap.org/directions?to=${at}` },
  ];
}

/** " demo price", " from a public register": nothing for the network's own tariff. */
function basisTag(basis) {
  const text = PRICE_BASIS_WORDS[basis];
  return text ? [" ", h("span", { class: `basis-tag basis-${basis}`, "data-testid": "price-basis" }, text)] : null;
}

/**
 * One tariff: its prices incl. VAT where the VAT is known, else as published (usually excl.
 * VAT); a register's own words when the price was read from them; why it cannot price a session.
 */
function tariffItem(t) {
  const summary = t.summary_incl_vat || t.summary || `${t.currency} tariff ${t.id}`;
  return h("li", { "data-testid": "tariff", "data-tariff-id": t.id, "data-basis": t.basis || "tariff" },
    h("span", { "data-testid": "tariff-summary" }, summary),
    !t.summary_incl_vat && t.summary ? h("span", { class: "muted" }, " · as published") : null,
    basisTag(t.basis),
    t.source_text
      ? h("span", { class: "source-text muted", "data-testid": "tariff-source-text" }, `The register says: “${t.source_text}”`)
      : null,
    t.unpriceable_reason
      ? h("span", { class: "muted unpriceable", "data-testid": "tariff-unpriceable" }, `Cannot price a session: ${t.unpriceable_reason}`)
      : null);
}

export class DetailPanel {
  constructor(root, { onClose, onLocate, getMaxStatusAge, getSession }) {
    this.root = root;
    this.onClose = onClose;
    this.onLocate = onLocate;
    this.getMaxStatusAge = getMaxStatusAge;
    this.getSession = getSession;
    this.id = null;
    this.data = null;
    this.fetchedAt = 0;
    this.controller = null;
    this.refreshTimer = null;
    this.returnFocus = null;
    this.openGroups = new Set(); // kinds whose charge points the driver unfolded
    setInterval(() => this.tickAges(), AGE_TICK_MS);
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
  }

  get openId() {
    return this.id;
  }

  async open(id, { focus = false } = {}) {
    const same = id === this.id;
    this.id = id;
    this.root.hidden = false;
    this.root.dataset.locationId = id;
    document.body.classList.add("detail-open");
    if (!same || !this.data) {
      this.data = null;
      this.root.dataset.state = "loading";
      this.root.replaceChildren(this.header("Loading…"), h("p", { class: "muted pad" }, "Loading station…"));
    }
    if (focus) {
      this.returnFocus = document.activeElement; // back there when the panel closes
      this.root.focus();
    }
    await this.load();
  }

  /** Refetch the open location (a live event for it arrived); coalesces bursts. */
  refresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(), 100);
  }

  async load() {
    const id = this.id;
    if (!id) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    try {
      const energyKwh = this.getSession().energy_kwh;
      const data = await getJSON(`/v1/locations/${encodeURIComponent(id)}`, { energy_kwh: energyKwh }, controller.signal, { fresh: true });
      if (id !== this.id) return;
      this.data = data;
      this.energyKwh = energyKwh;
      this.fetchedAt = Date.now();
      this.render();
    } catch (error) {
      if (isAbort(error) || id !== this.id) return;
      this.root.dataset.state = "error";
      const message = error.status === 404 ? "This station is no longer listed." : `Could not load the station: ${error.message}`;
      this.root.replaceChildren(this.header("Station"), h("p", { class: "field-error pad", role: "alert" }, message));
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  close() {
    if (!this.id) return;
    this.controller?.abort();
    this.id = null;
    this.data = null;
    this.root.hidden = true;
    delete this.root.dataset.locationId;
    document.body.classList.remove("detail-open");
    this.root.replaceChildren();
    this.onClose();
    if (this.returnFocus?.isConnected) this.returnFocus.focus();
    this.returnFocus = null;
  }

  header(title) {
    return h("header", { class: "detail-header" },
      h("h2", { id: "detail-title", "data-testid": "detail-title" }, title),
      h("button", {
        type: "button", class: "icon-button", "aria-label": "Close station details", "data-testid": "detail-close",
        onclick: () => this.close(),
      }, icon("close")));
  }

  ageOf(evse) {
    return evse.status_age_s + (Date.now() - this.fetchedAt) / 1000;
  }

  staleReason(evse) {
    if (evse.stale) return "network silent";
    const max = this.getMaxStatusAge();
    if (max && this.ageOf(evse) > max) return "older than your filter";
    return null;
  }

  bucketOf(evse) {
    return this.staleReason(evse) ? "stale" : bucketOfStatus(evse.status);
  }

  render() {
    const d = this.data;
    const scroll = this.root.querySelector(".detail-body")?.scrollTop ?? 0;
    // A refetch redraws the panel: groups the driver unfolded stay unfolded.
    this.openGroups = new Set([...this.root.querySelectorAll("details[data-kind][open]")].map((el) => el.dataset.kind));
    this.root.dataset.state = "ready";
    const counts = d.availability;
    const status = locationStatus(counts);
    const place = [d.address, [d.postal_code, d.city].filter(Boolean).join(" "), d.country].filter(Boolean).join(", ");
    const chips = [
      h("span", { class: `chip-status status-${status}`, "data-testid": "detail-availability", "data-status": status },
        `${counts.available} of ${counts.total} free`),
      d.max_power_kw ? h("span", { class: "chip-plain" }, icon("bolt"), `up to ${formatPower(d.max_power_kw)}`) : null,
      d.open_now === true ? h("span", { class: "chip-plain open" }, "Open now") : null,
      d.open_now === false ? h("span", { class: "chip-plain closed" }, "Closed now") : null,
    ];

    const [geo, ...sites] = navigationLinks(d.coordinates, d.name);
    const body = h("div", { class: "detail-body" },
      h("p", { class: "address" }, place || "Address not published"),
      h("div", { class: "chips-row" }, chips),
      counts.available !== counts.total || counts.stale_reason
        ? h("p", { class: "muted small", "data-testid": "detail-counts" }, countsSentence(counts),
          counts.stale_reason ? ` (stale: ${counts.stale_reason})` : "")
        : null,
      h("div", { class: "actions-row" },
        h("a", { class: "secondary small", href: geo.href, "data-testid": "navigate-geo" }, icon("navigate"), geo.text),
        h("button", { type: "button", class: "secondary small", onclick: () => this.onLocate(d) }, icon("pin"), "Show on map"),
        h("button", {
          type: "button", class: "secondary small", "data-testid": "detail-share",
          onclick: (event) => this.share(event.currentTarget),
        }, icon("link"), "Copy link")),
      this.directions(sites),
      this.priceSection(d),
      this.evseSection(d),
      this.hoursSection(d),
      this.aboutSection(d),
    );
    this.root.replaceChildren(this.header(d.name || "Charging station"), body);
    body.scrollTop = scroll;
  }

  /** "Directions: Google Maps · Apple Maps · OpenStreetMap", each opening beside the map. */
  directions(sites) {
    return h("p", { class: "small directions", "data-testid": "directions" }, "Directions: ", sites.map((site, i) => [
      i ? " · " : "",
      h("a", { href: site.href, target: "_blank", rel: "noopener noreferrer", "data-testid": `navigate-${site.key}` }, site.text),
    ]));
  }

  /** "€10.89 for 30 kWh", with where the price comes from when it is not the network's tariff. */
  sessionPrice(price) {
    const shown = shownPrice(price);
    if (!shown) return null;
    return h("span", { class: "session-price", "data-testid": "session-price", "data-price": shown.amount, "data-currency": shown.currency },
      h("strong", {}, shown.text),
      ` for ${formatEnergy(this.energyKwh)} ${shown.inclVat ? "incl. VAT" : "excl. VAT (as published)"}`,
      basisTag(shown.basis));
  }

  priceSection(d) {
    const tariffs = d.tariffs || [];
    const active = tariffs.filter((t) => t.active !== false);
    const cheapest = this.sessionPrice(d.price);
    const energy = formatEnergy(this.energyKwh);
    return h("section", { class: "detail-section", "aria-labelledby": "price-title" },
      h("h3", { id: "price-title" }, icon("euro"), "Price"),
      h("p", { "data-testid": "price-summary" }, cheapest
        ? ["From ", cheapest]
        : active.length
          ? `No price for ${energy} here: the tariffs below cannot price it.`
          : "No price published by the network."),
      active.length
        ? h("ul", { class: "tariff-list small", "data-testid": "tariffs" }, active.map((t) => tariffItem(t)))
        : null,
      d.unknown_tariff_ids?.length
        ? h("p", { class: "muted small" }, `Some connectors refer to tariffs the network has not published (${d.unknown_tariff_ids.join(", ")}).`)
        : null);
  }

  evseSection(d) {
    const evses = d.evses || [];
    return h("section", { class: "detail-section", "aria-labelledby": "evse-title" },
      h("h3", { id: "evse-title" }, icon("bolt"), `Charge points (${evses.length})`),
      h("ul", { class: "evse-list", "data-testid": "evse-list" }, groupByKind(evses).map(([kind, group]) =>
        (group.length > 1 ? this.evseGroup(kind, group) : this.evseItem(group[0])))));
  }

  /** One line for identical charge points ("6 × Type 2, 11 kW, 4 free"), each one unfoldable. */
  evseGroup(kind, evses) {
    const counts = { available: 0, occupied: 0, out_of_service: 0, unknown: 0, planned: 0, stale: 0 };
    for (const evse of evses) counts[this.bucketOf(evse)] += 1;
    const status = locationStatus(counts);
    const details = kindDetails(evses[0]);
    return h("li", {
      class: `evse evse-group status-${status}`,
      "data-testid": "evse-group",
      "data-count": evses.length,
      "data-free": counts.available,
      "data-bucket": status,
    },
    h("div", { class: "evse-head" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { "data-testid": "evse-group-summary" },
        `${evses.length} × ${connectorsSummary(evses[0].connectors || [])}, ${counts.available} free`)),
    details ? h("div", { class: "evse-meta muted small" }, details) : null,
    this.groupPrice(evses),
    h("details", { class: "evse-each", "data-kind": kind, open: this.openGroups.has(kind) },
      h("summary", { class: "small", "data-testid": "evse-group-toggle" }, `Each charge point: ${countsSentence(counts)}`),
      h("ul", { class: "evse-list" }, evses.map((e) => this.evseItem(e)))));
  }

  /** A folded group's price: one line when its charge points all cost the same. */
  groupPrice(evses) {
    const prices = evses.flatMap((e) => (e.connectors || []).map((c) => c.price));
    const texts = new Set(prices.map((p) => JSON.stringify(shownPrice(p))));
    if (texts.size !== 1) return h("div", { class: "evse-meta small" }, "Prices differ between these charge points: unfold them.");
    const line = this.sessionPrice(prices[0]);
    return line ? h("div", { class: "evse-meta small", "data-testid": "evse-group-price" }, line) : null;
  }

  evseItem(evse) {
    const reason = this.staleReason(evse);
    const bucket = this.bucketOf(evse);
    const connectors = (evse.connectors || []).map((c) => h("li", { "data-testid": "connector" },
      h("strong", {}, connectorName(c.standard)),
      ` · ${[powerTypeName(c.power_type), formatPower(c.max_power_kw), c.format ? words(c.format) : null].filter(Boolean).join(" · ")}`,
      c.price ? [" · ", this.sessionPrice(c.price)] : null));
    const where = [evse.physical_reference ? `post ${evse.physical_reference}` : null,
      evse.floor_level ? `floor ${evse.floor_level}` : null].filter(Boolean).join(" · ");
    return h("li", {
      class: `evse status-${bucket}`,
      "data-testid": "evse",
      "data-evse-uid": evse.uid,
      "data-status": evse.status,
      "data-bucket": bucket,
      "data-stale": reason ? "true" : "false",
    },
    h("div", { class: "evse-head" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { class: "evse-status", "data-testid": "evse-status" }, statusLabel(evse.status, Boolean(reason))),
      h("span", { class: "evse-age", "data-age-s": String(evse.status_age_s), "data-stale": reason ? "true" : null },
        ` · ${statusAge(this.ageOf(evse), Boolean(reason))}`),
      reason ? h("span", { class: "stale-tag", title: `Stale: ${reason}` }, `stale · ${reason}`) : null),
    h("div", { class: "evse-meta muted small" },
      [evse.evse_id ? `ID ${evse.evse_id}` : `Charge point ${evse.uid}`, where].filter(Boolean).join(" · ")),
    h("ul", { class: "connectors" }, connectors));
  }

  hoursSection(d) {
    const hours = openingHours(d.opening_times, d.time_zone);
    return h("section", { class: "detail-section", "aria-labelledby": "hours-title" },
      h("h3", { id: "hours-title" }, icon("clock"), "Opening hours"),
      h("p", { "data-testid": "opening-hours" }, hours.headline),
      hours.lines.length ? h("ul", { class: "plain-list hours" }, hours.lines.map((line) => h("li", {}, line))) : null,
      hours.notes.length ? h("ul", { class: "plain-list small" }, hours.notes.map((line) => h("li", {}, line))) : null,
      d.opening_times && !d.opening_times.twentyfourseven && d.charging_when_closed
        ? h("p", { class: "muted small" }, "Charging continues when the site is closed.")
        : null);
  }

  aboutSection(d) {
    const rows = [];
    const operator = d.operator_details?.name || d.operator;
    const website = d.operator_details?.website ? safeHttpUrl(d.operator_details.website) : null;
    if (operator) {
      rows.push(["Operator", website
        ? h("a", { href: website, target: "_blank", rel: "noopener noreferrer" }, operator)
        : operator]);
    }
    if (d.owner?.name && d.owner.name !== operator) rows.push(["Owner", d.owner.name]);
    const network = `${d.network.name || "network"} (${d.network.country_code}*${d.network.party_id})`;
    rows.push(["Network", network]);
    const source = d.source || {};
    const freshness = source.live
      ? h("span", { class: "fresh", "data-testid": "freshness", "data-live": "true" },
        `live · last heard ${formatAge(source.silent_s)}`)
      : h("span", { class: "stale-tag", "data-testid": "freshness", "data-live": "false" },
        source.silent_s !== null && source.silent_s !== undefined
          ? `silent for ${formatDuration(source.silent_s)}: statuses are stale`
          : "no contact yet: statuses are stale");
    rows.push(["Freshness", freshness]);
    if (source.ocpi_version) rows.push(["Feed", `OCPI ${source.ocpi_version}`]);
    if (d.last_updated) rows.push(["Site data", `updated ${formatAge((Date.now() - Date.parse(d.last_updated)) / 1000)}`]);
    if (d.parking_type) rows.push(["Parking", words(d.parking_type)]);
    if (d.facilities?.length) rows.push(["Nearby", d.facilities.map(words).join(", ")]);
    const directions = (d.directions || []).find((t) => t.language === "en") || (d.directions || [])[0];
    if (directions?.text) rows.push(["Directions", directions.text]);
    rows.push(["Location id", `${d.ocpi_id} · ${d.id}`]);
    return h("section", { class: "detail-section", "aria-labelledby": "about-title" },
      h("h3", { id: "about-title" }, icon("info"), "Operator and network"),
      h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  }

  tickAges() {
    if (!this.data || this.root.hidden) return;
    for (const el of this.root.querySelectorAll(".evse-age[data-age-s]")) {
      const base = Number(el.dataset.ageS);
      el.textContent = ` · ${statusAge(base + (Date.now() - this.fetchedAt) / 1000, el.dataset.stale === "true")}`;
    }
  }

  async share(button) {
    const text = window.location.href;
    try {
      await navigator.clipboard.writeText(text);
      button.lastChild.textContent = "Link copied";
    } catch {
      button.lastChild.textContent = "Copy the address bar";
    }
  }
}
