// Charts with the plotly.js the server vendors from the plotly package (never a CDN).
import { h } from "./dom.js";

const LAYOUT = {
  margin: { l: 60, r: 20, t: 30, b: 40 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#d8dee9", size: 12 },
  xaxis: { gridcolor: "#3b4252" },
  yaxis: { gridcolor: "#3b4252" },
  legend: { orientation: "h", y: 1.1 },
  hovermode: "x unified",
};
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "sendDataToCloud"] };

// plotly.js is ~4.8 MB: loaded (once per page load) by the first chart, so pages without
// charts are not held up by parsing it. A <script src> from this server: allowed by the CSP.
let plotly = null;
export function loadPlotly() {
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      if (window.Plotly) return resolve(window.Plotly);
      const s = document.createElement("script");
      s.src = "/dashboard/vendor/plotly.min.js";
      s.addEventListener("load", () => resolve(window.Plotly));
      s.addEventListener("error", () => {
        plotly = null;
        reject(new Error("could not load /dashboard/vendor/plotly.min.js"));
      });
      document.head.append(s);
    });
  }
  return plotly;
}

// A chart container; `name` becomes data-chart for tests and styling; data-drawn="1" once drawn.
export function chart(name, traces, layout = {}, { height = 360 } = {}) {
  const el = h("div", { class: "chart", "data-chart": name });
  el.style.height = `${height}px`;
  const attached = () => new Promise((resolve) => {
    const tick = () => (el.isConnected ? resolve() : requestAnimationFrame(tick));
    tick();
  });
  const draw = async () => {
    try {
      await loadPlotly();
      await attached(); // plotly sizes the chart from its element
    } catch (e) {
      el.textContent = `chart library not loaded: ${e.message}`;
      el.classList.add("error");
      return;
    }
    const lay = { ...LAYOUT, ...layout, xaxis: { ...LAYOUT.xaxis, ...(layout.xaxis || {}) },
      yaxis: { ...LAYOUT.yaxis, ...(layout.yaxis || {}) } };
    window.Plotly.newPlot(el, traces, lay, CONFIG).then(() => el.setAttribute("data-drawn", "1"),
      (e) => { el.textContent = `chart failed: ${e}`; el.classList.add("error"); });
  };
  draw();
  return el;
}

export const toDates = (ms) => ms.map((t) => new Date(Number(t)));

export function drawdownPct(equity) {
  let peak = -Infinity;
  return equity.map((e) => {
    peak = Math.max(peak, e);
    return peak > 0 ? (e / peak - 1) * 100 : 0;
  });
}

export function candleTraces(c, name = "price") {
  return {
    type: "candlestick", name, x: toDates(c.ts), open: c.open, high: c.high, low: c.low, close: c.close,
    increasing: { line: { color: "#a3be8c" } }, decreasing: { line: { color: "#bf616a" } },
  };
}

export function tradeMarkers(trades) {
  const entries = trades.filter((t) => t.entry_ts_ms != null);
  const exits = trades.filter((t) => t.exit_ts_ms != null && t.exit_reason !== "still_open");
  return [
    { type: "scatter", mode: "markers", name: "entries", x: toDates(entries.map((t) => t.entry_ts_ms)),
      y: entries.map((t) => t.entry_price), marker: { symbol: "triangle-up", size: 10, color: "#88c0d0" } },
    { type: "scatter", mode: "markers", name: "exits", x: toDates(exits.map((t) => t.exit_ts_ms)),
      y: exits.map((t) => t.exit_price), text: exits.map((t) => t.exit_reason),
      marker: { symbol: "triangle-down", size: 10, color: "#ebcb8b" } },
  ];
}
