#!/usr/bin/env node
// User journeys through the ETS web UI in headless Chromium, against a running server:
//
//   node tests/ui/journey.mjs http://127.0.0.1:PORT OUT_DIR
//
// It creates its own data through the API (a project, an experiment, runs with params,
// metrics and artifacts), then, as a user would: finds the project on the home page, opens
// the experiment, filters and sorts the runs table, opens a run (params, charts, artifact
// preview and download), compares runs, watches a live run gain a point, and opens the
// dashboards and healthcare pages. On every page axe-core must find no serious or critical
// violation, no request may leave the server's origin, and no console error or CSP violation
// may occur. Screenshots go to OUT_DIR (ui-runs.png, ui-run.png, ui-compare.png, …).
// Exits 1 listing every problem found.

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: journey.mjs BASE_URL OUT_DIR");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const timeout = Number(process.env.UI_TIMEOUT_MS || 20000);
const problems = [];
const origin = new URL(base).origin;

// ---- data, through the API ---------------------------------------------------------------

async function api(method, path, body, raw) {
  const init = { method, headers: {} };
  if (raw !== undefined) {
    init.body = raw;
    init.headers["content-type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch(base + path, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

async function seed() {
  const tag = Date.now().toString(36);
  const project = await api("POST", "/api/v1/projects", { name: `ui-journey-${tag}` });
  const experiment = await api("POST", "/api/v1/experiments", { project_id: project.id, name: "lr-sweep" });
  // An alert rule only the live run breaches (its loss stays above 0.35; the others end
  // below): the healthcare page lists the alert and acknowledges it.
  await api("POST", "/api/v1/alerts/rules", { experiment_id: experiment.id, metric: "loss", condition: ">", threshold: 0.35 });
  const runs = [];
  const settings = [
    ["run-adam-1", "adam", 0.1],
    ["run-adam-2", "adam", 0.01],
    ["run-sgd-1", "sgd", 0.1],
    ["run-sgd-2", "sgd", 0.001],
  ];
  for (const [i, [name, opt, lr]] of settings.entries()) {
    const run = await api("POST", "/api/v1/runs", {
      experiment_id: experiment.id,
      name,
      params: { opt, lr: String(lr), layers: "4" },
    });
    const steps = Array.from({ length: 500 }, (_, s) => s);
    await api("POST", `/api/v1/runs/${run.id}/bulk-metrics`, {
      series: [
        { key: "loss", steps, values: steps.map((s) => 2 * Math.exp(-s / (100 + 50 * i)) + 0.01 * (s % 7)), timestamp: Date.now() },
        { key: "acc", steps, values: steps.map((s) => (0.5 + 0.1 * i) * (1 - Math.exp(-s / 80))), timestamp: Date.now() },
      ],
    });
    await api("POST", `/api/v1/runs/${run.id}/finish`, { status: "finished" }).catch(() => {});
    runs.push(run);
  }
  await api("POST", `/api/v1/runs/${runs[0].id}/artifacts?path=notes.txt`, undefined, "hello from the journey\n");
  await api("POST", `/api/v1/runs/${runs[0].id}/artifacts?path=metrics.csv`, undefined, "step,loss\n0,2.0\n1,1.5\n");
  const live = await api("POST", "/api/v1/runs", { experiment_id: experiment.id, name: "run-live", params: { opt: "adam", lr: "0.05", layers: "4" } });
  await api("POST", `/api/v1/runs/${live.id}/metrics`, {
    metrics: [
      { key: "loss", value: 1.0, step: 0 },
      { key: "loss", value: 0.9, step: 1 },
    ],
  });
  const chart = await api("POST", "/api/v1/visualizations/charts", { name: "loss by run", type: "line", experiment_id: experiment.id, metrics: ["loss"] });
  const dashboard = await api("POST", "/api/v1/visualizations/dashboards", { name: `board-${tag}`, charts: [chart.id] });
  return { project, experiment, runs, live, chart, dashboard };
}

// ---- checks ------------------------------------------------------------------------------

async function axe(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }).then((r) =>
      r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0]?.target })),
    ),
  );
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) problems.push(`${name}: axe ${v.impact} ${v.id} on ${v.nodes} node(s), e.g. ${JSON.stringify(v.target)}`);
  const minor = result.filter((v) => !bad.includes(v));
  console.log(`  ${name}: axe ${bad.length} serious/critical, ${minor.length} minor${minor.length ? ` (${minor.map((v) => v.id).join(", ")})` : ""}`);
}

