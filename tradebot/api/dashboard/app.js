// The dashboard's entry point: a hash router over the pages, the login gate and the live
// activity stream shared by the pages that show it.
import { api, csrfToken, setCsrfToken, whenUnauthorized } from "./api.js";
import { clear, h, message } from "./dom.js";
import { loginPage } from "./page_login.js";
import { overviewPage } from "./page_overview.js";
import { activityPage } from "./page_activity.js";
import { performancePage } from "./page_performance.js";
import { marketPage } from "./page_market.js";
import { runPage } from "./page_run.js";
import { studyPage } from "./page_study.js";
import { controlPage } from "./page_control.js";
import { jobsPage } from "./page_jobs.js";
import { stopLive } from "./live.js";

const PAGES = {
  login: loginPage,
  overview: overviewPage,
  activity: activityPage,
  performance: performancePage,
  market: marketPage,
  run: runPage,
  study: studyPage,
  control: controlPage,
  jobs: jobsPage,
};

const view = document.getElementById("view");
const top = document.getElementById("top");
let generation = 0;

function parseHash() {
  const parts = (location.hash || "#/overview").replace(/^#\/?/, "").split("/");
  const name = parts[0] || "overview";
  return { name, args: parts.slice(1).map(decodeURIComponent) };
}

export function go(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

async function route() {
  const { name, args } = parseHash();
  const page = PAGES[name];
  const mine = ++generation;
  if (name !== "login" && !csrfToken()) {
    go("/login");
    return;
  }
  document.body.dataset.page = name;
  delete document.body.dataset.ready; // set again when this page is shown
  top.classList.toggle("hidden", name === "login");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
  clear(view);
  if (!page) {
    view.append(message(`No page "${name}".`, "error"));
    return;
  }
  view.append(message("Loading…"));
  try {
    const el = await page({ args, go, isCurrent: () => mine === generation });
    if (mine !== generation) return;
    clear(view).append(el);
    document.body.dataset.ready = name;
  } catch (e) {
    if (mine !== generation) return;
    if (e && e.status === 401) return; // sent to the login page
    clear(view).append(h("p", { class: "error", "data-error": "1" }, `error: ${e.message || e}`));
  }
}

whenUnauthorized(() => {
  setCsrfToken("");
  stopLive();
  if (parseHash().name !== "login") go("/login");
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("/api/logout", { method: "POST", quiet401: true });
  } catch (_) {
    // the session may already be gone; the login page is next either way
  }
  setCsrfToken("");
  stopLive();
  go("/login");
});

window.addEventListener("hashchange", route);
// No session token in this browser: straight to the login page, without a request bound to fail.
if (!csrfToken() && parseHash().name !== "login") go("/login");
else route();
