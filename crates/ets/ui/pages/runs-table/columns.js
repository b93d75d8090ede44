// The columns of the runs table: which exist (from the keys the loaded runs have), what each
// shows and sorts by, and how the visible/pinned sets are written into the URL.
//
// Column ids: `name`, `status`, `created`, `duration`, `p:<param>`, `m:<metric>` (latest),
// `min:<metric>`, `max:<metric>`, `t:<tag>`. The key is everything after the first colon.

import { millis } from "../../api.js";
import { duration, num, time } from "../../dom.js";

export const SELECT = "select";
const BASE = ["name", "status", "created", "duration"];
const WIDTH = { select: 40, name: 220, status: 100, created: 200, duration: 110, p: 130, m: 120, min: 120, max: 120, t: 140 };
const KIND = { p: "param", m: "metric", min: "min", max: "max", t: "tag" };
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** Adds the fields the table reads to a run from the API (metrics by key, times in ms). */
export function prepare(run) {
  const byKey = {};
  for (const m of run.metrics || []) byKey[m.key] = m;
  run._m = byKey;
  run._created = millis(run.created_at);
  run._start = millis(run.started_at) ?? run._created;
  run._end = millis(run.ended_at);
  return run;
}

/** The keys seen so far, kept as runs arrive; `changed` tells whether the columns must be rebuilt. */
export class Keys {
  constructor() {
    this.params = new Set();
    this.metrics = new Set();
    this.tags = new Set();
    this.changed = true;
  }

  add(run) {
    for (const k in run.params) if (!this.params.has(k)) (this.params.add(k), (this.changed = true));
    for (const k in run._m) if (!this.metrics.has(k)) (this.metrics.add(k), (this.changed = true));
    for (const k in run.tags) if (!this.tags.has(k)) (this.tags.add(k), (this.changed = true));
  }

  /** Every column id, in table order, and the ids shown when the URL says nothing. */
  all() {
    const sorted = (set) => [...set].sort(collator.compare);
    const metrics = sorted(this.metrics);
    const ids = [...BASE, ...sorted(this.params).map((k) => `p:${k}`)];
    for (const k of metrics) ids.push(`m:${k}`, `min:${k}`, `max:${k}`);
    ids.push(...sorted(this.tags).map((k) => `t:${k}`));
    return ids;
  }
}

/** Whether a column is shown when the URL does not say. */
export function shownByDefault(id) {
  return !/^(min|max|t):/.test(id);
}

function split(id) {
  const at = id.indexOf(":");
  return at < 0 ? [id, ""] : [id.slice(0, at), id.slice(at + 1)];
}

function paramText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return num(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function runDuration(run) {
  if (run._start === null) return null;
  const end = run._end ?? (run.status === "running" ? Date.now() : null);
  return end === null ? null : end - run._start;
}

/**
 * The column for an id: `label`, `kind` (shown above the label), `width`, `value(run)` (what
 * sorting compares: a number, a string or null) and `text(run)` (what the cell shows).
 */
export function column(id) {
  const [prefix, key] = split(id);
  const width = WIDTH[id] || WIDTH[prefix] || 120;
  switch (prefix) {
    case SELECT:
      return { id, label: "Select", kind: "", width, value: () => null, text: () => "" };
    case "name":
      return { id, label: "Name", kind: "", width, value: (r) => r.name || r.id, text: (r) => r.name || r.id };
    case "status":
      return { id, label: "Status", kind: "", width, value: (r) => r.status, text: (r) => r.status };
    case "created":
      return { id, label: "Created", kind: "", width, value: (r) => r._created, text: (r) => time(r._created) };
    case "duration":
      return { id, label: "Duration", kind: "", width, value: runDuration, text: (r) => duration(runDuration(r)) };
    case "p":
      return { id, label: key, kind: KIND.p, width, value: (r) => param(r.params[key]), text: (r) => paramText(r.params[key]) };
    case "t":
      return { id, label: key, kind: KIND.t, width, value: (r) => r.tags[key] ?? null, text: (r) => r.tags[key] ?? "" };
    case "m":
    case "min":
    case "max": {
      const field = prefix === "m" ? "last_value" : prefix;
      const value = (r) => {
        const m = r._m[key];
        return m ? (m[field] ?? null) : null;
      };
      return { id, label: key, kind: KIND[prefix], width, numeric: true, value, text: (r) => num(value(r)) };
    }
    default:
      return null;
  }
}

function param(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" || typeof v === "string") return v;
  return JSON.stringify(v);
}

/**
 * Sorts runs in place by a column: numbers numerically before text, text in natural order,
 * runs without a value last in both directions; ties keep their order.
 */
export function sortRuns(runs, col, descending) {
  const keyed = runs.map((run, i) => {
    const v = col.value(run);
    const missing = v === null || v === undefined || (typeof v === "number" && Number.isNaN(v)) || v === "";
    return { run, i, v, rank: missing ? 2 : typeof v === "number" ? 0 : 1 };
  });
  const sign = descending ? -1 : 1;
  keyed.sort((a, b) => {
    if (a.rank !== b.rank) return a.rank - b.rank;
    let c = 0;
    if (a.rank === 0) c = a.v - b.v;
    else if (a.rank === 1) c = collator.compare(String(a.v), String(b.v));
    return c ? sign * c : a.i - b.i;
  });
  for (let i = 0; i < keyed.length; i++) runs[i] = keyed[i].run;
  return runs;
}

// A list of ids in one URL parameter: comma-separated, `%` and `,` escaped.
export function encodeList(ids) {
  return ids.map((id) => id.replace(/%/g, "%25").replace(/,/g, "%2C")).join(",");
}

export function decodeList(text) {
  if (!text) return [];
  return text.split(",").filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
}

/**
 * The visible columns as written in the URL: either the exact list, or changes to the default
 * (`-id` hides a default column, `+id` shows another), whichever is shorter. Null: the default.
 */
export function encodeVisible(all, visible) {
  const explicit = all.filter((id) => visible.has(id));
  const delta = [];
  for (const id of all) {
    const def = shownByDefault(id);
    if (def && !visible.has(id)) delta.push(`-${id}`);
    if (!def && visible.has(id)) delta.push(`+${id}`);
  }
  if (!delta.length) return null;
  const a = encodeList(explicit);
  const b = encodeList(delta);
  return a.length < b.length ? a : b;
}

/** Whether `id` is shown, given the decoded `cols` parameter (see `encodeVisible`). */
export function visibility(tokens) {
  const explicit = new Set(tokens.filter((t) => !/^[+-]/.test(t)));
  const plus = new Set(tokens.filter((t) => t.startsWith("+")).map((t) => t.slice(1)));
  const minus = new Set(tokens.filter((t) => t.startsWith("-")).map((t) => t.slice(1)));
  if (explicit.size) return (id) => explicit.has(id) || plus.has(id);
  return (id) => (shownByDefault(id) ? !minus.has(id) : plus.has(id));
}
