// Log in with an API token: POST /api/login sets the HttpOnly session cookie and returns the
// CSRF token the state-changing requests send. The token itself is not kept by the page.
import { ApiError, api, setCsrfToken } from "./api.js";
import { h } from "./dom.js";

export async function loginPage({ go }) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off",
    placeholder: "tb_…", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", id: "login-error", role: "alert" });
  const button = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", { id: "login-form", class: "card login" },
    h("h1", {}, "tradebot"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { class: "muted" }, "Create one with: tradebot api token create --scope trade --expires 30d --name browser"),
    button,
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      const res = await api("/api/login", { method: "POST", body: { token: input.value.trim() }, quiet401: true });
      input.value = "";
      setCsrfToken(res && (res.csrf_token || res.csrf));
      go("/overview");
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 429
        ? `Too many failed logins: ${e.message}` : `Login refused: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return form;
}
