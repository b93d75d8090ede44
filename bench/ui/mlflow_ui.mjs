#!/usr/bin/env node
// Issue 13's comparison: MLflow's own UI on the data bench/ui/ui_bench.mjs gives ETS, in the
// same headless Chromium, against a running `mlflow server` (SQLite):
//
//   node bench/ui/mlflow_ui.mjs http://127.0.0.1:PORT [--runs 10000] [--chart-runs 20] [--points 10000]
//
// Makes the data through MLflow's REST API (runs/create + runs/log-batch, 8 in flight; not
// timed), then measures from navigation (the page's own clock) to:
// - the experiment page showing run names (its runs table; MLflow loads runs 100 at a time);
// - the experiment's chart view drawing the `loss` charts of the runs (Plotly).
// Prints a markdown table; --json FILE writes the figures.

import { writeFileSync } from "node:fs";

import { base, launch, log, median, option, pool } from "./common.mjs";

const RUNS = Number(option("runs", 10000));
const CHART_RUNS = Number(option("chart-runs", 20));
const POINTS = Number(option("points", 10000));
const REPS = Number(option("reps", 3));

async function api(path, body) {
  const response = await fetch(`${base}/api/2.0/mlflow/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

const tag = Date.now().toString(36);
const wide = (await api("experiments/create", { name: `runs-${RUNS}-${tag}` })).experiment_id;
log(`MLflow: making ${RUNS} runs × 20 params × 10 metrics`);
let t0 = Date.now();
await pool(RUNS, 8, async (i) => {
  const run = (await api("runs/create", { experiment_id: wide, run_name: `run-${String(i).padStart(5, "0")}`, start_time: Date.now() })).run.info;
  await api("runs/log-batch", {
    run_id: run.run_id,
    params: Array.from({ length: 20 }, (_, p) => ({ key: `p${p}`, value: String((i * 7 + p * 13) % 97) })),
    metrics: Array.from({ length: 10 }, (_, m) => ({ key: `m${m}`, value: ((i * 31 + m * 17) % 1000) / 1000, timestamp: Date.now(), step: 0 })),
  });
  await api("runs/update", { run_id: run.run_id, status: "FINISHED", end_time: Date.now() });
});
const seedRuns = (Date.now() - t0) / 1000;
log(`  made in ${seedRuns.toFixed(1)} s`);

const long = (await api("experiments/create", { name: `chart-${CHART_RUNS}x${POINTS}-${tag}` })).experiment_id;
log(`MLflow: making ${CHART_RUNS} runs × ${POINTS} points (log-batch, 1,000 a request)`);
t0 = Date.now();
await pool(CHART_RUNS, 4, async (r) => {
  const run = (await api("runs/create", { experiment_id: long, run_name: `long-${r}`, start_time: Date.now() })).run.info;
  await api("runs/log-batch", { run_id: run.run_id, params: [{ key: "lr", value: String(0.1 / (r + 1)) }] });
  for (let lo = 0; lo < POINTS; lo += 1000) {
    const metrics = [];
    for (let s = lo; s < Math.min(POINTS, lo + 1000); s++) {
      metrics.push({ key: "loss", value: 0.1 + 2 * Math.exp(-s / (POINTS / 5 + 10 * r)) + 0.05 * Math.sin(s * 0.37 + r), timestamp: Date.now(), step: s });
    }
    await api("runs/log-batch", { run_id: run.run_id, metrics });
  }
});
const seedPoints = (Date.now() - t0) / 1000;
log(`  made in ${seedPoints.toFixed(1)} s`);

const browser = await launch();
const results = { runs: RUNS, chart_runs: CHART_RUNS, points: POINTS, seed_runs_s: seedRuns, seed_points_s: seedPoints };

async function timeTo(url, condition, arg) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(180000);
  await page.goto(url, { waitUntil: "commit" });
  const handle = await page.waitForFunction(condition, arg, { polling: "raf", timeout: 180000 });
  const ms = Math.round(await handle.jsonValue());
  await context.close();
  return ms;
}

const table = [];
for (let rep = 0; rep < REPS; rep++) {
  table.push(await timeTo(`${base}/#/experiments/${wide}/runs`, () => /run-0\d{4}/.test(document.body.innerText) && performance.now()));
}
results.runs_table_first_rows_ms = table;
log(`MLflow runs table: run names on screen ${table.join(", ")} ms`);

const charts = [];
for (let rep = 0; rep < REPS; rep++) {
  charts.push(await timeTo(
    `${base}/#/experiments/${long}/runs?compareRunsMode=CHART`,
    () => document.querySelectorAll(".js-plotly-plot .scatterlayer .trace, .js-plotly-plot .gl-container canvas").length > 0 && performance.now(),
  ));
}
results.chart_view_ms = charts;
log(`MLflow chart view: drawn ${charts.join(", ")} ms`);
await browser.close();

const out = option("json", "");
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`| measure | MLflow |\n|---|---:|`);
console.log(`| runs table, ${RUNS} runs: run names on screen, ms median (min–max) | ${median(table)} (${Math.min(...table)}–${Math.max(...table)}) |`);
console.log(`| chart view, ${CHART_RUNS} runs × ${POINTS} points: drawn, ms | ${median(charts)} (${Math.min(...charts)}–${Math.max(...charts)}) |`);
