// An experiment's runs: a virtualised, sortable table with a filter box (the search language),
// a column picker, selection for comparing, all kept in the URL, and live updates from the
// experiment's event stream.
//
// URL: `filter`, `sort` (column id, `-` prefix descending), `cols` (see columns.js), `pin`
// (column ids), `runs` (selected run ids).

import { ApiError, follow, get, query } from "../api.js";
import { current, setQuery } from "../app.js";
import { fill, h, heading } from "../dom.js";
import { Keys, SELECT, column, decodeList, encodeList, encodeVisible, prepare, sortRuns, visibility } from "./runs-table/columns.js";
import { Grid } from "./runs-table/grid.js";
import { columnPicker } from "./runs-table/picker.js";

const FIRST_PAGE = 100; // a small first page puts rows on screen sooner
const PAGE = 1000;
const LIVE_EVERY = 1000; // ms between re-reads of runs that live events touched

export async function render(main, [id], params) {
  const path = current().path;
  const state = {
    filter: params.get("filter") || "",
    sort: parseSort(params.get("sort")),
    shown: visibility(decodeList(params.get("cols"))),
    colTokens: params.get("cols") || "",
    pin: decodePin(params.get("pin")),
    selected: new Set(decodeList(params.get("runs"))),
    runs: [], // in table order
    byId: new Map(),
    keys: new Keys(),
    loading: false,
    generation: 0,
    closed: false,
  };
  // The first page loads while the experiment is read; it is drawn once the page exists.
  let readyDone;
  const ready = new Promise((resolve) => (readyDone = resolve));
  load(state, 0);
  const experiment = await get(`/api/v1/experiments/${encodeURIComponent(id)}`);
  if (current().path !== path) {
    // The user left while the experiment was read: do not draw over the next page.
    state.closed = true;
    return null;
  }
  // The project's name only labels the breadcrumb: it fills in when it arrives.
  const projectLink = h("a", { href: `#/projects/${encodeURIComponent(experiment.project_id)}` }, "Project");
  get(`/api/v1/projects/${encodeURIComponent(experiment.project_id)}`)
    .then((project) => (projectLink.textContent = project.name))
    .catch(() => {});

  const count = h("span", { id: "runs-count", class: "muted", "aria-live": "polite" });
  const input = h("input", {
    type: "search",
    id: "runs-filter",
    name: "filter",
    class: "rt-filter",
    value: state.filter,
    placeholder: "metrics.accuracy > 0.9 AND params.optimizer = 'adam'",
    "aria-describedby": "runs-filter-help",
    autocomplete: "off",
    spellcheck: false,
  });
  const empty = h("p", { id: "runs-empty", class: "muted", hidden: true });
  const filterError = h("div", { id: "runs-filter-error", class: "rt-filter-error", hidden: true });
  const compare = h("a", { id: "runs-compare", class: "button", hidden: true });
  const clear = h("button", { type: "button", class: "secondary", id: "runs-clear", hidden: true, onclick: () => setSelection([]) }, "Clear selection");
  const title = heading(experiment.name);
  title.id = "runs-title";

  const grid = new Grid({
    label: "runs-title",
    isSelected: (run) => state.selected.has(run.id),
    allSelected: () => {
      const n = state.runs.reduce((a, r) => a + (state.selected.has(r.id) ? 1 : 0), 0);
      return n === 0 ? false : n === state.runs.length ? true : "mixed";
    },
    onOpen: (i) => (location.hash = `#/runs/${encodeURIComponent(state.runs[i].id)}`),
    onToggle: (i) => {
      const runId = state.runs[i].id;
      if (state.selected.has(runId)) state.selected.delete(runId);
      else state.selected.add(runId);
      selectionChanged();
    },
    onToggleAll: () => {
      const all = state.runs.every((r) => state.selected.has(r.id));
      for (const r of state.runs) {
        if (all) state.selected.delete(r.id);
        else state.selected.add(r.id);
      }
      selectionChanged();
    },
    onSort: (col) => {
      state.sort = state.sort && state.sort.id === col.id ? { id: col.id, desc: !state.sort.desc } : { id: col.id, desc: false };
      setQuery({ sort: (state.sort.desc ? "-" : "") + state.sort.id });
      resort();
      columnsChanged();
    },
  });

  const picker = columnPicker({
    ids: () => state.keys.all(),
    shown: (cid) => cid === "name" || state.shown(cid),
    pinned: (cid) => state.pin.includes(cid),
    setShown,
    setPinned: (cid, pin) => {
      state.pin = state.pin.filter((p) => p !== cid);
      if (pin) state.pin.push(cid);
      if (pin && !state.shown(cid)) setShown([cid], true);
      else {
        setQuery({ pin: encodePin(state.pin) });
        columnsChanged();
      }
    },
  });

  /** Shows or hides columns; hidden ones are unpinned. */
  function setShown(ids, show) {
    const all = state.keys.all();
    const now = new Set(all.filter((cid) => state.shown(cid)));
    now.add("name"); // always shown, so an explicit list is never empty
    for (const cid of ids) {
      if (show) now.add(cid);
      else if (cid !== "name") now.delete(cid);
    }
    state.pin = state.pin.filter((cid) => now.has(cid) || cid === "name");
    state.colTokens = encodeVisible(all, now) || "";
    state.shown = visibility(decodeList(state.colTokens));
    setQuery({ cols: state.colTokens, pin: encodePin(state.pin) });
    columnsChanged();
  }

  const form = h(
    "form",
    {
      class: "rt-filter-form",
      role: "search",
      onsubmit: (e) => {
        e.preventDefault();
        state.filter = input.value.trim();
        setQuery({ filter: state.filter });
        reload();
      },
    },
    h("label", { for: "runs-filter" }, "Filter"),
    input,
    h("button", { type: "submit" }, "Apply"),
  );

  fill(
    main,
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Projects"),
      " / ",
      projectLink,
      " / ",
      h("span", { "aria-current": "page" }, experiment.name),
    ),
    title,
    experiment.description ? h("p", {}, experiment.description) : null,
    form,
    h("p", { id: "runs-filter-help", class: "muted rt-help" }, "The search language: ", h("code", {}, "metrics.loss < 0.2 AND (params.opt = 'adam' OR tags.team = 'vision')"), ". Press Enter to apply."),
    filterError,
    h("div", { class: "toolbar rt-toolbar" }, count, compare, clear, h("span", { class: "rt-spacer" }), picker.button),
    picker.panel,
    grid.el,
    empty,
  );

  function selectionChanged() {
    const ids = [...state.selected];
    setQuery({ runs: encodeList(ids) });
    compare.hidden = clear.hidden = ids.length === 0;
    compare.textContent = `Compare (${ids.length})`;
    compare.href = `#/compare?runs=${ids.map(encodeURIComponent).join(",")}`;
    showCount();
    grid.render(true);
  }

  function setSelection(ids) {
    state.selected = new Set(ids);
    selectionChanged();
  }

  function showCount() {
    const n = state.runs.length.toLocaleString("en-US");
    const word = state.runs.length === 1 ? "run" : "runs";
    const sel = state.selected.size ? `, ${state.selected.size.toLocaleString("en-US")} selected` : "";
    count.textContent = state.loading ? `${n} ${word} so far, loading…${sel}` : `${n} ${word}${sel}`;
  }

  function resort() {
    if (!state.sort) return;
    const col = column(state.sort.id);
    if (col) sortRuns(state.runs, col, state.sort.desc);
  }

  function columnsChanged() {
    state.keys.changed = false;
    const ids = state.keys.all().filter((cid) => cid === "name" || state.shown(cid));
    const pinned = state.pin.filter((cid) => ids.includes(cid));
    const rest = ids.filter((cid) => !pinned.includes(cid));
    const cols = [SELECT, ...pinned, ...rest].map(column);
    grid.setColumns(cols, 1 + pinned.length, state.sort);
    picker.refresh();
  }

  function rowsChanged() {
    if (state.keys.changed) columnsChanged();
    grid.setRows(state.runs);
    showCount();
    empty.hidden = state.loading || state.runs.length > 0;
    empty.textContent = state.filter ? "No run matches this filter." : "No run in this experiment yet.";
  }

  /** Adds or replaces runs from the API; `seen` ids that did not come back leave the table. */
  function upsert(items, seen = []) {
    const back = new Set();
    for (const raw of items) {
      const run = prepare(raw);
      back.add(run.id);
      state.keys.add(run);
      const old = state.byId.get(run.id);
      if (old) Object.assign(old, run);
      else {
        state.byId.set(run.id, run);
        if (state.sort) state.runs.push(run);
        else state.runs.unshift(run); // the server's order: newest first
      }
    }
    const gone = seen.filter((rid) => !back.has(rid) && state.byId.has(rid));
    if (gone.length) {
      for (const rid of gone) state.byId.delete(rid);
      state.runs = state.runs.filter((r) => state.byId.has(r.id));
    }
    resort();
    rowsChanged();
  }

  /**
   * Loads every run matching the filter, drawing the table after each page. The runs shown
   * stay until the first page of the new filter arrives (or the filter turns out wrong).
   */
  async function load(s, generation) {
    s.loading = true;
    let token = "";
    let size = FIRST_PAGE;
    let first = true;
    try {
      do {
        const page = await get(`/api/v1/runs${query({ experiment_id: id, filter: s.filter, page_size: size, page_token: token })}`);
        if (first) await ready; // the page's elements exist once the experiment is read
        if (s.closed || generation !== s.generation) return;
        if (first) {
          s.runs = [];
          s.byId = new Map();
          s.keys = new Keys();
          showFilterError(null);
          grid.el.scrollTop = 0;
        }
        first = false;
        for (const raw of page.items) {
          if (s.byId.has(raw.id)) continue;
          const run = prepare(raw);
          s.byId.set(run.id, run);
          s.keys.add(run);
          s.runs.push(run);
        }
        token = page.next_page_token || "";
        size = PAGE;
        s.loading = Boolean(token);
        resort();
        rowsChanged();
      } while (token);
    } catch (error) {
      if (first) await ready;
      if (s.closed || generation !== s.generation) return;
      s.loading = false;
      showFilterError(error);
      rowsChanged();
    }
  }

  function reload() {
    state.generation += 1;
    load(state, state.generation);
    showCount();
  }

  function showFilterError(error) {
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", "runs-filter-help");
    if (!error) {
      filterError.hidden = true;
      filterError.replaceChildren();
      return;
    }
    const message = error instanceof ApiError ? error.message : String(error.message || error);
    const at = /\(at character (\d+): '(.*)'\)\s*$/s.exec(message);
    const parts = [h("p", { class: "rt-filter-message" }, message.replace(/\s*\(at character \d+: '.*'\)\s*$/s, ""))];
    if (at && error instanceof ApiError && error.status === 400) {
      const chars = Array.from(state.filter);
      const pos = Math.min(Number(at[1]), chars.length);
      const tokenLen = Math.max(1, Array.from(at[2]).length);
      const before = chars.slice(0, pos).join("");
      const token = chars.slice(pos, pos + tokenLen).join("") || " ";
      const after = chars.slice(pos + tokenLen).join("");
      parts.push(
        h("p", { class: "rt-filter-where" }, `At character ${pos + 1}:`),
        h("pre", { class: "rt-filter-pos", id: "runs-filter-pos" }, before, h("mark", {}, token), after),
      );
      input.setSelectionRange(before.length, before.length + (token === " " ? 0 : token.length));
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    filterError.replaceChildren(h("div", { class: "error", role: "alert" }, parts));
    filterError.hidden = false;
    input.setAttribute("aria-describedby", "runs-filter-help runs-filter-error");
  }

  // Live: new runs, status changes and metric updates re-read the touched runs, at most once
  // a second, through the same filter (a run whose metrics leave the filter leaves the table).
  const pending = new Set();
  let timer = null;
  const flush = async () => {
    timer = null;
    if (state.closed || !pending.size) return;
    const ids = [...pending];
    pending.clear();
    const generation = state.generation;
    const only = `attributes.run_id IN (${ids.map((rid) => `'${rid.replace(/'/g, "''")}'`).join(", ")})`;
    const filter = state.filter ? `(${state.filter}) AND ${only}` : only;
    try {
      const page = await get(`/api/v1/runs${query({ experiment_id: id, filter, page_size: PAGE })}`);
      if (!state.closed && generation === state.generation) upsert(page.items, ids);
    } catch (error) {
      console.warn("live re-read failed", error);
    }
  };
  let lastFlush = 0;
  const touch = (runId) => {
    pending.add(runId);
    if (timer) return;
    // The first event is read at once, then at most once a second.
    timer = setTimeout(() => {
      lastFlush = Date.now();
      flush();
    }, Math.max(0, lastFlush + LIVE_EVERY - Date.now()));
  };
  const stopFollowing = follow(`/api/v1/experiments/${encodeURIComponent(id)}/stream`, (event) => {
    if (event.type === "run_status") {
      const run = state.byId.get(event.run_id);
      if (run) {
        run.status = event.status;
        if (event.ended_at !== undefined) run._end = event.ended_at ? Date.parse(event.ended_at) : null;
        grid.render(true);
      }
      touch(event.run_id);
    } else if (event.type === "run_created" || event.type === "metrics") {
      touch(event.run_id);
    } else if (event.type === "reset") {
      reload();
    }
  });
  // Running runs' durations grow.
  const ticker = setInterval(() => {
    if (state.runs.some((r) => r.status === "running")) grid.render(true);
  }, 5000);

  columnsChanged();
  selectionChanged();
  readyDone();

  return () => {
    state.closed = true;
    stopFollowing();
    clearTimeout(timer);
    clearInterval(ticker);
    grid.destroy();
  };
}

function parseSort(text) {
  if (!text) return null;
  return text.startsWith("-") ? { id: text.slice(1), desc: true } : { id: text, desc: false };
}

// Pinned columns in the URL: absent means the default (the name), `none` means nothing.
function decodePin(text) {
  if (text === null) return ["name"];
  return text === "none" ? [] : decodeList(text);
}

function encodePin(ids) {
  if (ids.length === 1 && ids[0] === "name") return null;
  return ids.length ? encodeList(ids) : "none";
}
