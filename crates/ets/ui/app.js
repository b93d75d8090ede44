// The ETS web UI: a hash router over page modules. Each page renders into <main> and may
// return a function that stops what it started (live streams, timers) when the user leaves.
// The URL holds the state of every page (filters, columns, selected runs, chart options), so
// a link shows a colleague the same view.

import { ApiError, LoginNeeded, get, post, setCsrf } from "./api.js";
import { fill, h } from "./dom.js";

const ROUTES = [
  [/^\/$/, "projects"],
  [/^\/projects\/([^/]+)$/, "project"],
  [/^\/experiments\/([^/]+)$/, "runs"],
  [/^\/runs\/([^/]+)$/, "run"],
  [/^\/compare$/, "compare"],
  [/^\/dashboards$/, "dashboards"],
  [/^\/dashboards\/([^/]+)$/, "dashboard"],
  [/^\/charts\/([^/]+)$/, "saved-chart"],
  [/^\/healthcare$/, "healthcare"],
  [/^\/login$/, "login"],
];

const main = document.getElementById("main");
let stop = null;
let generation = 0;

/** The current route: path, decoded path parameters and the query parameters. */
export function current() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { path, query: new URLSearchParams(search) };
}

/** Navigates to `path` with `query` (an object or URLSearchParams); `replace` keeps history. */
export function go(path, query = {}, replace = false) {
  const q = new URLSearchParams(query);
  for (const [key, value] of [...q]) if (value === "") q.delete(key);
  const text = q.toString();
  const hash = `#${path}${text ? `?${text}` : ""}`;
  if (replace) history.replaceState(null, "", hash);
  else location.hash = hash;
}

/** Updates the query of the current URL without rendering the page again. */
export function setQuery(changes) {
  const { path, query } = current();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") query.delete(key);
    else query.set(key, value);
  }
  const text = query.toString();
  history.replaceState(null, "", `#${path}${text ? `?${text}` : ""}`);
}

/** An error shown in the page: the server's message says what to fix. */
export function errorBox(error) {
  const text = error instanceof ApiError ? `${error.message} (${error.status} ${error.code})` : String(error.message || error);
  return h("div", { class: "error", role: "alert" }, text);
}

async function render() {
  const mine = ++generation;
  if (stop) {
    try {
      stop();
    } catch (error) {
      console.warn(error);
    }
    stop = null;
  }
  const { path, query } = current();
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, path), ". ", h("a", { href: "#/" }, "Projects")));
    return;
  }
  const params = path.match(route[0]).slice(1).map(decodeURIComponent);
  try {
    const page = await import(`./pages/${route[1]}.js`);
    if (mine !== generation) return;
    // Each page draws into its own element: a page still loading when the user leaves
    // draws into a detached element, never over the next page.
    const view = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
    fill(main, view);
    const cleanup = await page.render(view, params, query);
    if (mine !== generation) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    stop = typeof cleanup === "function" ? cleanup : null;
    markCurrentNav(path);
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof LoginNeeded && route[1] !== "login") {
      go("/login", { next: location.hash.replace(/^#/, "") }, true);
      render();
      return;
    }
    console.error(error);
    fill(main, h("h1", {}, "Something went wrong"), errorBox(error));
    document.title = "Error · ETS";
  }
}

function markCurrentNav(path) {
  for (const link of document.querySelectorAll("header nav a")) {
    const target = link.getAttribute("href").slice(1);
    const here = target === "/" ? path === "/" || path.startsWith("/projects") || path.startsWith("/experiments") || path.startsWith("/runs") : path.startsWith(target);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Shows who is logged in (when authentication is on) and a logout button. */
export async function showWho() {
  const who = document.getElementById("who");
  try {
    const me = await get("/api/v1/auth/whoami");
    const name = me && me.auth_enabled ? me.user : null;
    if (!name) {
      fill(who);
      return;
    }
    fill(
      who,
      h("span", {}, name),
      " ",
      h("button", {
        type: "button",
        class: "link",
        onclick: async () => {
          try {
            await post("/api/v1/auth/logout");
          } catch (error) {
            console.warn("logout", error);
          }
          setCsrf(null);
          go("/login");
          showWho();
        },
      }, "Log out"),
    );
  } catch {
    fill(who);
  }
}

window.addEventListener("hashchange", () => {
  render();
  main.focus({ preventScroll: true });
});
render();
showWho();
