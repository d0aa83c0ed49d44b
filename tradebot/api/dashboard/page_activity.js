// Live activity: fills, the signals the strategies acted on and risk events, as they are stored.
import { h, section } from "./dom.js";
import { feed } from "./live.js";

export async function activityPage() {
  return h("div", { class: "page" },
    h("h1", {}, "Live activity"),
    h("p", { class: "muted" }, "Fills, signals (orders placed on a strategy's signal) and risk events of every paper "
      + "account, newest first; new events appear without reloading the page."),
    section("Events", feed({ limit: 200 })));
}
