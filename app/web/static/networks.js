// The network filter's suggestions: every network GET /v1/networks lists (most locations first),
// asked for once when the page starts. If that request fails, the page still suggests what it
// can: the networks seen in the results it has loaded, as they come in.

import { getJSON } from "./api.js";
import { h } from "./dom.js";

export class NetworkOptions {
  constructor(datalist) {
    this.datalist = datalist;
    this.listed = null; // the API's list, once it has answered
    this.seen = new Map(); // "CC*PID" → name, from loaded results (the fallback)
    this.datalist.dataset.state = "loading";
  }

  /** Ask for the list. Never rejects: a failed request only leaves the fallback in place. */
  async load() {
    try {
      this.listed = await getJSON("/v1/networks");
      this.datalist.dataset.state = "ready";
    } catch {
      // The filter still works with typed ids; suggest the networks seen in results instead.
      this.datalist.dataset.state = "fallback";
    }
    this.render();
  }

  /** Networks of loaded results (`r.network`): suggested only while the list is not there. */
  remember(results) {
    let added = false;
    for (const r of results) {
      const id = `${r.network.country_code}*${r.network.party_id}`;
      if (!this.seen.has(id)) {
        this.seen.set(id, r.network.name || id);
        added = true;
      }
    }
    if (added && !this.listed) this.render();
  }

  render() {
    const options = this.listed
      ? this.listed.map((n) => h("option", { value: n.id, label: listedLabel(n) }))
      : [...this.seen.entries()].sort((a, b) => a[0].localeCompare(b[0]))
        .map(([id, name]) => h("option", { value: id, label: `${name} (${id})` }));
    this.datalist.replaceChildren(...options);
  }
}

function listedLabel(network) {
  const n = network.locations;
  return `${network.operator || network.source} · ${n.toLocaleString("en")} location${n === 1 ? "" : "s"}`;
}
