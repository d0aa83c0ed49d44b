// Live activity: one EventSource on /api/events (the session cookie authenticates it) shared
// by every page that shows the feed. The browser reconnects by itself and sends the last
// event id, so the server resumes right after the last event shown.
import { h, num, when } from "./dom.js";

const KINDS = ["signal", "fill", "risk"];
const listeners = new Set();
const recent = [];
const MAX = 200;
let source = null;

function indicator(on) {
  const el = document.getElementById("live");
  if (el) {
    el.classList.toggle("off", !on);
    el.textContent = on ? "live" : "offline";
  }
}

export function startLive() {
  if (source) return;
  source = new EventSource("/api/events");
  source.addEventListener("open", () => indicator(true));
  source.addEventListener("error", () => indicator(false));
  for (const kind of KINDS) {
    source.addEventListener(kind, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      const item = { kind, data, id: ev.lastEventId };
      recent.push(item);
      if (recent.length > MAX) recent.shift();
      for (const fn of listeners) fn(item);
    });
  }
}

export function stopLive() {
  if (source) source.close();
  source = null;
  recent.length = 0;
  indicator(false);
}

export function describe({ kind, data }) {
  if (kind === "fill") {
    return `${data.side} ${num(data.qty, 6)} ${data.symbol} at ${num(data.price)} (${data.intent}, fee ${num(data.fee, 4)})`;
  }
  if (kind === "signal") {
    const why = data.exit_reason ? `, ${data.exit_reason}` : "";
    return `${data.intent} signal: ${data.side} ${data.order_type} order #${data.seq}, ${num(data.qty, 6)} ${data.symbol} → ${data.status}${why}`;
  }
  return `${data.kind} ${data.rule}: ${data.detail}`;
}

// A feed element that shows the backlog and then each new event at the top.
export function feed({ limit = 50 } = {}) {
  startLive();
  const list = h("ol", { class: "feed", "data-feed": "1" });
  const add = (item) => {
    const li = h("li", { class: `ev ev-${item.kind}`, "data-kind": item.kind, "data-ts": item.data.ts_ms },
      h("span", { class: "when" }, when(item.data.ts_ms)),
      h("span", { class: "badge" }, item.kind),
      h("span", { class: "acct" }, item.data.account),
      h("span", { class: "what" }, describe(item)));
    list.prepend(li);
    while (list.children.length > limit) list.lastChild.remove();
  };
  for (const item of recent.slice(-limit)) add(item);
  let shown = false; // drop the listener once the feed has been shown and left the page
  const fn = (item) => {
    if (list.isConnected) shown = true;
    if (shown && !list.isConnected) listeners.delete(fn);
    else add(item);
  };
  listeners.add(fn);
  return list;
}
