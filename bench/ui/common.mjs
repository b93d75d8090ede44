// What both UI benchmarks share: the command line, logging, a request pool, the median, and
// playwright-core from tests/ui/node_modules (tests/ui/setup.sh installs it).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const { chromium } = createRequire(join(here, "../../tests/ui/package.json"))("playwright-core");

export const args = process.argv.slice(2);
/** The base URL (first argument). */
export const base = args[0];
/** `--name VALUE` from the command line, or `fallback`. */
export function option(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

export const log = (m) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs `task(i)` for i in 0..n with `width` in flight. */
export async function pool(n, width, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** Headless Debian Chromium (or $CHROMIUM). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox"],
  });
}
