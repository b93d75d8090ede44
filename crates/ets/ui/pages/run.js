// A run: overview, params and tags, one chart per metric key, the artifact browser, all kept
// live from the run's event stream. The URL holds the chart options (`x`, `smooth`, `logy`),
// the metric filter (`mf`), the artifact folder (`dir`) and the previewed file (`file`).

import { follow, get, millis } from "../api.js";
import { errorBox, setQuery } from "../app.js";
import { chartControls, chartSettings, lineChart } from "../chart.js";
import { duration, fill, h, heading, num, status, time } from "../dom.js";

const enc = encodeURIComponent;
const SOURCE_TAGS = /^mlflow\.(user|source\.|runName|parentRunId|gitRepoURL)|^ets\.(user|source)/;

export async function render(main, [id], q) {
  let run = await get(`/api/v1/runs/${enc(id)}`);
  const [experiment, project] = await Promise.all([
    get(`/api/v1/experiments/${enc(run.experiment_id)}`).catch(() => null),
    get(`/api/v1/projects/${enc(run.project_id)}`).catch(() => null),
  ]);
  const cleanups = [];
  let settings = chartSettings(q);

  const badge = h("span", { id: "run-status", "aria-live": "polite" }, status(run.status));
  const overview = h("table", { class: "kv", id: "run-overview" });
  const drawOverview = () => fill(overview, h("caption", { class: "sr-only" }, "Overview"), h("tbody", {}, overviewRows(run, experiment, project)));
  drawOverview();
  const ticker = setInterval(() => run.status === "running" && drawOverview(), 5000);
  cleanups.push(() => clearInterval(ticker));

  // ---- metric charts -------------------------------------------------------------------
  const charts = new Map(); // key → {card, chart (once visible), summary element}
  const grid = h("div", { class: "grid metric-grid", id: "run-charts" });
  const noMetrics = h("p", { class: "muted" }, "No metric logged yet.");
  const filter = h("input", { id: "metric-filter", type: "search", value: q.get("mf") || "", placeholder: "loss, val/", oninput: () => applyFilter() });
  const start = (entry) => {
    if (entry.chart) return;
    entry.chart = lineChart(entry.plot, { title: entry.key, series: [{ label: run.name, key: entry.key, runId: run.id, color: null, start: millis(run.started_at) || millis(run.created_at) }], ...settings });
    seen.unobserve(entry.card);
  };
  const seen = new IntersectionObserver(
    (items) => {
      for (const item of items) {
        const entry = item.isIntersecting && charts.get(item.target.dataset.key);
        if (entry) start(entry);
      }
    },
    { rootMargin: "300px" },
  );
  cleanups.push(() => seen.disconnect());
  cleanups.push(() => charts.forEach((c) => c.chart && c.chart.destroy()));

  const summaryText = (m) => (m ? `last ${num(m.last_value)} at step ${num(m.last_step)} · min ${num(m.min)} · max ${num(m.max)} · ${num(m.count)} points` : "");
  function addChart(key, summary) {
    const plot = h("div", { class: "chart-box" });
    const info = h("p", { class: "muted metric-summary" }, summaryText(summary));
    const card = h("section", { class: "card metric-card", dataset: { key }, "aria-label": `Metric ${key}` }, h("h3", {}, key), info, plot);
    const entry = { key, card, plot, info, summary, chart: null };
    charts.set(key, entry);
    const after = [...grid.children].find((c) => c.dataset.key > key);
    grid.insertBefore(card, after || null);
    noMetrics.hidden = true;
    seen.observe(card);
    applyFilter();
    return entry;
  }
  function applyFilter() {
    const text = filter.value.trim().toLowerCase();
    setQuery({ mf: text });
    for (const c of charts.values()) c.card.hidden = Boolean(text) && !c.key.toLowerCase().includes(text);
  }
  for (const m of [...run.metrics].sort((a, b) => (a.key < b.key ? -1 : 1))) addChart(m.key, m);
  noMetrics.hidden = charts.size > 0;
  const controls = chartControls(settings, setQuery, (next) => {
    settings = next;
    for (const c of charts.values()) if (c.chart) c.chart.setOptions(next);
  });

  // ---- artifacts -----------------------------------------------------------------------
  const artifacts = artifactBrowser(run.id, q);
  cleanups.push(artifacts.stop);

  // ---- live ----------------------------------------------------------------------------
  const onEvent = async (event) => {
    if (event.type === "metrics") {
      for (const m of event.metrics) {
        let entry = charts.get(m.key);
        if (!entry) {
          entry = addChart(m.key, null);
          continue; // its chart reads the whole series when it appears
        }
        const s = entry.summary || { key: m.key, count: 0, min: m.min, max: m.max };
        entry.summary = {
          ...s,
          last_value: m.last_value,
          last_step: Math.max(m.last_step, s.last_step ?? m.last_step),
          count: s.count + m.count,
          min: m.min === null || m.min === undefined ? s.min : Math.min(m.min, s.min ?? m.min),
          max: m.max === null || m.max === undefined ? s.max : Math.max(m.max, s.max ?? m.max),
        };
        entry.info.textContent = summaryText(entry.summary);
        if (!entry.chart) continue;
        if (event.truncated || !m.points) {
          entry.chart.append(run.id, m.key, [{ step: m.last_step, timestamp: m.last_timestamp, value: m.last_value }]);
          entry.chart.refresh(run.id, m.key);
        } else entry.chart.append(run.id, m.key, m.points);
      }
    } else if (event.type === "run_status") {
      run = { ...run, status: event.status, ended_at: event.ended_at ?? run.ended_at };
      fill(badge, status(run.status));
      drawOverview();
    } else if (event.type === "reset") {
      run = await get(`/api/v1/runs/${enc(run.id)}`);
      fill(badge, status(run.status));
      drawOverview();
      for (const m of run.metrics) if (!charts.has(m.key)) addChart(m.key, m);
      for (const c of charts.values()) if (c.chart) c.chart.refresh(run.id);
    }
  };
  cleanups.push(follow(`/api/v1/runs/${enc(run.id)}/stream`, (event) => onEvent(event).catch((e) => console.warn(e))));

  const crumbs = h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h("a", { href: "#/" }, "Projects"),
    " / ",
    project ? h("a", { href: `#/projects/${enc(project.id)}` }, project.name) : run.project_id,
    " / ",
    experiment ? h("a", { href: `#/experiments/${enc(experiment.id)}` }, experiment.name) : run.experiment_id,
    " / ",
    h("span", { "aria-current": "page" }, run.name),
  );
  fill(
    main,
    crumbs,
    heading(run.name, " ", badge),
    run.description ? h("p", {}, run.description) : null,
    h("div", { class: "toolbar" }, h("a", { href: `#/compare?runs=${enc(run.id)}`, class: "button-link" }, "Compare with…"), experiment ? h("a", { href: `#/experiments/${enc(experiment.id)}` }, "All runs of ", experiment.name) : null),
    h("div", { class: "run-top" }, h("section", { "aria-labelledby": "h-overview" }, h("h2", { id: "h-overview" }, "Overview"), overview), keyValues("Params", "run-params", run.params, true), keyValues("Tags", "run-tags", run.tags, false)),
    h(
      "section",
      { "aria-labelledby": "h-metrics" },
      h("h2", { id: "h-metrics" }, "Metrics"),
      h("div", { class: "toolbar" }, h("label", { for: "metric-filter" }, "Filter metrics "), filter, controls),
      noMetrics,
      grid,
    ),
    artifacts.element,
  );
  applyFilter();
  // Charts in view start now rather than when the observer first reports.
  for (const c of charts.values()) if (!c.card.hidden && c.card.getBoundingClientRect().top < innerHeight + 300) start(c);
  return () => cleanups.forEach((f) => f());
}