async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    problems.push(`${name}: ${error.message.split("\n")[0]}`);
    console.log(`FAIL ${name}: ${error.message.split("\n")[0]}`);
  }
}

// ---- the journeys ------------------------------------------------------------------------

const data = await seed();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
context.setDefaultTimeout(timeout);
const page = await context.newPage();
page.on("request", (request) => {
  const url = request.url();
  if (!/^(data|blob|about):/.test(url) && new URL(url).origin !== origin) problems.push(`request left the origin: ${url}`);
});
// A bad filter is answered 400 on purpose, and Chromium logs every 4xx resource as an error.
let expected400 = false;
page.on("console", (message) => {
  if (message.type() !== "error") return;
  if (expected400 && /status of 400/.test(message.text())) return;
  problems.push(`console error on ${page.url()}: ${message.text()}`);
});
page.on("pageerror", (error) => problems.push(`page error on ${page.url()}: ${error.message}`));

await step("home page lists the project as a link into it", async () => {
  await page.goto(`${base}/`);
  const link = page.getByRole("link", { name: data.project.name, exact: true });
  await link.waitFor();
  await axe(page, "projects");
  await link.click();
  await page.getByRole("heading", { name: data.project.name }).waitFor();
  await axe(page, "project");
});

await step("the project lists its experiment; it opens the runs table", async () => {
  await page.getByRole("link", { name: data.experiment.name, exact: true }).click();
  await page.waitForURL(new RegExp(`#/experiments/${data.experiment.id}`));
  await page.getByRole("link", { name: "run-adam-1", exact: true }).waitFor();
  await axe(page, "runs table");
  await page.screenshot({ path: join(outDir, "ui-runs.png") });
});

await step("the runs table filters (errors at their position), sorts and selects runs to compare", async () => {
  const filter = page.locator("#runs-filter");
  expected400 = true;
  await filter.fill("metrics.acc >> 1");
  await filter.press("Enter");
  await page.locator("#runs-filter-error [role=alert]").waitFor();
  expected400 = false;
  await axe(page, "runs table with a filter error");
  await filter.fill("params.opt = 'sgd'");
  await filter.press("Enter");
  await page.getByRole("link", { name: "run-adam-1", exact: true }).waitFor({ state: "detached" });
  await page.getByRole("link", { name: "run-sgd-2", exact: true }).waitFor();
  if (!page.url().includes("filter=")) throw new Error(`the filter is not in the URL: ${page.url()}`);
  await filter.fill("");
  await filter.press("Enter");
  await page.getByRole("link", { name: "run-adam-1", exact: true }).waitFor();
  const header = page.getByRole("columnheader", { name: "metric acc" });
  await header.click();
  const first = await header.getAttribute("aria-sort");
  await header.click();
  const second = await header.getAttribute("aria-sort");
  if (!["ascending", "descending"].includes(first) || first === second) throw new Error(`aria-sort went ${first} → ${second}`);
  await page.getByRole("checkbox", { name: "Select run run-adam-1" }).check();
  await page.getByRole("checkbox", { name: "Select run run-sgd-1" }).check();
  const compare = page.locator("#runs-compare");
  await compare.filter({ hasText: "Compare (2)" }).waitFor();
  await page.screenshot({ path: join(outDir, "ui-runs.png") });
  await compare.click();
  await page.waitForURL(/#\/compare\?runs=/);
});

await step("the compare page overlays the runs, shows what differs and draws a scatter", async () => {
  await page.locator('.metric-card[data-key="loss"] .chart[data-state="ready"]').first().waitFor();
  await page.locator('#param-diff tr.diff[data-param="opt"]').waitFor();
  await page.locator('#scatter-chart[data-state="ready"] img').waitFor();
  await axe(page, "compare");
  await page.screenshot({ path: join(outDir, "ui-compare.png") });
});

await step("a run page shows params, charts and artifacts; an artifact previews and downloads", async () => {
  const run = data.runs[0];
  await page.goto(`${base}/#/runs/${run.id}`);
  await page.locator("#run-params").getByText("adam").waitFor();
  await page.locator('.metric-card[data-key="acc"] .chart[data-state="ready"]').waitFor();
  await page.screenshot({ path: join(outDir, "ui-run.png") });
  await page.getByRole("button", { name: "Preview notes.txt" }).click();
  await page.locator("#artifact-preview").getByText("hello from the journey").waitFor();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download notes.txt" }).click(),
  ]);
  const saved = join(outDir, "downloaded-notes.txt");
  await download.saveAs(saved);
  const text = readFileSync(saved, "utf8");
  if (text !== "hello from the journey\n") throw new Error(`the download holds ${JSON.stringify(text)}`);
  await page.getByRole("button", { name: "Preview metrics.csv" }).click();
  await page.locator("#artifact-preview table").getByText("1.5").waitFor();
  await axe(page, "run");
});

