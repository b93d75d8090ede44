// The login page (when authentication is on): a browser session through POST /api/v1/auth/login.

import { post, setCsrf } from "../api.js";
import { errorBox, go, showWho } from "../app.js";
import { fill, h, heading } from "../dom.js";

export async function render(main, _params, query) {
  const message = h("div", { "aria-live": "polite" });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (event) => {
        event.preventDefault();
        fill(message);
        try {
          const session = await post("/api/v1/auth/login", { username: user.value, password: password.value });
          setCsrf(session && session.csrf_token);
          showWho();
          const next = query.get("next") || "/";
          go(next.startsWith("/") && !next.startsWith("/login") ? next.split("?")[0] : "/", Object.fromEntries(new URLSearchParams(next.split("?")[1] || "")));
        } catch (error) {
          fill(message, errorBox(error));
        }
      },
    },
    h("label", { for: "login-user" }, "User name"),
    user,
    h("label", { for: "login-password" }, "Password"),
    password,
    h("button", { type: "submit" }, "Log in"),
    message,
  );
  fill(main, heading("Log in"), form);
  user.focus();
}
