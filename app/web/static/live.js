// Live availability over Server-Sent Events (GET /v1/stream?bbox=…).
//
// - One EventSource for an area a little larger than the viewport; a new one only when the view
//   leaves that area (so panning around does not churn connections).
// - A dropped connection is resumed by EventSource itself with Last-Event-ID; the server replays
//   what was missed. When the browser gives up (an HTTP error such as 503), we reconnect with
//   backoff and pass the last id as `last_event_id`, which the server treats the same way.
// - `event: reset` means "too far behind, reload the area": the server then ends the stream, so we
//   open a fresh one (without an id, or it would replay into the same reset) and ask the page to
//   reload what it shows.
// - A new area is subscribed with the last id seen when it is recent, so changes that happened
//   in the new area between the old subscription and the new one are replayed too.

import { url } from "./api.js";

const RESUME_WINDOW_MS = 60_000;
const PAD = 0.3; // subscribe for the viewport plus 30% on each side

export class LiveStream {
  constructor({ onEvent, onReset, onState }) {
    this.onEvent = onEvent;
    this.onReset = onReset;
    this.onState = onState;
    this.source = null;
    this.area = null;
    this.lastId = null;
    this.lastIdAt = 0;
    this.retryTimer = null;
    this.retryDelayMs = 1000;
    this.received = 0;
    this.state = "idle";
  }

  /** Follow the viewport [w, s, e, n]; keeps the current connection when it covers it. */
  follow(bbox) {
    if (this.area && covers(this.area, bbox) && this.source) return;
    this.open(padded(bbox), this.recentId());
  }

  recentId() {
    return this.lastId && Date.now() - this.lastIdAt < RESUME_WINDOW_MS ? this.lastId : null;
  }

  open(area, resumeId) {
    this.closeSource();
    this.area = area;
    this.setState(this.received ? "reconnecting" : "connecting");
    const source = new EventSource(url("/v1/stream", { bbox: area.join(","), last_event_id: resumeId }));
    this.source = source;
    source.addEventListener("hello", (event) => {
      if (source !== this.source) return;
      this.remember(event.lastEventId);
      this.retryDelayMs = 1000;
      this.setState("live");
    });
    source.addEventListener("availability", (event) => {
      if (source !== this.source) return;
      this.remember(event.lastEventId);
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.received += 1;
      this.setState("live");
      this.onEvent(data);
    });
    source.addEventListener("reset", () => {
      if (source !== this.source) return;
      this.lastId = null;
      this.open(this.area, null);
      this.onReset();
    });
    source.addEventListener("error", () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser will not retry (HTTP error): we do, resuming from the last id.
        this.closeSource();
        this.setState("offline");
        const delay = this.retryDelayMs;
        this.retryDelayMs = Math.min(30_000, this.retryDelayMs * 2);
        this.retryTimer = setTimeout(() => this.open(this.area, this.lastId), delay);
      } else {
        this.setState("reconnecting"); // EventSource retries by itself with Last-Event-ID
      }
    });
  }

  remember(id) {
    if (id) {
      this.lastId = id;
      this.lastIdAt = Date.now();
    }
  }

  setState(state) {
    this.state = state;
    this.onState(state, this.received);
  }

  closeSource() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  close() {
    this.closeSource();
    this.area = null;
    this.setState("idle");
  }
}

function padded([w, s, e, n]) {
  const dx = (e >= w ? e - w : e + 360 - w) * PAD;
  const dy = (n - s) * PAD;
  let west = w - dx;
  let east = e + dx;
  if (east - west >= 360 || (e >= w && (west < -180 || east > 180) && east - west >= 300)) {
    west = -180;
    east = 180;
  } else {
    west = wrap(west);
    east = wrap(east);
  }
  return [round(west), round(Math.max(-90, s - dy)), round(east), round(Math.min(90, n + dy))];
}

function wrap(lon) {
  if (lon >= -180 && lon <= 180) return lon;
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

function round(v) {
  return Math.round(v * 1e4) / 1e4;
}

function inLon(area, lon) {
  const [w, , e] = area;
  return w <= e ? lon >= w && lon <= e : lon >= w || lon <= e;
}

function covers(area, [w, s, e, n]) {
  if (s < area[1] || n > area[3]) return false;
  if (area[0] === -180 && area[2] === 180) return true;
  if (!inLon(area, w) || !inLon(area, e)) return false;
  // both ends inside; the box must not wrap around the outside of the area
  const width = (x0, x1) => (x1 >= x0 ? x1 - x0 : x1 + 360 - x0);
  return width(area[0], w) <= width(area[0], e);
}
