// Line charts of metric series on uPlot (a canvas chart: ~150k points in ~90 ms), fed by the
// API's min/max-preserving downsampling so a chart never fetches more than ~2 points per
// pixel column, whatever the run logged:
//
//   const chart = lineChart(el, {title: "loss", series: [{label, key, runId, color, start}],
//                                xAxis: "step" | "time" | "relative", logY, smoothing});
//   chart.append(runId, key, points)  // live points from a `metrics` event
//   chart.refresh(runId)              // re-read a run's series (a `truncated` event)
//   chart.setOptions({xAxis, logY, smoothing})
//   chart.destroy()
//
// Drag to zoom: the visible step range is fetched again at the resolution the pixels can
// show; double-click (or the "Reset zoom" button) returns to the whole series. A reduced
// series shows its min–max envelope as a faint band. `groups: [{label, color, members}]`
// draws one mean line per group (members are indexes into `series`) with a min–max band.

import { get, query } from "./api.js";
import { h, num } from "./dom.js";

// Readable on the light and the dark background (contrast ≥ 3:1 against both).
export const PALETTE = ["#3574d4", "#d9590b", "#2b8a3e", "#d6336c", "#7d5bd6", "#0e8a8a", "#b8860b", "#e03131", "#868e96", "#be4bdb", "#8f6a00", "#0b7285"];
const DASHES = [null, [6, 3], [2, 3], [8, 3, 2, 3]];

/** The palette colour of the i-th run (dashes tell apart runs past the palette's length). */
export function color(i) {
  return PALETTE[i % PALETTE.length];
}

