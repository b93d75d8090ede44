// Compare runs (`#/compare?runs=a,b,c`): overlaid metric charts (optionally one mean line and
// min–max band per value of a param), the params side by side with the differences marked,
// and a scatter and parallel coordinates drawn by the server (the same chart definitions
// "Save as chart" stores, so a chart saved here is the one the API exports). The URL holds
// the runs, the chart options, the grouping (`group`), `diff=1`, and the chosen axes.

import { all, ApiError, follow, get, millis, post } from "../api.js";
import { current, errorBox, go, setQuery } from "../app.js";
import { chartControls, chartSettings, color, lineChart } from "../chart.js";
import { fill, h, heading, num, status } from "../dom.js";

const enc = encodeURIComponent;
const X_AXIS_API = { step: "step", time: "time", relative: "relative_time" };
const show = (v) => (v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));

export async function render(main, _params, q) {
  const ids = [...new Set((q.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))];
  document.title = "Compare runs · ETS";
  if (!ids.length) {
    fill(main, heading("Compare runs"), h("p", {}, "No run chosen. Select runs in an experiment's runs table and choose Compare, or open ", h("code", {}, "#/compare?runs=ID,ID"), "."));
    return;
  }
  const answers = await Promise.allSettled(ids.map((id) => get(`/api/v1/runs/${enc(id)}`)));
  const runs = answers.filter((a) => a.status === "fulfilled").map((a) => a.value);
  const missing = answers.map((a, i) => (a.status === "rejected" ? `${ids[i]}: ${a.reason.message}` : null)).filter(Boolean);
  if (!runs.length) throw answers[0].reason;
  runs.forEach((r, i) => (r.color = color(i)));
  const runIds = runs.map((r) => r.id);
  const cleanups = [];

  const setRuns = (list) => go("/compare", { ...Object.fromEntries(current().query), runs: list.join(",") });
  const chips = runs.map((r) =>
    h(
      "li",
      { class: "run-chip" },
      swatch(r.color),
      h("a", { href: `#/runs/${enc(r.id)}` }, r.name),
      h("span", { class: "chip-status", dataset: { run: r.id } }, status(r.status)),
      runs.length > 1 ? h("button", { type: "button", class: "link", "aria-label": `Remove ${r.name} from the comparison`, onclick: () => setRuns(runIds.filter((id) => id !== r.id)) }, "remove") : null,
    ),
  );
  const adder = addRunPicker(runs, (id) => setRuns([...runIds, id]));

  // ---- metrics -------------------------------------------------------------------------
  const keySets = runs.map((r) => new Set(r.metrics.map((m) => m.key)));
  const allKeys = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort();
  const common = allKeys.filter((k) => keySets.every((s) => s.has(k)));
  const paramNames = [...new Set(runs.flatMap((r) => Object.keys(r.params || {})))].sort();
  let settings = chartSettings(q);
  let group = paramNames.includes(q.get("group")) ? q.get("group") : "";
  const charts = new Map();
  const grid = h("div", { class: "grid metric-grid", id: "compare-charts" });
  const seen = new IntersectionObserver(
    (items) => {
      for (const item of items) {
        const entry = item.isIntersecting && charts.get(item.target.dataset.key);
        if (entry && !entry.chart) createChart(entry);
      }
    },
    { rootMargin: "300px" },
  );
  cleanups.push(() => seen.disconnect(), () => charts.forEach((c) => c.chart && c.chart.destroy()));

  function groups() {
    if (!group) return null;
    const byValue = new Map();
    runs.forEach((r, i) => {
      const value = show(r.params?.[group]) || "(none)";
      if (!byValue.has(value)) byValue.set(value, []);
      byValue.get(value).push(i);
    });
    return [...byValue.entries()].map(([value, members], i) => ({ label: `${group} = ${value} (${members.length} run${members.length === 1 ? "" : "s"})`, color: color(i), members }));
  }
  function createChart(entry) {
    if (entry.chart) entry.chart.destroy();
    const series = runs.map((r) => ({ label: r.name, key: entry.key, runId: r.id, color: r.color, start: millis(r.started_at) || millis(r.created_at) }));
    entry.chart = lineChart(entry.plot, { title: entry.key, series, groups: groups(), ...settings });
  }
  for (const key of common) {
    const plot = h("div", { class: "chart-box" });
    const saved = h("span", { class: "saved" });
    const save = h("button", { type: "button", class: "secondary", onclick: () => saveChart(lineDefinition(key), saved) }, "Save as chart");
    const card = h("section", { class: "card metric-card", dataset: { key }, "aria-label": `Metric ${key}` }, h("div", { class: "card-head" }, h("h3", {}, key), save, saved), plot);
    charts.set(key, { key, card, plot, chart: null });
    grid.append(card);
    seen.observe(card);
  }
  function lineDefinition(key) {
    const def = { name: `${key} of ${runs.length} runs`, type: "line", run_ids: runIds, metrics: [key], x_axis: X_AXIS_API[settings.xAxis], smoothing: settings.smoothing, log_y: settings.logY };
    if (group) Object.assign(def, { group_by: `params.${group}`, band: "min_max", group_aggregate: "mean" });
    return def;
  }
  const controls = chartControls(settings, setQuery, (next) => {
    settings = next;
    for (const c of charts.values()) if (c.chart) c.chart.setOptions(next);
  });
  const groupSelect = h(
    "select",
    {
      id: "compare-group",
      onchange: () => {
        group = groupSelect.value;
        setQuery({ group });
        for (const c of charts.values()) if (c.chart) createChart(c);
      },
    },
    h("option", { value: "" }, "each run"),
    paramNames.map((p) => h("option", { value: p, selected: p === group }, `params.${p} (mean, min–max band)`)),
  );
  const others = allKeys.filter((k) => !common.includes(k));

  // ---- params --------------------------------------------------------------------------
  const onlyDiff = h("input", { id: "only-diff", type: "checkbox", checked: q.get("diff") === "1", onchange: () => drawParams() });
  const paramBox = h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Params of the compared runs" });
  const differs = (name) => new Set(runs.map((r) => show(r.params?.[name]))).size > 1;
  function drawParams() {
    setQuery({ diff: onlyDiff.checked ? "1" : null });
    const names = paramNames.filter((p) => !onlyDiff.checked || differs(p));
    fill(
      paramBox,
      h(
        "table",
        { class: "list compare-table", id: "param-diff" },
        h("caption", { class: "sr-only" }, "Params by run; rows whose values differ are marked"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Param"), runs.map((r) => h("th", { scope: "col" }, swatch(r.color), r.name)))),
        h(
          "tbody",
          {},
          names.length
            ? names.map((p) => {
                const d = differs(p);
                return h("tr", { class: d ? "diff" : null, dataset: { param: p } }, h("th", { scope: "row" }, p, d ? h("span", { class: "sr-only" }, " (differs)") : null), runs.map((r) => h("td", {}, show(r.params?.[p]))));
              })
            : h("tr", {}, h("td", { colspan: String(runs.length + 1), class: "muted" }, onlyDiff.checked ? "Every param is the same in these runs." : "No params.")),
        ),
      ),
    );
  }
  drawParams();
  const metricTable = h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Metrics of the compared runs" },
    h(
      "table",
      { class: "list compare-table", id: "metric-diff" },
      h("caption", { class: "sr-only" }, "Last value (min – max) of each metric by run"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Metric"), runs.map((r) => h("th", { scope: "col" }, r.name)))),
      h(
        "tbody",
        {},
        allKeys.map((k) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, k),
            runs.map((r) => {
              const m = r.metrics.find((x) => x.key === k);
              return h("td", {}, m ? [num(m.last_value), h("span", { class: "muted" }, ` (${num(m.min)} – ${num(m.max)})`)] : "");
            }),
          ),
        ),
      ),
    ),
  );

  // ---- server-drawn scatter and parallel coordinates ------------------------------------
  const urls = [];
  cleanups.push(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const numericParams = paramNames.filter((p) => runs.some((r) => Number.isFinite(Number(r.params?.[p]))));
  const xChoices = numericParams.length ? numericParams : paramNames;
  const scatterX = choice("scatter-x", xChoices, q.get("sx") || xChoices.find((p) => differs(p)));
  const scatterY = choice("scatter-y", allKeys, q.get("sy"));
  const scatterAgg = choice("scatter-agg", ["last", "min", "max", "mean"], q.get("agg"));
  const pcMetric = choice("pc-metric", allKeys, q.get("pm"));
  const scatter = svgChart("scatter", () => {
    setQuery({ sx: scatterX.value, sy: scatterY.value, agg: scatterAgg.value === "last" ? null : scatterAgg.value });
    if (!scatterX.value || !scatterY.value) return null;
    return {
      def: { name: `${scatterY.value} vs ${scatterX.value}`, type: "scatter", run_ids: runIds, x: `params.${scatterX.value}`, metrics: [scatterY.value], aggregate: scatterAgg.value },
      alt: `Scatter plot of the ${scatterAgg.value} value of ${scatterY.value} against params.${scatterX.value} for ${runs.length} runs; the values are in the table below.`,
      table: dataTable(`${scatterY.value} vs ${scatterX.value}`, [scatterX.value], [scatterY.value]),
    };
  });
  const axesParams = () => {
    const d = paramNames.filter(differs);
    return (d.length ? d : paramNames).slice(0, 8);
  };
  const parallel = svgChart("parallel", () => {
    setQuery({ pm: pcMetric.value });
    const params = axesParams();
    if (!pcMetric.value || !params.length) return null;
    return {
      def: { name: `Parallel coordinates: ${params.join(", ")} → ${pcMetric.value}`, type: "parallel_coordinates", run_ids: runIds, params, metrics: [pcMetric.value] },
      alt: `Parallel coordinates of ${runs.length} runs: one axis per param (${params.join(", ")}) then ${pcMetric.value}, one line per run coloured by ${pcMetric.value}; the values are in the table below.`,
      table: dataTable("parallel coordinates", params, [pcMetric.value]),
    };
  });
  for (const el of [scatterX, scatterY, scatterAgg]) el.addEventListener("change", () => scatter.draw());
  pcMetric.addEventListener("change", () => parallel.draw());

  function dataTable(what, params, metrics) {
    return h(
      "details",
      { class: "chart-data" },
      h("summary", {}, `Data of the ${what} chart`),
      h(
        "table",
        { class: "list" },
        h("caption", { class: "sr-only" }, `Values plotted in the ${what} chart`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Run"), params.map((p) => h("th", { scope: "col" }, `params.${p}`)), metrics.map((m) => h("th", { scope: "col" }, `${m} (last)`)))),
        h(
          "tbody",
          {},
          runs.map((r) => h("tr", {}, h("th", { scope: "row" }, r.name), params.map((p) => h("td", {}, show(r.params?.[p]))), metrics.map((m) => h("td", {}, num(r.metrics.find((x) => x.key === m)?.last_value))))),
        ),
      ),
    );
  }

  function svgChart(id, definition) {
    const figure = h("figure", { class: "card svg-chart", id: `${id}-chart` });
    const saved = h("span", { class: "saved" });
    let current = null;
    let token = 0;
    async function draw() {
      const mine = ++token;
      current = definition();
      if (!current) {
        fill(figure, h("p", { class: "muted" }, "Not enough params or metrics for this chart."));
        return;
      }
      const width = Math.max(400, Math.min(1200, Math.round(figure.clientWidth || 800) - 24));
      fill(figure, h("p", { class: "muted" }, "Drawing…"));
      try {
        const blob = await previewSvg(current.def, width, Math.round(width * 0.55));
        if (mine !== token) return;
        const url = URL.createObjectURL(blob);
        urls.push(url);
        const img = h("img", { src: url, alt: current.alt, width: String(width), height: String(Math.round(width * 0.55)) });
        fill(
          figure,
          img,
          h("figcaption", {}, current.def.name, " ", h("button", { type: "button", class: "secondary", onclick: () => saveChart(current.def, saved) }, "Save as chart"), " ", saved),
          current.table,
        );
        figure.dataset.state = "ready";
      } catch (error) {
        if (mine === token) fill(figure, errorBox(error));
      }
    }
    return { figure, draw };
  }

  // ---- live: the experiments' streams say which series grew ------------------------------
  const experiments = [...new Set(runs.map((r) => r.experiment_id))].slice(0, 3);
  for (const e of experiments) {
    cleanups.push(
      follow(`/api/v1/experiments/${enc(e)}/stream`, (event) => {
        if (!runIds.includes(event.run_id)) return;
        if (event.type === "metrics") {
          for (const m of event.metrics) {
            const c = charts.get(m.key);
            if (!c || !c.chart) continue;
            if (!event.truncated && m.points) c.chart.append(event.run_id, m.key, m.points);
            else {
              // Experiment streams carry no points: show the newest at once, then read the series.
              c.chart.append(event.run_id, m.key, [{ step: m.last_step, timestamp: m.last_timestamp, value: m.last_value }]);
              c.chart.refresh(event.run_id, m.key);
            }
          }
        } else if (event.type === "run_status") {
          const el = main.querySelector(`.chip-status[data-run="${CSS.escape(event.run_id)}"]`);
          if (el) fill(el, status(event.status));
        }
      }),
    );
  }

  fill(
    main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Projects"), " / Compare"),
    heading(`Compare ${runs.length} run${runs.length === 1 ? "" : "s"}`),
    missing.length ? errorBox(new Error(`Some runs could not be read:\n${missing.join("\n")}`)) : null,
    h("ul", { class: "run-chips", "aria-label": "Compared runs" }, chips),
    adder,
    h(
      "section",
      { "aria-labelledby": "h-cmp-metrics" },
      h("h2", { id: "h-cmp-metrics" }, "Metrics"),
      h("div", { class: "toolbar" }, controls, h("label", { for: "compare-group" }, "Lines for "), groupSelect),
      common.length ? grid : h("p", { class: "muted" }, "These runs have no metric key in common."),
      others.length ? h("p", { class: "muted" }, `Not in every run (not charted): ${others.join(", ")}`) : null,
    ),
    h(
      "section",
      { "aria-labelledby": "h-cmp-params" },
      h("h2", { id: "h-cmp-params" }, "Params"),
      h("div", { class: "toolbar" }, h("label", { class: "check" }, onlyDiff, " Only differences")),
      paramBox,
      h("h3", {}, "Metrics (last value, min – max)"),
      metricTable,
    ),
    h(
      "section",
      { "aria-labelledby": "h-cmp-scatter" },
      h("h2", { id: "h-cmp-scatter" }, "Param vs metric"),
      h("div", { class: "toolbar" }, h("label", { for: "scatter-x" }, "Param "), scatterX, h("label", { for: "scatter-y" }, "Metric "), scatterY, h("label", { for: "scatter-agg" }, "Value "), scatterAgg),
      scatter.figure,
    ),
    h(
      "section",
      { "aria-labelledby": "h-cmp-parallel" },
      h("h2", { id: "h-cmp-parallel" }, "Parallel coordinates"),
      h("div", { class: "toolbar" }, h("label", { for: "pc-metric" }, "Metric "), pcMetric, h("span", { class: "muted" }, `axes: ${axesParams().join(", ") || "no param"}`)),
      parallel.figure,
    ),
  );
  // Charts in view start now rather than when the observer first reports.
  for (const c of charts.values()) if (!c.chart && c.card.getBoundingClientRect().top < innerHeight + 300) createChart(c);

  // The server-drawn charts and the run picker wait for the line charts' series (or 1.5 s):
  // they share the browser's six connections and the server's cores with them.
  let later = false;
  const rest = () => {
    if (later) return;
    later = true;
    scatter.draw();
    parallel.draw();
    adder.load();
  };
  const firstChart = () => [...charts.values()].find((c) => c.chart)?.chart.ready;
  const timer = setTimeout(rest, 1500);
  cleanups.push(() => clearTimeout(timer));
  (firstChart() || Promise.resolve()).then(rest);
  return () => cleanups.forEach((f) => f());
}

function swatch(c) {
  const el = h("span", { class: "chart-swatch", "aria-hidden": "true" });
  el.style.background = c;
  return el;
}

function choice(id, values, selected) {
  return h("select", { id }, values.map((v) => h("option", { value: v, selected: v === selected }, v)));
}

/** A chart definition drawn by the server as SVG (nothing saved). */
async function previewSvg(def, width, height) {
  const response = await fetch(`/api/v1/visualizations/preview?format=svg&width=${width}&height=${height}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "image/svg+xml" },
    body: JSON.stringify(def),
  });
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || `the preview answered ${response.status}`, error.details);
  }
  return new Blob([await response.arrayBuffer()], { type: "image/svg+xml" });
}

/** Saves `def` as a chart and links to it (the page and the API's export of it). */
async function saveChart(def, target) {
  fill(target, "Saving…");
  try {
    const chart = await post("/api/v1/visualizations/charts", def);
    fill(target, "Saved: ", h("a", { href: `#/charts/${enc(chart.id)}` }, chart.name), " (", h("a", { href: `/api/v1/visualizations/charts/${enc(chart.id)}` }, "JSON"), ")");
  } catch (error) {
    fill(target, errorBox(error));
  }
}

/** A select of other runs of the compared runs' experiment, to add one. */
function addRunPicker(runs, add) {
  const select = h("select", { id: "add-run" }, h("option", { value: "" }, "Loading runs…"));
  const button = h("button", { type: "button", class: "secondary", onclick: () => select.value && add(select.value) }, "Add");
  const have = new Set(runs.map((r) => r.id));
  const element = h("div", { class: "toolbar" }, h("label", { for: "add-run" }, "Add a run "), select, button);
  element.load = () =>
    all("/api/v1/runs", { experiment_id: runs[0].experiment_id, sort: "-created_at" }, 1000)
      .then((list) => {
        const others = list.filter((r) => !have.has(r.id));
        fill(select, h("option", { value: "" }, others.length ? "choose a run" : "no other run in this experiment"), others.map((r) => h("option", { value: r.id }, r.name)));
      })
      .catch(() => fill(select, h("option", { value: "" }, "runs could not be listed")));
  return element;
}