function overviewRows(run, experiment, project) {
  const started = millis(run.started_at);
  const ended = millis(run.ended_at);
  const row = (label, ...value) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, ...value));
  const rows = [
    row("Run ID", h("code", {}, run.id)),
    row("Experiment", experiment ? h("a", { href: `#/experiments/${enc(experiment.id)}` }, experiment.name) : "", " ", h("code", {}, run.experiment_id)),
    row("Project", project ? h("a", { href: `#/projects/${enc(project.id)}` }, project.name) : "", " ", h("code", {}, run.project_id)),
    row("Created", time(millis(run.created_at))),
    row("Started", time(started)),
    row("Ended", time(ended) || (run.status === "running" ? "still running" : "")),
    row("Duration", started ? duration((ended || Date.now()) - started) : ""),
  ];
  if (run.owner) rows.push(row("Owner", run.owner));
  if (run.parent_run_id) rows.push(row("Parent run", h("a", { href: `#/runs/${enc(run.parent_run_id)}` }, run.parent_run_id)));
  for (const [key, value] of Object.entries(run.tags || {})) if (SOURCE_TAGS.test(key)) rows.push(row(key.replace(/^(mlflow|ets)\./, ""), String(value)));
  for (const input of run.inputs || []) rows.push(row("Dataset", input.dataset?.name || "", input.dataset?.digest ? h("code", {}, ` ${input.dataset.digest}`) : ""));
  return rows;
}

