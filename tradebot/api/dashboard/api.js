// The dashboard's only way to the server: same-origin fetch with the session cookie; every
// state-changing request carries the CSRF token the login returned.

export const CSRF_HEADER = "X-CSRF-Token";
const CSRF_KEY = "tradebot.csrf";

export class ApiError extends Error {
  constructor(status, detail, problem) {
    super(detail);
    this.status = status;
    this.problem = problem;
  }
}

const CSRF_COOKIE = "tradebot_csrf";

// The session's CSRF token: the readable cookie the login set (so every tab has it), else the
// one the login response returned to this tab.
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === CSRF_COOKIE && v.length) return decodeURIComponent(v.join("="));
  }
  return sessionStorage.getItem(CSRF_KEY) || "";
}

export function setCsrfToken(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

export async function api(path, { method = "GET", body, quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers[CSRF_HEADER] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const detail = (data && (data.detail || data.title)) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, typeof detail === "string" ? detail : JSON.stringify(detail), data);
  }
  return data;
}

export const post = (path, body) => api(path, { method: "POST", body: body ?? {} });
