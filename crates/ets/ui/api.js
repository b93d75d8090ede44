// The ETS API from the browser: same origin only, the session cookie (when authentication
// is on) sent by the browser. Errors carry the server's message, which says what to fix.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || null;
  }
}

/** Raised (and handled by the router) when the server wants a login. */
export class LoginNeeded extends Error {}

// A browser session's CSRF token (from the login answer): sent with every state-changing
// request, as the server requires of cookie sessions. Kept for the tab's life.
const CSRF_KEY = "ets.csrf";

/** Remembers (or, with null, forgets) the session's CSRF token. */
export function setCsrf(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  const csrf = method === "GET" ? null : sessionStorage.getItem(CSRF_KEY);
  if (csrf) init.headers["x-csrf-token"] = csrf;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new LoginNeeded("log in to continue");
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `${method} ${path} answered ${response.status}`,
      error.details,
    );
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, value);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** Every item of a paged list endpoint (`items`, `next_page_token`), up to `limit` items. */
export async function all(path, params = {}, limit = 100000) {
  const items = [];
  let token = "";
  do {
    const page = await get(path + query({ ...params, page_size: 1000, page_token: token }));
    items.push(...page.items);
    token = page.next_page_token || "";
  } while (token && items.length < limit);
  return items;
}

/**
 * Follows a live event stream (`/api/v1/runs/{id}/stream`, `/api/v1/experiments/{id}/stream`):
 * `onEvent(data)` for each event. The browser reconnects by itself and resumes with
 * `Last-Event-ID`. Returns a function that stops it.
 */
export function follow(path, onEvent) {
  const source = new EventSource(path);
  const handler = (event) => {
    try {
      onEvent(JSON.parse(event.data));
    } catch (error) {
      console.warn("bad live event", error);
    }
  };
  for (const type of ["metrics", "run_status", "run_created", "reset", "message"]) {
    source.addEventListener(type, handler);
  }
  return () => source.close();
}

/** Milliseconds since the epoch of an API timestamp (RFC 3339) or number. */
export function millis(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