function dashOf(i) {
  return DASHES[Math.floor(i / PALETTE.length) % DASHES.length];
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** The API path of one metric series (keys may hold `/`, e.g. `train/loss`). */
export function seriesPath(runId, key) {
  return `/api/v1/runs/${encodeURIComponent(runId)}/metrics/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** Exponential moving average with TensorBoard's debiasing; nulls stay gaps. */
export function ema(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

function formatDuration(seconds) {
  const s = Math.round(Math.abs(seconds));
  const sign = seconds < 0 ? "-" : "";
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return hh ? `${sign}${hh}:${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}` : `${sign}${mm}:${String(ss).padStart(2, "0")}`;
}

const X_LABEL = { step: "step", time: "time", relative: "time since start" };

/** Index of the last x ≤ value in a sorted array (-1 when none). */
function floorIndex(xs, value) {
  let lo = 0;
  let hi = xs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= value) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Value of (xs, ys) nearest to x, skipping gaps. */
function nearest(xs, ys, x) {
  if (!xs.length) return null;
  let i = floorIndex(xs, x);
  if (i < 0) i = 0;
  if (i + 1 < xs.length && Math.abs(xs[i + 1] - x) < Math.abs(x - xs[i])) i++;
  for (let d = 0; d < 50; d++) {
    if (i - d >= 0 && ys[i - d] !== null && ys[i - d] !== undefined) return [xs[i - d], ys[i - d]];
    if (i + d < ys.length && ys[i + d] !== null && ys[i + d] !== undefined) return [xs[i + d], ys[i + d]];
  }
  return null;
}

/**
 * A reduced series snapped to a grid of pixel columns shared by every curve of the chart:
 * each column keeps its lowest and highest value (in their order), placed at a quarter and
 * three quarters of the column, and its min–max envelope for the band. The server keeps each
 * bucket's min and max but does not say which bucket a point came from, so the columns are
 * ours; sharing them keeps the joined table at ~2 rows per pixel however many runs are drawn
 * (each run's own steps would make the union of x values grow with the number of runs).
 */
function snap(xs, ys, grid) {
  const { x0, width, columns } = grid;
  const dx = width / columns;
  const outX = [];
  const outY = [];
  const lo = [];
  const hi = [];
  let i = 0;
  while (i < xs.length) {
    const col = Math.min(columns - 1, Math.max(0, Math.floor((xs[i] - x0) / dx)));
    let min = null;
    let max = null;
    let minAt = 0;
    let maxAt = 0;
    for (; i < xs.length && Math.min(columns - 1, Math.max(0, Math.floor((xs[i] - x0) / dx))) === col; i++) {
      const v = ys[i];
      if (v === null) continue;
      if (min === null || v < min) (min = v), (minAt = i);
      if (max === null || v > max) (max = v), (maxAt = i);
    }
    const left = x0 + (col + 0.25) * dx;
    const right = x0 + (col + 0.75) * dx;
    if (min === null) {
      outX.push(left), outY.push(null), lo.push(null), hi.push(null);
    } else if (min === max) {
      outX.push(left), outY.push(min), lo.push(min), hi.push(max);
    } else {
      const [a, b] = minAt <= maxAt ? [min, max] : [max, min];
      outX.push(left, right), outY.push(a, b), lo.push(min, min), hi.push(max, max);
    }
    // The curve ends on the series' last value (the live one), extreme or not.
    if (i === xs.length && min !== null && Math.max(minAt, maxAt) !== lastDefined(ys)) {
      outX.push(Math.max(right + dx * 0.1, xs[xs.length - 1])), outY.push(ys[lastDefined(ys)]), lo.push(min), hi.push(max);
    }
  }
  return { xs: outX, ys: outY, lo, hi };
}

function lastDefined(ys) {
  let i = ys.length - 1;
  while (i >= 0 && ys[i] === null) i--;
  return i;
}

/** Mean, min and max of several (xs, ys) curves on the union of their x values, each curve
 * interpolated linearly inside its own x range. */
function aggregate(curves) {
  const all = new Set();
  for (const c of curves) for (const x of c.xs) all.add(x);
  const xs = Float64Array.from(all).sort();
  const mean = new Array(xs.length).fill(null);
  const lo = new Array(xs.length).fill(null);
  const hi = new Array(xs.length).fill(null);
  const sums = new Float64Array(xs.length);
  const counts = new Uint32Array(xs.length);
  for (const c of curves) {
    // Only defined points, so interpolation bridges gaps.
    const px = [];
    const py = [];
    for (let i = 0; i < c.xs.length; i++) if (c.ys[i] !== null) px.push(c.xs[i]), py.push(c.ys[i]);
    if (!px.length) continue;
    let j = 0;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (x < px[0] || x > px[px.length - 1]) continue;
      while (j + 1 < px.length && px[j + 1] < x) j++;
      let v = py[j];
      if (px[j] !== x && j + 1 < px.length) {
        const t = (x - px[j]) / (px[j + 1] - px[j]);
        v = py[j] + t * (py[j + 1] - py[j]);
      }
      sums[i] += v;
      counts[i]++;
      if (lo[i] === null || v < lo[i]) lo[i] = v;
      if (hi[i] === null || v > hi[i]) hi[i] = v;
    }
  }
  for (let i = 0; i < xs.length; i++) if (counts[i]) mean[i] = sums[i] / counts[i];
  return { xs: Array.from(xs), ys: mean, lo, hi };
}

/** Merges `points` (ascending steps, as live events carry them) into a point list. */
function merge(list, points) {
  const last = list.length ? list[list.length - 1].step : -Infinity;
  if (points.every((p) => p.step > last)) {
    for (const p of points) list.push(p);
    return;
  }
  const byStep = new Map(list.map((p) => [p.step, p]));
  for (const p of points) byStep.set(p.step, p);
  const sorted = [...byStep.values()].sort((a, b) => a.step - b.step);
  list.length = 0;
  for (const p of sorted) list.push(p);
}

/**
 * Draws a line chart of metric series into `container` and returns its controller.
 * `series`: [{label, key, runId, color?, start? (ms, origin of relative time)}].
 */
export function lineChart(container, options) {
  const opts = { xAxis: "step", logY: false, smoothing: 0, height: 240, title: "", groups: null, ...options };
  const state = opts.series.map((s, i) => ({
    ...s,
    color: s.color || color(i),
    dash: dashOf(i),
    full: null, // {points, downsampled, total}: the whole series as last fetched (+ live points)
    view: null, // the zoomed range's points, or null when showing the whole series
    origin: s.start || null,
    live: null, // the newest point a live event brought
    error: null,
  }));
  const entries = opts.groups
    ? opts.groups.map((g, i) => ({ label: g.label, color: g.color || color(i), dash: dashOf(i), members: g.members, visible: true }))
    : state.map((s, i) => ({ label: s.label, color: s.color, dash: s.dash, members: [i], visible: true }));
  let zoom = null; // {x0, x1} in x units while zoomed
  let plot = null;
  let drawn = null; // per entry: {xs, ys} as drawn, for the hover values
  let destroyed = false;
  let fetchGeneration = 0;
  let frame = 0;
  const refreshTimers = new Map();

  const describe = () => {
    const names = entries.map((e) => e.label);
    const shown = names.length > 6 ? `${names.slice(0, 6).join(", ")} and ${names.length - 6} more` : names.join(", ");
    return `Line chart of ${opts.title || opts.series[0]?.key || "a metric"} against ${X_LABEL[opts.xAxis]}${opts.logY ? " (log scale)" : ""}${opts.smoothing > 0 ? `, smoothed ${opts.smoothing}` : ""}, ${entries.length} ${opts.groups ? "group" : "run"}${entries.length === 1 ? "" : "s"}: ${shown}. Drag across the chart to zoom, double-click to reset.`;
  };
  const plotEl = h("div", { class: "chart-plot", role: "img", "aria-label": describe() });
  const xLabel = h("span", { class: "chart-x" });
  const note = h("span", { class: "chart-note muted" });
  const reset = h("button", { type: "button", class: "secondary chart-reset", hidden: true, onclick: () => resetZoom() }, "Reset zoom");
  const legend = h("ul", { class: "chart-legend", "aria-label": `Legend of ${opts.title || "the chart"}` });
  const legendValues = [];
  entries.forEach((entry, i) => {
    const value = h("span", { class: "chart-value" });
    legendValues.push(value);
    const swatch = h("span", { class: "chart-swatch", "aria-hidden": "true" });
    swatch.style.background = entry.color;
    if (entry.dash) swatch.style.backgroundImage = "linear-gradient(90deg, transparent 50%, var(--bg) 50%)";
    const button = h(
      "button",
      {
        type: "button",
        class: "chart-toggle",
        "aria-pressed": "true",
        title: "Show or hide this curve",
        onclick: () => {
          entry.visible = !entry.visible;
          button.setAttribute("aria-pressed", String(entry.visible));
          legend.children[i].classList.toggle("off", !entry.visible);
          if (plot) for (const idx of entry.columns || []) plot.setSeries(idx, { show: entry.visible });
        },
      },
      swatch,
      h("span", { class: "chart-label" }, entry.label),
    );
    legend.append(h("li", {}, button, value));
  });
  container.classList.add("chart");
  container.dataset.state = "loading";
  container.replaceChildren(plotEl, h("div", { class: "chart-tools" }, xLabel, note, reset), legend);

  const plotWidth = () => Math.max(200, Math.floor(plotEl.clientWidth || container.clientWidth || 600));
  const maxPoints = () => Math.min(100000, Math.max(200, 2 * plotWidth()));

  const xOf = (s, p) => {
    if (opts.xAxis === "time") return p.timestamp / 1000;
    if (opts.xAxis === "relative") return (p.timestamp - (s.origin ?? p.timestamp)) / 1000;
    return p.step;
  };

  async function fetchSeries(s, range) {
    const params = { max_points: maxPoints() };
    if (range) Object.assign(params, { start_step: range[0], end_step: range[1] });
    const answer = await get(seriesPath(s.runId, s.key) + query(params));
    if (s.origin === null && answer.points.length) s.origin = answer.points[0].timestamp;
    const points = answer.points;
    // A reduced answer keeps each bucket's extremes, which may leave out the newest point
    // a live event already showed: keep it.
    const live = s.live;
    if (live && (!range || (live.step >= range[0] && live.step <= range[1])) && !points.some((p) => p.step === live.step)) merge(points, [live]);
    return { points, downsampled: answer.downsampled, total: answer.total_points };
  }

  async function loadAll() {
    const mine = ++fetchGeneration;
    container.dataset.state = "loading";
    const results = await Promise.allSettled(state.map((s) => fetchSeries(s, null)));
    if (destroyed || mine !== fetchGeneration) return;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") state[i].full = r.value;
      else {
        state[i].full = { points: [], downsampled: false, total: 0 };
        state[i].error = r.reason;
      }
    });
    zoom = null;
    draw(true);
  }

  /** Columns of one run's curve: x values, y values (gaps as null), envelope when reduced. */
  function curve(s, grid) {
    const data = s.view || s.full;
    if (!data) return { xs: [], ys: [], lo: null, hi: null };
    let pts = data.points;
    const xs = new Array(pts.length);
    for (let i = 0; i < pts.length; i++) xs[i] = xOf(s, pts[i]);
    // Timestamps are not always in step order; uPlot needs x sorted.
    let sorted = true;
    for (let i = 1; i < xs.length && sorted; i++) if (xs[i] < xs[i - 1]) sorted = false;
    if (!sorted) {
      const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
      pts = order.map((i) => pts[i]);
      for (let i = 0; i < pts.length; i++) xs[i] = xOf(s, pts[i]);
    }
    const ys = new Array(pts.length);
    for (let i = 0; i < pts.length; i++) {
      const v = pts[i].value;
      ys[i] = typeof v === "number" && Number.isFinite(v) && (!opts.logY || v > 0) ? v : null;
    }
    if (data.downsampled && grid) return snap(xs, ys, grid);
    return { xs, ys, lo: null, hi: null };
  }

  /** The pixel columns of the x range every curve covers. */
  function gridOf() {
    let x0 = Infinity;
    let x1 = -Infinity;
    for (const s of state) {
      const pts = (s.view || s.full)?.points;
      if (!pts || !pts.length) continue;
      for (const p of [pts[0], pts[pts.length - 1]]) {
        const x = xOf(s, p);
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
      if (opts.xAxis !== "step") for (const p of pts) x0 = Math.min(x0, xOf(s, p)), (x1 = Math.max(x1, xOf(s, p)));
    }
    return x1 > x0 ? { x0, width: x1 - x0, columns: plotWidth() } : null;
  }

  function build() {
    const grid = gridOf();
    const tables = [];
    const series = [{ label: X_LABEL[opts.xAxis] }];
    const bands = [];
    drawn = [];
    let column = 1;
    const smooth = opts.smoothing > 0;
    entries.forEach((entry) => {
      let c;
      if (opts.groups) {
        const members = entry.members.map((i) => curve(state[i], grid)).filter((m) => m.xs.length);
        const agg = aggregate(members);
        c = { xs: agg.xs, ys: agg.ys, lo: entry.members.length > 1 ? agg.lo : null, hi: entry.members.length > 1 ? agg.hi : null };
      } else c = curve(state[entry.members[0]], grid);
      const sm = smooth ? ema(c.ys, opts.smoothing) : null;
      const cols = [c.ys];
      entry.columns = [column];
      series.push({ label: entry.label, stroke: smooth ? alpha(entry.color, 0.28) : entry.color, width: smooth ? 1 : 1.5, dash: entry.dash, spanGaps: true, points: { show: false }, show: entry.visible });
      column++;
      if (sm) {
        cols.push(sm);
        entry.columns.push(column);
        series.push({ label: `${entry.label} (smoothed)`, stroke: entry.color, width: 1.75, dash: entry.dash, spanGaps: true, points: { show: false }, show: entry.visible });
        column++;
      }
      if (c.lo) {
        cols.push(c.hi, c.lo);
        entry.columns.push(column, column + 1);
        series.push({ label: `${entry.label} max`, stroke: entry.color, width: 0, spanGaps: true, points: { show: false }, show: entry.visible });
        series.push({ label: `${entry.label} min`, stroke: entry.color, width: 0, spanGaps: true, points: { show: false }, show: entry.visible });
        bands.push({ series: [column, column + 1], fill: alpha(entry.color, 0.13) });
        column += 2;
      }
      tables.push([c.xs, ...cols]);
      drawn.push({ xs: c.xs, ys: sm || c.ys });
    });
    const data = tables.length ? uPlot.join(tables) : [[]];
    return { data, series, bands };
  }

  function axisValues() {
    if (opts.xAxis === "relative") return (u, splits) => splits.map(formatDuration);
    if (opts.xAxis === "step") return (u, splits) => splits.map((v) => num(v));
    return undefined;
  }

  function makePlot(built) {
    const axisStroke = () => cssVar("--muted");
    const gridStroke = () => cssVar("--line");
    const config = {
      width: plotWidth(),
      height: opts.height,
      legend: { show: false },
      padding: [8, 12, 0, 4],
      series: built.series,
      bands: built.bands,
      scales: {
        x: { time: opts.xAxis === "time" },
        y: opts.logY ? { distr: 3, log: 10 } : { auto: true },
      },
      axes: [
        { stroke: axisStroke, grid: { stroke: gridStroke, width: 1 }, ticks: { stroke: gridStroke }, values: axisValues() },
        { stroke: axisStroke, grid: { stroke: gridStroke, width: 1 }, ticks: { stroke: gridStroke }, size: 60, values: (u, splits) => splits.map((v) => num(v)) },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        bind: { dblclick: () => () => null },
        points: { show: false },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const x0 = u.posToVal(u.select.left, "x");
            const x1 = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoomTo(x0, x1);
          },
        ],
        setCursor: [(u) => showValues(u.cursor.left >= 0 ? u.posToVal(u.cursor.left, "x") : null)],
      },
    };
    const u = new uPlot(config, built.data, plotEl);
    u.over.addEventListener("dblclick", () => resetZoom());
    return u;
  }

  function showValues(x) {
    if (!drawn) return;
    const at = x === null ? null : x;
    if (at === null) xLabel.textContent = "";
    else xLabel.textContent = `${X_LABEL[opts.xAxis]} ${opts.xAxis === "time" ? new Date(at * 1000).toISOString().replace("T", " ").slice(0, 19) : opts.xAxis === "relative" ? formatDuration(at) : num(Math.round(at))}`;
    drawn.forEach((d, i) => {
      let point;
      if (at === null) {
        // Off the chart: the latest value.
        let j = d.ys.length - 1;
        while (j >= 0 && d.ys[j] === null) j--;
        point = j >= 0 ? [d.xs[j], d.ys[j]] : null;
      } else point = nearest(d.xs, d.ys, at);
      legendValues[i].textContent = point && entries[i].visible ? num(point[1]) : "";
    });
  }

  function updateNote() {
    const reduced = state.filter((s) => (s.view || s.full)?.downsampled);
    const errors = state.filter((s) => s.error);
    const parts = [];
    if (reduced.length) parts.push(`${reduced.length === state.length ? "" : `${reduced.length} of ${state.length} `}reduced to ~2 points per pixel; band: min–max`);
    if (errors.length) parts.push(`${errors.length} series could not be read (${errors[0].error.message})`);
    note.textContent = parts.join(" · ");
  }

  function draw(resetScales) {
    if (destroyed) return;
    const t0 = performance.now();
    const built = build();
    const t1 = performance.now();
    const structure = built.series.length + "/" + built.bands.map((b) => b.series.join()).join(";");
    if (!plot || plot._structure !== structure) {
      const range = zoom;
      if (plot) plot.destroy();
      plot = makePlot(built);
      plot._structure = structure;
      if (range) plot.setScale("x", { min: range.x0, max: range.x1 });
    } else {
      plot.setData(built.data, resetScales);
      if (!resetScales && zoom) plot.setScale("x", { min: zoom.x0, max: zoom.x1 });
    }
    // For benchmarks: how long preparing the columns and drawing took.
    performance.measure("ets-chart-build", { start: t0, end: t1 });
    performance.measure("ets-chart-draw", { start: t1, end: performance.now() });
    if (!zoom) performance.mark("ets-chart-ready", { detail: opts.title });
    const empty = state.every((s) => !(s.view || s.full)?.points.length);
    plotEl.classList.toggle("empty", empty);
    reset.hidden = !zoom;
    updateNote();
    showValues(null);
    container.dataset.state = empty ? "empty" : "ready";
    plotEl.setAttribute("aria-label", describe() + (empty ? " No points yet." : ""));
  }

  function scheduleDraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw(!zoom);
    });
  }

  /** The step range of run `s` that covers x0..x1 (x in the chart's units). */
  function stepRange(s, x0, x1) {
    if (opts.xAxis === "step") return [Math.floor(x0), Math.ceil(x1)];
    const pts = (s.view || s.full)?.points || [];
    if (!pts.length) return null;
    let first = pts[0].step;
    let last = pts[pts.length - 1].step;
    for (const p of pts) {
      const x = xOf(s, p);
      if (x <= x0) first = p.step;
      if (x >= x1) {
        last = p.step;
        break;
      }
    }
    return first <= last ? [first, last] : [last, first];
  }

  async function zoomTo(x0, x1) {
    if (!(x1 > x0)) return;
    const mine = ++fetchGeneration;
    zoom = { x0, x1 };
    plot.setScale("x", { min: x0, max: x1 });
    reset.hidden = false;
    container.dataset.state = "loading";
    const results = await Promise.allSettled(
      state.map((s) => {
        const range = stepRange(s, x0, x1);
        return range ? fetchSeries(s, range) : Promise.resolve({ points: [], downsampled: false, total: 0 });
      }),
    );
    if (destroyed || mine !== fetchGeneration) return;
    results.forEach((r, i) => {
      state[i].view = r.status === "fulfilled" ? r.value : null;
    });
    draw(false);
  }

  function resetZoom() {
    if (!zoom) return;
    fetchGeneration++;
    zoom = null;
    for (const s of state) s.view = null;
    draw(true);
  }

  const ro = new ResizeObserver(() => {
    if (plot && Math.abs(plot.width - plotWidth()) > 2) {
      plot.setSize({ width: plotWidth(), height: opts.height });
    }
  });
  ro.observe(plotEl);
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  const onScheme = () => plot && plot.redraw(false, true);
  scheme.addEventListener("change", onScheme);

  const ready = loadAll().catch((error) => {
    container.dataset.state = "error";
    note.textContent = `Could not read the series: ${error.message}`;
  });

  return {
    ready,
    /** Live points of `key` for run `runId` (`[{step, timestamp, value}]`). */
    append(runId, key, points) {
      let changed = false;
      for (const s of state) {
        if (s.runId !== runId || s.key !== key || !s.full || !points.length) continue;
        const newest = points.reduce((a, b) => (b.step >= a.step ? b : a));
        if (!s.live || newest.step >= s.live.step) s.live = newest;
        merge(s.full.points, points);
        s.full.total += points.length;
        if (s.origin === null && points.length) s.origin = points[0].timestamp;
        if (s.view && zoom) {
          const range = stepRange(s, zoom.x0, zoom.x1);
          const inside = points.filter((p) => range && p.step >= range[0] && p.step <= range[1]);
          if (inside.length) merge(s.view.points, inside);
        }
        // A reduced series that grew by many raw points: read it again, reduced.
        if (s.full.points.length > 4 * plotWidth()) this.refresh(runId, key);
        changed = true;
      }
      if (changed) scheduleDraw();
    },
    /** Reads again the series of run `runId` (all its keys here, or only `key`). */
    refresh(runId, key) {
      for (const s of state) {
        if (s.runId !== runId || (key && s.key !== key)) continue;
        const id = `${s.runId}/${s.key}`;
        if (refreshTimers.has(id)) continue;
        refreshTimers.set(
          id,
          setTimeout(async () => {
            refreshTimers.delete(id);
            try {
              s.full = await fetchSeries(s, null);
              s.error = null;
              if (!destroyed && !zoom) scheduleDraw();
            } catch (error) {
              s.error = error;
            }
          }, 40),
        );
      }
    },
    /** Changes `xAxis`, `logY` or `smoothing`: drawn again from the points already read. */
    setOptions(changes) {
      const axisChanged = changes.xAxis !== undefined && changes.xAxis !== opts.xAxis;
      Object.assign(opts, changes);
      if (axisChanged && zoom) {
        zoom = null;
        for (const s of state) s.view = null;
      }
      if (plot) plot._structure = null;
      if (state.some((s) => s.full)) draw(!zoom);
    },
    /** Whether the chart shows run `runId`'s `key`. */
    has(runId, key) {
      return state.some((s) => s.runId === runId && s.key === key);
    },
    destroy() {
      destroyed = true;
      ro.disconnect();
      scheme.removeEventListener("change", onScheme);
      for (const t of refreshTimers.values()) clearTimeout(t);
      if (frame) cancelAnimationFrame(frame);
      if (plot) plot.destroy();
    },
  };
}

/** Chart settings held in the URL (`x`, `smooth`, `logy`). */
export function chartSettings(q) {
  const x = q.get("x");
  const smoothing = Number(q.get("smooth"));
  return {
    xAxis: ["step", "time", "relative"].includes(x) ? x : "step",
    smoothing: smoothing > 0 && smoothing < 1 ? smoothing : 0,
    logY: q.get("logy") === "1",
  };
}

/**
 * The x-axis, smoothing and log-y controls. `onChange(settings)` after each change; the URL
 * is updated by `save(changes)` (the page's `setQuery`), so a link shows the same charts.
 */
export function chartControls(settings, save, onChange) {
  const current = { ...settings };
  const changed = (changes, url) => {
    Object.assign(current, changes);
    save(url);
    onChange({ ...current });
  };
  const x = h(
    "select",
    { id: "chart-x", onchange: () => changed({ xAxis: x.value }, { x: x.value === "step" ? null : x.value }) },
    [["step", "Step"], ["time", "Wall time"], ["relative", "Relative time"]].map(([value, label]) => h("option", { value, selected: value === current.xAxis }, label)),
  );
  const output = h("output", { for: "chart-smoothing", class: "chart-smoothing-value" }, String(current.smoothing));
  let timer = 0;
  const smooth = h("input", {
    id: "chart-smoothing",
    type: "range",
    min: "0",
    max: "0.99",
    step: "0.01",
    value: String(current.smoothing),
    oninput: () => {
      output.textContent = smooth.value;
      clearTimeout(timer);
      timer = setTimeout(() => changed({ smoothing: Number(smooth.value) }, { smooth: Number(smooth.value) > 0 ? smooth.value : null }), 120);
    },
  });
  const log = h("input", { id: "chart-logy", type: "checkbox", checked: current.logY, onchange: () => changed({ logY: log.checked }, { logy: log.checked ? "1" : null }) });
  return h(
    "div",
    { class: "toolbar chart-controls", role: "group", "aria-label": "Chart options" },
    h("label", { for: "chart-x" }, "X axis "),
    x,
    h("label", { for: "chart-smoothing" }, "Smoothing "),
    smooth,
    output,
    h("label", { class: "check" }, log, " Log y"),
  );
}
