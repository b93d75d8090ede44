#!/usr/bin/env node
// Opens a self-contained HTML page of Plotly figures in headless Chromium with the network
// off, waits until every graph is drawn and saves a full-page screenshot:
//
//   node tests/visualizations/render_html.mjs IN.html OUT.png
//   node tests/visualizations/render_html.mjs http://127.0.0.1:PORT/path OUT.png
//
// A loopback URL is loaded as the server sends it (with its headers, e.g. its CSP); then that
// one URL is the only request allowed.
//
// Fails (exit 1, saying why) when the page tried any request other than file: or data:, logged
// a console error (CSP violations are console errors) or threw, drew no Plotly graph, left a
// graph div undrawn, showed plotly's "WebGL is not supported" stand-in, or when the screenshot or any graph in it is blank (almost all white; the
// PNG is decoded here with node's zlib). Exit 2 on bad usage.
//
// Environment: CHROMIUM (default /usr/bin/chromium), RENDER_TIMEOUT_MS (default 60000).

import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { inflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const [input, output, ...options] = process.argv.slice(2);
// `--y-includes LOW,HIGH`: every graph's y axis must reach LOW and HIGH, i.e. plotly.js read
// the points that lie there (e.g. spikes sent in typed arrays).
const yIncludes =
  options[0] === "--y-includes" && options.length === 2 ? options[1].split(",").map(Number) : null;
if (!input || !output || (options.length > 0 && (yIncludes === null || yIncludes.some(isNaN)))) {
  console.error("usage: render_html.mjs IN.html OUT.png [--y-includes LOW,HIGH]");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const timeout = Number(process.env.RENDER_TIMEOUT_MS || 60000);
// A pixel counts as drawn when a channel is below this (white is 255 everywhere).
const WHITE = 245;
// The smallest share of drawn pixels of a graph that is not blank: axes and a title alone
// draw about 1 %, a graph with data well over that.
const MIN_DRAWN = { page: 0.005, graph: 0.01 };

const problems = [];
const remote = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(input);
const url = remote ? input : pathToFileURL(resolve(input)).href;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    // WebGL traces (parcoords, scattergl) need GL: the software renderer, no GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
  ],
});
try {
  const context = await browser.newContext({
    offline: !remote,
    viewport: { width: 1100, height: 800 },
  });
  await context.route("**", (route) => {
    const requested = route.request().url();
    if (requested.startsWith("file:") || requested === url) return route.continue();
    problems.push(`network request attempted: ${requested}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("request", (request) => {
    const requested = request.url();
    if (!/^(file|data|blob|about):/.test(requested) && requested !== url) {
      problems.push(`request to ${requested}`);
    }
  });
  page.on("console", (message) => {
    const text = `${message.type()}: ${message.text()}`;
    if (message.type() === "error") problems.push(`console ${text}`);
    else if (message.type() === "warning") console.log(`  console ${text}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  await page.goto(url, { waitUntil: "load", timeout });
  await page.waitForSelector(".js-plotly-plot .main-svg", { timeout }).catch(() => {
    throw new Error(`no Plotly graph (.main-svg) appeared within ${timeout} ms`);
  });
  // Every graph div (ETS pages mark theirs .ets-figure) holds a drawn graph, then two frames
  // let WebGL traces paint.
  await page.waitForFunction(
    () => {
      const wanted = document.querySelectorAll(".ets-figure").length;
      const drawn = document.querySelectorAll(".js-plotly-plot .main-svg").length;
      return drawn > 0 && drawn >= wanted;
    },
    null,
    { timeout },
  ).catch(() => {});
  await page.evaluate(
    () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))),
  );
  const summary = await page.evaluate(() => ({
    wanted: document.querySelectorAll(".ets-figure").length,
    graphs: [...document.querySelectorAll(".js-plotly-plot")].map((gd) => ({
      id: gd.id,
      drawn: gd.querySelector(".main-svg") !== null,
      // Plotly's stand-in when a WebGL trace cannot draw (no GL, or a CSP without
      // 'unsafe-eval' stopping regl); it logs nothing.
      noWebgl: gd.querySelector(".no-webgl") !== null,
      traces: (gd._fullData || []).map((t) => t.type),
      yRange: gd._fullLayout && gd._fullLayout.yaxis ? gd._fullLayout.yaxis.range : null,
    })),
  }));
  const drawn = summary.graphs.filter((g) => g.drawn);
  if (drawn.length === 0) problems.push("no Plotly graph was drawn");
  if (drawn.length < summary.wanted) {
    problems.push(`${summary.wanted - drawn.length} of ${summary.wanted} figure divs were not drawn`);
  }

  const screenshot = await page.screenshot({ fullPage: true });
  writeFileSync(output, screenshot);
  const whole = drawnShare(screenshot);
  console.log(
    `  screenshot ${output}: ${whole.width}x${whole.height}, ${(whole.share * 100).toFixed(1)} % drawn`,
  );
  if (whole.share < MIN_DRAWN.page) problems.push(`the screenshot is blank (${whole.drawn} drawn pixels)`);
  const handles = await page.$$(".js-plotly-plot");
  for (const [i, handle] of handles.entries()) {
    const graph = summary.graphs[i];
    const name = graph.id || `graph ${i}`;
    const share = drawnShare(await handle.screenshot()).share;
    console.log(
      `  ${name}: ${graph.traces.length} trace(s) [${graph.traces.join(", ")}], ${(share * 100).toFixed(1)} % drawn`,
    );
    if (graph.noWebgl) problems.push(`${name}: plotly shows "WebGL is not supported"`);
    if (share < MIN_DRAWN.graph) problems.push(`${name} is blank (${(share * 100).toFixed(2)} % drawn)`);
    if (yIncludes) {
      const [low, high] = yIncludes;
      const range = graph.yRange || [];
      console.log(`  ${name}: y axis ${JSON.stringify(range)}`);
      if (!(Math.min(...range) <= low && Math.max(...range) >= high)) {
        problems.push(`${name}: the y axis ${JSON.stringify(range)} does not reach ${low} and ${high}`);
      }
    }
  }
} catch (error) {
  problems.push(`${error.name}: ${error.message.split("\n")[0]}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.log(`FAIL ${input}:`);
  for (const problem of [...new Set(problems)]) console.log(`  - ${problem}`);
  process.exit(1);
}
console.log(`ok   ${input}: no network request, no console or page error, graphs drawn`);

/** The share of pixels of a PNG that are not (near) white. */
function drawnShare(png) {
  const { width, height, channels, pixels } = decodePng(png);
  let drawn = 0;
  for (let i = 0; i < pixels.length; i += channels) {
    // Transparent pixels show the white page.
    const opaque = channels === 4 ? pixels[i + 3] > 16 : true;
    if (opaque && (pixels[i] < WHITE || pixels[i + 1] < WHITE || pixels[i + 2] < WHITE)) drawn++;
  }
  return { width, height, drawn, share: drawn / (width * height) };
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes). */
function decodePng(buffer) {
  const signature = "89504e470d0a1a0a";
  if (buffer.subarray(0, 8).toString("hex") !== signature) throw new Error("not a PNG");
  let offset = 8;
  let header;
  const data = [];
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString("latin1", offset + 4, offset + 8);
    const body = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      header = {
        width: body.readUInt32BE(0),
        height: body.readUInt32BE(4),
        depth: body[8],
        color: body[9],
        interlace: body[12],
      };
    } else if (type === "IDAT") {
      data.push(body);
    } else if (type === "IEND") {
      break;
    }
    offset += 12 + length;
  }
  const channelsByColor = { 2: 3, 6: 4 };
  const channels = channelsByColor[header?.color];
  if (!header || header.depth !== 8 || !channels || header.interlace !== 0) {
    throw new Error(`unsupported PNG: ${JSON.stringify(header)}`);
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = header.width * channels;
  const pixels = Buffer.alloc(stride * header.height);
  for (let y = 0; y < header.height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels] : 0;
      const b = up ? up[x] : 0;
      const c = up && x >= channels ? up[x - channels] : 0;
      let value = line[x];
      if (filter === 1) value += a;
      else if (filter === 2) value += b;
      else if (filter === 3) value += (a + b) >> 1;
      else if (filter === 4) value += paeth(a, b, c);
      else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      out[x] = value & 0xff;
    }
  }
  return { width: header.width, height: header.height, channels, pixels };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}
