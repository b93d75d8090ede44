#!/usr/bin/env node
// Issue 13: how the web UI holds up, in headless Chromium against a running ETS (release
// build, started with ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT raised above --runs):
//
//   node bench/ui/ui_bench.mjs http://127.0.0.1:PORT [--runs 10000] [--chart-runs 20] [--points 100000]
//
// Needs tests/ui/node_modules (tests/ui/setup.sh). Measures, after making its data through
// the API (not timed):
// - bytes of JavaScript and CSS transferred (gzip, as the browser receives them) for the home
//   page, the runs table, a run page and the compare page together;
// - runs table of --runs runs (20 params, 10 metrics each): navigation → first rows on screen,
//   and → every run loaded (the page's own clock: ms since navigation start); a scroll, frame times;
// - compare page of --chart-runs runs × --points points of `loss`: navigation → chart drawn
//   (the chart's own `ets-chart-ready` mark, ms since navigation start), then a zoom re-fetch;
// - a point logged through the API → shown on an open run page's chart.
// Prints a markdown table and writes JSON to --json when given.

import { writeFileSync } from "node:fs";

import { base, launch, log, median, option, pool } from "./common.mjs";

const RUNS = Number(option("runs", 10000));
const CHART_RUNS = Number(option("chart-runs", 20));
const POINTS = Number(option("points", 100000));
const REPS = Number(option("reps", 5));
if (!base) {
  console.error("usage: ui_bench.mjs BASE_URL [--runs N] [--chart-runs N] [--points N] [--reps N] [--json FILE]");
  process.exit(2);
}

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}


// ---- data --------------------------------------------------------------------------------
const tag = Date.now().toString(36);
const project = await api("POST", "/api/v1/projects", { name: `ui-bench-${tag}` });
const wide = await api("POST", "/api/v1/experiments", { project_id: project.id, name: `runs-${RUNS}` });
log(`making ${RUNS} runs × 20 params × 10 metrics`);
let t0 = Date.now();
await pool(RUNS, 16, async (i) => {
  const params = {};
  for (let p = 0; p < 20; p++) params[`p${p}`] = String((i * 7 + p * 13) % 97);
  const run = await api("POST", "/api/v1/runs", { experiment_id: wide.id, name: `run-${String(i).padStart(5, "0")}`, params });
  await api("POST", `/api/v1/runs/${run.id}/metrics`, {
    metrics: Array.from({ length: 10 }, (_, m) => ({ key: `m${m}`, value: ((i * 31 + m * 17) % 1000) / 1000, step: 0 })),
  });
});
log(`  made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const long = await api("POST", "/api/v1/experiments", { project_id: project.id, name: `chart-${CHART_RUNS}x${POINTS}` });
log(`making ${CHART_RUNS} runs × ${POINTS} points`);
t0 = Date.now();
const chartRuns = [];
for (let r = 0; r < CHART_RUNS; r++) {
  const run = await api("POST", "/api/v1/runs", { experiment_id: long.id, name: `long-${r}`, params: { lr: String(0.1 / (r + 1)) } });
  const steps = Array.from({ length: POINTS }, (_, s) => s);
  const values = steps.map((s) => 0.1 + 2 * Math.exp(-s / (20000 + 1000 * r)) + 0.05 * Math.sin(s * 0.37 + r));
  for (let lo = 0; lo < POINTS; lo += 100000) {
    await api("POST", `/api/v1/runs/${run.id}/bulk-metrics`, {
      series: [{ key: "loss", steps: steps.slice(lo, lo + 100000), values: values.slice(lo, lo + 100000), timestamp: Date.now() }],
    });
  }
  chartRuns.push(run.id);
}
log(`  made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const live = await api("POST", "/api/v1/runs", { experiment_id: long.id, name: "live" });
await api("POST", `/api/v1/runs/${live.id}/metrics`, { metrics: [{ key: "loss", value: 1, step: 0 }, { key: "loss", value: 0.9, step: 1 }] });

// ---- browser -----------------------------------------------------------------------------
const browser = await launch();
const results = {};

async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(120000);
  return { context, page };
}

// Transferred JS + CSS over the four pages, in one context (each file counted once).
{
  const { context, page } = await fresh();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const types = new Map();
  const bytes = new Map();
  cdp.on("Network.responseReceived", (e) => types.set(e.requestId, { type: e.type, url: e.response.url, encoding: e.response.headers["content-encoding"] || e.response.headers["Content-Encoding"] || "" }));
  cdp.on("Network.loadingFinished", (e) => bytes.set(e.requestId, e.encodedDataLength));
  for (const hash of ["#/", `#/experiments/${long.id}`, `#/runs/${chartRuns[0]}`, `#/compare?runs=${chartRuns.slice(0, 2).join(",")}`]) {
    await page.goto(`${base}/${hash}`);
    await page.waitForLoadState("networkidle");
  }
  let total = 0;
  const files = [];
  for (const [id, info] of types) {
    if (info.type !== "Script" && info.type !== "Stylesheet") continue;
    total += bytes.get(id) || 0;
    files.push(`${new URL(info.url).pathname} ${bytes.get(id)} ${info.encoding}`);
  }
  results.transfer = { js_css_bytes: total, files };
  log(`JS + CSS transferred: ${total} bytes over ${files.length} files`);
  await context.close();
}

