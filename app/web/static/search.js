// The search box: typo-tolerant text search (GET /v1/search) ranked near the map centre, with
// the current filters; arrow keys move through the results, Enter opens one, Escape closes.

import { filterParams, getJSON, isAbort, sessionParams } from "./api.js";
import { debounce, h } from "./dom.js";
import { compactPrice, formatDistance, locationStatus, shownPrice } from "./format.js";
import { shownCounts } from "./markers.js";

export class SearchBox {
  constructor({ form, input, results }, { getCentre, getFilters, getSession, onPick }) {
    this.form = form;
    this.input = input;
    this.results = results;
    this.getCentre = getCentre;
    this.getFilters = getFilters;
    this.getSession = getSession;
    this.onPick = onPick;
    this.controller = null;
    this.items = [];
    const run = debounce(() => this.search(), 250);
    input.addEventListener("input", run);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run.cancel();
      if (this.items.length && this.lastQuery === input.value.trim()) this.pick(this.items[0], true);
      else this.search({ pickFirst: true });
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && this.items.length) {
        event.preventDefault();
        this.buttons()[0]?.focus();
      } else if (event.key === "Escape") {
        this.hide();
      }
    });
    results.addEventListener("keydown", (event) => {
      const buttons = this.buttons();
      const at = buttons.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && at >= 0) {
        event.preventDefault();
        buttons[Math.min(buttons.length - 1, at + 1)].focus();
      } else if (event.key === "ArrowUp" && at >= 0) {
        event.preventDefault();
        if (at === 0) input.focus();
        else buttons[at - 1].focus();
      } else if (event.key === "Escape") {
        input.focus();
        this.hide();
      }
    });
  }

  buttons() {
    return [...this.results.querySelectorAll("button.result")];
  }

  async search({ pickFirst = false } = {}) {
    const q = this.input.value.trim();
    this.controller?.abort();
    if (q.replace(/[^\p{L}\p{N}]/gu, "").length < 2) {
      this.hide();
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    const [lon, lat] = this.getCentre();
    this.results.dataset.state = "loading";
    try {
      const params = {
        q, lat: lat.toFixed(5), lon: lon.toFixed(5), limit: 10, ...filterParams(this.getFilters()), ...sessionParams(this.getSession()),
      };
      const body = await getJSON("/v1/search", params, controller.signal);
      this.lastQuery = q;
      this.items = body.results;
      this.render(q);
      if (pickFirst && this.items.length) this.pick(this.items[0], true);
    } catch (error) {
      if (isAbort(error)) return;
      this.items = [];
      this.results.hidden = false;
      this.results.replaceChildren(h("p", { class: "field-error pad", role: "alert" }, `Search failed: ${error.message}`));
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  render(q) {
    this.results.hidden = false;
    this.results.dataset.state = "ready";
    this.results.dataset.count = String(this.items.length);
    if (!this.items.length) {
      this.results.replaceChildren(h("p", { class: "muted pad" }, `Nothing found for “${q}”.`));
      return;
    }
    this.results.replaceChildren(
      h("p", { class: "sr-only" }, `${this.items.length} results`),
      h("ul", { class: "result-list", "aria-label": "Search results" }, this.items.map((r) => {
        const counts = shownCounts(r);
        const status = locationStatus(counts);
        const price = shownPrice(r.price);
        return h("li", {}, h("button", {
          type: "button", class: "result", "data-testid": "search-result", "data-location-id": r.id,
          onclick: (event) => this.pick(r, event.detail === 0),
        },
        h("span", { class: `dot status-${status}`, "aria-hidden": "true" }),
        h("span", { class: "result-main" },
          h("span", { class: "result-name" }, r.name || "Charging station"),
          h("span", { class: "result-meta" },
            [r.address, r.city, r.distance_m !== null && r.distance_m !== undefined ? formatDistance(r.distance_m) : null]
              .filter(Boolean).join(" · "))),
        price ? h("span", { class: "result-price", "aria-label": price.words }, compactPrice(price)) : null,
        h("span", { class: `free status-${status}`, "aria-label": `${counts.available} of ${counts.total} free` },
          `${counts.available}/${counts.total}`)));
      })));
  }

  pick(result, focus) {
    this.hide();
    this.onPick(result, { focus });
  }

  hide() {
    this.results.hidden = true;
    this.results.replaceChildren();
    this.items = [];
  }
}