await step("a live run's chart gains a logged point without reload", async () => {
  await page.goto(`${base}/#/runs/${data.live.id}`);
  const card = page.locator('.metric-card[data-key="loss"]');
  await card.locator('.chart[data-state="ready"]').waitFor();
  const before = await page.evaluate(() => location.href);
  const sent = Date.now();
  await api("POST", `/api/v1/runs/${data.live.id}/metrics`, { metrics: [{ key: "loss", value: 0.4321, step: 2 }] });
  await card.locator(".chart-value").filter({ hasText: "0.4321" }).first().waitFor();
  console.log(`  live point on the chart ${Date.now() - sent} ms after it was logged`);
  await api("POST", `/api/v1/runs/${data.live.id}/finish`, { status: "finished" });
  await page.locator("#run-status").getByText("finished").waitFor();
  if ((await page.evaluate(() => location.href)) !== before) throw new Error("the page navigated");
});

await step("dashboards list the saved dashboard; it shows its chart drawn by the server", async () => {
  await page.goto(`${base}/#/dashboards`);
  await page.getByRole("link", { name: data.dashboard.name, exact: true }).click();
  const image = page.locator(`figure.chart-card[data-chart-id="${data.chart.id}"] img`);
  await image.waitFor();
  await page.waitForFunction((id) => {
    const img = document.querySelector(`figure.chart-card[data-chart-id="${id}"] img`);
    return img && img.complete && img.naturalWidth > 0;
  }, data.chart.id);
  await axe(page, "dashboard");
  await page.goto(`${base}/#/charts/${data.chart.id}`);
  await page.getByRole("heading", { name: "loss by run" }).waitFor();
  await axe(page, "saved chart");
});

await step("the healthcare page lists alerts and acknowledges one; the login page renders", async () => {
  const deadline = Date.now() + timeout;
  while (!((await api("GET", `/api/v1/alerts?experiment_id=${data.experiment.id}&state=firing`)).items || []).length) {
    if (Date.now() > deadline) throw new Error("the alert rule fired no alert");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.goto(`${base}/#/healthcare?project=${data.project.id}`);
  await page.getByRole("heading", { name: /crisis detection/i }).waitFor();
  await page.getByRole("heading", { name: "Alerts" }).waitFor();
  await axe(page, "healthcare");
  await page.getByRole("button", { name: "Acknowledge" }).first().click();
  await page.getByText("acknowledged by anonymous").first().waitFor();
  await page.goto(`${base}/#/login`);
  await page.getByLabel("User name").waitFor();
  await axe(page, "login");
});

await step("dark mode (the OS setting) passes axe on the busiest pages", async () => {
  const dark = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "dark" });
  const darkPage = await dark.newPage();
  darkPage.setDefaultTimeout(timeout);
  const background = await (async () => {
    await darkPage.goto(`${base}/#/experiments/${data.experiment.id}`);
    await darkPage.getByRole("link", { name: "run-adam-1", exact: true }).waitFor();
    return darkPage.evaluate(() => getComputedStyle(document.body).backgroundColor);
  })();
  if (background === "rgb(255, 255, 255)") throw new Error("dark mode kept a white background");
  await axe(darkPage, "runs table, dark");
  await darkPage.goto(`${base}/#/runs/${data.runs[0].id}`);
  await darkPage.locator('.metric-card[data-key="acc"] .chart[data-state="ready"]').waitFor();
  await axe(darkPage, "run, dark");
  await darkPage.goto(`${base}/#/compare?runs=${data.runs[0].id},${data.runs[2].id}`);
  await darkPage.locator('.metric-card[data-key="loss"] .chart[data-state="ready"]').first().waitFor();
  await axe(darkPage, "compare, dark");
  await dark.close();
});

await browser.close();
if (problems.length) {
  console.log(`FAIL: ${problems.length} problem(s)`);
  for (const p of [...new Set(problems)]) console.log(`  - ${p}`);
  process.exit(1);
}
console.log("ok   every journey passed");