// Runs table.
{
  const firstRows = [];
  const allRows = [];
  for (let rep = 0; rep < REPS; rep++) {
    const { context, page } = await fresh();
    // Times are the page's own clock (performance.now(): ms since the navigation started),
    // read in the page when the condition first holds (checked every animation frame).
    await page.goto(`${base}/#/experiments/${wide.id}`, { waitUntil: "commit" });
    const rows = await page.waitForFunction(() => document.querySelectorAll(".rt-body [role=row]").length >= 10 && performance.now(), null, { polling: "raf" });
    firstRows.push(Math.round(await rows.jsonValue()));
    const loaded = await page.waitForFunction(
      (n) => !/loading/.test(document.querySelector("#runs-count")?.textContent || "loading") && document.querySelector("#runs-grid")?.getAttribute("aria-rowcount") === String(n + 1) && performance.now(),
      RUNS,
      { polling: "raf" },
    );
    allRows.push(Math.round(await loaded.jsonValue()));
    if (rep === REPS - 1) {
      const frames = await page.evaluate(async () => {
        const body = document.querySelector("#runs-grid .rt-scroll") || document.querySelector("#runs-grid");
        const times = [];
        let last = performance.now();
        for (let i = 0; i < 60; i++) {
          body.scrollTop += 600;
          await new Promise((r) => requestAnimationFrame(r));
          const now = performance.now();
          times.push(now - last);
          last = now;
        }
        return times;
      });
      results.runs_scroll_frame_ms = { median: median(frames), max: Math.max(...frames) };
    }
    await context.close();
  }
  results.runs_table = { runs: RUNS, first_rows_ms: firstRows, all_loaded_ms: allRows };
  log(`runs table ${RUNS}: first rows median ${median(firstRows)} ms, all loaded median ${median(allRows)} ms`);
}

// Compare chart.
{
  const ready = [];
  let zoom = null;
  for (let rep = 0; rep < REPS; rep++) {
    const { context, page } = await fresh();
    await page.goto(`${base}/#/compare?runs=${chartRuns.join(",")}`, { waitUntil: "commit" });
    await page.locator('.metric-card[data-key="loss"] .chart[data-state="ready"]').first().waitFor();
    // The chart's own mark when it is drawn and takes input, in ms since navigation start.
    const mark = await page.evaluate(() => performance.getEntriesByName("ets-chart-ready")[0]?.startTime);
    ready.push(Math.round(mark));
    if (rep === REPS - 1) {
      const plot = page.locator('.metric-card[data-key="loss"] .u-over').first();
      const box = await plot.boundingBox();
      const zoomStarted = Date.now();
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
      await page.mouse.up();
      await page.waitForResponse((r) => r.url().includes("start_step")).catch(() => null);
      await page.locator('.metric-card[data-key="loss"] .chart[data-state="ready"]').first().waitFor();
      await page.waitForLoadState("networkidle");
      zoom = Date.now() - zoomStarted;
    }
    await context.close();
  }
  results.compare_chart = { runs: CHART_RUNS, points: POINTS, ready_ms: ready, zoom_refetch_ms: zoom };
  log(`compare ${CHART_RUNS} × ${POINTS}: chart ready median ${median(ready)} ms; zoom re-fetch ${zoom} ms`);
}

// Live point.
{
  const { context, page } = await fresh();
  await page.goto(`${base}/#/runs/${live.id}`);
  const card = page.locator('.metric-card[data-key="loss"]');
  await card.locator('.chart[data-state="ready"]').waitFor();
  await page.waitForTimeout(500);
  const latencies = [];
  for (let i = 0; i < REPS; i++) {
    const value = Number((0.5001 - i * 0.01).toFixed(4));
    const sent = Date.now();
    await api("POST", `/api/v1/runs/${live.id}/metrics`, { metrics: [{ key: "loss", value, step: 2 + i }] });
    await card.locator(".chart-value").filter({ hasText: String(value) }).first().waitFor();
    latencies.push(Date.now() - sent);
  }
  results.live_point_ms = latencies;
  log(`live point → chart: ${latencies.join(", ")} ms`);
  await context.close();
}
await browser.close();

const out = option("json", "");
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
const m = (xs) => `${median(xs)} (${Math.min(...xs)}–${Math.max(...xs)})`;
console.log(`| measure | ETS |\n|---|---:|`);
console.log(`| JS + CSS transferred (gzip), 4 pages | ${(results.transfer.js_css_bytes / 1024).toFixed(1)} kB |`);
console.log(`| runs table, ${RUNS} runs: first rows on screen, ms median (min–max) | ${m(results.runs_table.first_rows_ms)} |`);
console.log(`| runs table, ${RUNS} runs: all loaded, ms | ${m(results.runs_table.all_loaded_ms)} |`);
console.log(`| runs table scroll, frame ms median / max | ${results.runs_scroll_frame_ms.median.toFixed(1)} / ${results.runs_scroll_frame_ms.max.toFixed(1)} |`);
console.log(`| compare chart, ${CHART_RUNS} runs × ${POINTS} points: drawn, ms | ${m(results.compare_chart.ready_ms)} |`);
console.log(`| zoom re-fetch of the ${CHART_RUNS} series, ms | ${results.compare_chart.zoom_refetch_ms} |`);
console.log(`| point logged → on the open chart, ms | ${m(results.live_point_ms)} |`);