function keyValues(title, id, values, typed) {
  const entries = Object.entries(values || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const show = (v) => (typed && typeof v !== "string" ? JSON.stringify(v) : String(v));
  return h(
    "section",
    { "aria-labelledby": `h-${id}` },
    h("h2", { id: `h-${id}` }, title, " ", h("span", { class: "muted" }, `(${entries.length})`)),
    entries.length
      ? h(
          "table",
          { class: "list kv-list", id },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
          h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, show(v))))),
        )
      : h("p", { class: "muted" }, `No ${title.toLowerCase()}.`),
  );
}

// ---- artifact browser --------------------------------------------------------------------

const TEXT_EXT = /\.(txt|log|md|yaml|yml|toml|ini|cfg|py|sh|rs|js|ts|html|xml|out|err|conf|env|sql|ipynb)$/i;
const IMAGE_EXT = /\.(png|jpe?g|gif|webp|svg|bmp|avif)$/i;
const PREVIEW_BYTES = 256 * 1024;

function artifactUrl(runId, path) {
  return `/api/v1/runs/${enc(runId)}/artifacts/${path.split("/").map(enc).join("/")}`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function kind(item) {
  const type = (item.content_type || "").toLowerCase();
  const path = item.path.toLowerCase();
  if (type.startsWith("image/") || IMAGE_EXT.test(path)) return "image";
  if (type.includes("json") || path.endsWith(".json") || path.endsWith(".jsonl")) return path.endsWith(".jsonl") ? "text" : "json";
  if (type.includes("csv") || path.endsWith(".csv") || path.endsWith(".tsv")) return "csv";
  if (type.startsWith("text/") || TEXT_EXT.test(path)) return "text";
  return null;
}

/** Reads the start of an artifact (at most `limit` bytes) as text. */
async function readStart(runId, item, limit) {
  const response = await fetch(artifactUrl(runId, item.path), { credentials: "same-origin", headers: item.size > limit ? { range: `bytes=0-${limit - 1}` } : {} });
  if (!response.ok && response.status !== 206) throw new Error(`reading ${item.path} answered ${response.status}`);
  return { text: await response.text(), partial: item.size > limit };
}

/** The rows of a CSV (or TSV) text: quoted fields, doubled quotes, CRLF. */
export function parseCsv(text, maxRows, separator = ",") {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') field += '"', i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === separator) row.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if ((field || row.length) && rows.length < maxRows) rows.push([...row, field]);
  return rows;
}

async function preview(runId, item) {
  const k = kind(item);
  const url = artifactUrl(runId, item.path);
  if (k === "image") return h("img", { src: url, alt: `Preview of ${item.path}`, class: "artifact-image" });
  if (!k) return h("p", { class: "muted" }, "No preview for this type of file; download it.");
  if (k === "json" && item.size <= 4 * 1024 * 1024) {
    const { text } = await readStart(runId, item, item.size + 1);
    try {
      const pretty = JSON.stringify(JSON.parse(text), null, 2);
      const shown = pretty.length > PREVIEW_BYTES ? `${pretty.slice(0, PREVIEW_BYTES)}\n…` : pretty;
      return h("pre", { class: "preview", tabindex: "0", "aria-label": `Content of ${item.path}` }, shown);
    } catch {
      return h("div", {}, h("p", { class: "muted" }, "Not valid JSON; shown as text."), h("pre", { class: "preview", tabindex: "0" }, text.slice(0, PREVIEW_BYTES)));
    }
  }
  const { text, partial } = await readStart(runId, item, PREVIEW_BYTES);
  if (k === "csv") {
    const rows = parseCsv(text, 51, item.path.toLowerCase().endsWith(".tsv") ? "\t" : ",");
    if (partial && rows.length < 51) rows.pop(); // the last row may be cut
    const [head = [], ...body] = rows;
    return h(
      "div",
      { class: "csv-preview", tabindex: "0", role: "region", "aria-label": `First rows of ${item.path}` },
      h(
        "table",
        { class: "list" },
        h("caption", { class: "muted" }, `First ${body.length} rows${partial || rows.length > 50 ? " (more in the file)" : ""}`),
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, body.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
      ),
    );
  }
  return h("div", {}, partial ? h("p", { class: "muted" }, `The first ${bytes(PREVIEW_BYTES)} of ${bytes(item.size)}.`) : null, h("pre", { class: "preview", tabindex: "0", "aria-label": `Content of ${item.path}` }, text));
}

function artifactBrowser(runId, q) {
  let items = [];
  let dir = q.get("dir") || "";
  let open = q.get("file") || "";
  let token = 0;
  const crumbs = h("nav", { class: "artifact-path", "aria-label": "Artifact folder" });
  const body = h("div", { id: "artifact-list" }, h("p", { class: "muted" }, "Loading…"));
  const shown = h("div", { id: "artifact-preview", "aria-live": "polite" });
  const element = h("section", { "aria-labelledby": "h-artifacts", class: "artifacts" }, h("h2", { id: "h-artifacts" }, "Artifacts"), crumbs, body, shown);

  const goDir = (next) => {
    dir = next;
    setQuery({ dir });
    draw();
  };
  function draw() {
    const parts = dir ? dir.replace(/\/$/, "").split("/") : [];
    fill(
      crumbs,
      h("button", { type: "button", class: "link", onclick: () => goDir(""), "aria-current": parts.length ? null : "location" }, "artifacts"),
      parts.map((p, i) => [" / ", h("button", { type: "button", class: "link", onclick: () => goDir(`${parts.slice(0, i + 1).join("/")}/`), "aria-current": i === parts.length - 1 ? "location" : null }, p)]),
    );
    const folders = new Map();
    const files = [];
    for (const item of items) {
      if (!item.path.startsWith(dir)) continue;
      const rest = item.path.slice(dir.length);
      const slash = rest.indexOf("/");
      if (slash < 0) files.push(item);
      else {
        const name = rest.slice(0, slash);
        const f = folders.get(name) || { size: 0, count: 0 };
        f.size += item.size;
        f.count++;
        folders.set(name, f);
      }
    }
    if (!items.length) return fill(body, h("p", { class: "muted" }, "No artifact."));
    fill(
      body,
      h(
        "table",
        { class: "list artifact-table" },
        h("caption", { class: "sr-only" }, `Artifacts in ${dir || "the run's root folder"}`),
        h("thead", {}, h("tr", {}, ["Name", "Size", "Type", "Created", "Download"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          [...folders.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, f]) =>
            h("tr", { class: "folder" }, h("td", {}, h("button", { type: "button", class: "link", onclick: () => goDir(`${dir}${name}/`) }, `${name}/`)), h("td", {}, bytes(f.size)), h("td", { class: "muted" }, `folder, ${f.count} file${f.count === 1 ? "" : "s"}`), h("td", {}), h("td", {})),
          ),
          files.sort((a, b) => (a.path < b.path ? -1 : 1)).map((item) => {
            const name = item.path.slice(dir.length);
            return h(
              "tr",
              { class: item.path === open ? "selected" : null },
              h("td", {}, h("button", { type: "button", class: "link artifact-open", "aria-label": `Preview ${name}`, onclick: () => show(item) }, name)),
              h("td", {}, bytes(item.size)),
              h("td", { class: "muted" }, item.content_type || ""),
              h("td", {}, time(millis(item.created_at))),
              h("td", {}, h("a", { href: artifactUrl(runId, item.path), download: name.split("/").pop(), "aria-label": `Download ${name}` }, "Download")),
            );
          }),
        ),
      ),
    );
  }
  async function show(item) {
    const mine = ++token;
    open = item.path;
    setQuery({ file: open });
    draw();
    fill(shown, h("h3", {}, item.path), h("p", { class: "muted" }, "Loading…"));
    try {
      const content = await preview(runId, item);
      if (mine !== token) return;
      fill(
        shown,
        h("div", { class: "preview-head" }, h("h3", {}, item.path), h("span", { class: "muted" }, `${bytes(item.size)} · sha256 ${item.sha256.slice(0, 12)}…`), h("a", { href: artifactUrl(runId, item.path), download: item.path.split("/").pop() }, "Download"), h("button", { type: "button", class: "secondary", onclick: close }, "Close preview")),
        content,
      );
    } catch (error) {
      if (mine === token) fill(shown, h("h3", {}, item.path), errorBox(error));
    }
  }
  function close() {
    token++;
    open = "";
    setQuery({ file: null });
    fill(shown);
    draw();
  }
  get(`/api/v1/runs/${enc(runId)}/artifacts`)
    .then((list) => {
      items = list.items || [];
      draw();
      const item = open && items.find((i) => i.path === open);
      if (item) show(item);
    })
    .catch((error) => fill(body, errorBox(error)));
  return { element, stop: () => token++ };
}
