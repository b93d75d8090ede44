#!/usr/bin/env node
// The web UI with authentication on, in headless Chromium:
//
//   node tests/ui/login.mjs BASE_URL USER PASSWORD VISIBLE_PROJECT HIDDEN_PROJECT
//
// Opening the UI without a session leads to the login page; a wrong password is refused with
// the server's message; the right one shows the projects page with VISIBLE_PROJECT (the user is
// a member) and without HIDDEN_PROJECT (not a member); logging out leads back to the login
// page. axe-core on the login page. Exits 1 listing the problems.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const [base, user, password, visible, hidden] = process.argv.slice(2);
if (!hidden) {
  console.error("usage: login.mjs BASE_URL USER PASSWORD VISIBLE_PROJECT HIDDEN_PROJECT");
  process.exit(2);
}
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox"],
});
let page;
let at = "start";
try {
  page = await browser.newPage();
  page.setDefaultTimeout(Number(process.env.UI_TIMEOUT_MS || 20000));
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  at = "opening the UI without a session";
  await page.goto(`${base}/`);
  await page.waitForURL(/#\/login/);
  at = "a wrong password";
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(`${password}-wrong`);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").waitFor();
  await page.evaluate(AXE);
  const violations = await page.evaluate(() =>
    window.axe.run().then((r) => r.violations.filter((v) => ["serious", "critical"].includes(v.impact)).map((v) => v.id)),
  );
  if (violations.length) problems.push(`login page: axe ${violations.join(", ")}`);
  at = "logging in";
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("link", { name: visible, exact: true }).waitFor();
  if ((await page.getByRole("link", { name: hidden, exact: true }).count()) !== 0) {
    problems.push(`the projects page shows ${hidden}, which ${user} may not see`);
  }
  at = "logging out";
  await page.locator("#who").getByText(user).waitFor();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/#\/login/);
  await page.goto(`${base}/#/`);
  await page.waitForURL(/#\/login/);
  console.log("ok   login: refused with a wrong password, only the member's project shown, logout");
} catch (error) {
  const where = page ? ` at ${page.url()}: ${(await page.locator("main").innerText().catch(() => "")).slice(0, 200)}` : "";
  problems.push(`${at}: ${error.name}: ${error.message.split("\n")[0]}${where}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.log("FAIL:");
  for (const p of problems) console.log(`  - ${p}`);
  process.exit(1);
}
