// Headless-Chromium checks of the web portal, as a person would use it.
//
//   AVB_BASE_URL=http://127.0.0.1:18080 PORTAL_EMAIL=owner@example.com PORTAL_PASSWORD=... \
//     node tests/browser/portal.mjs            (or scripts/browser.sh run, which installs first)
//
// The user must be able to manage projects and API keys (tenant_owner). Each scenario is an
// async function of one shared `ctx` (browser, unique run suffix, values earlier scenarios
// left behind); they run in the order of SCENARIOS, every one even after a failure, and print
// `ok - <name>` or `not ok - <name>` with the reason. Exit code 0 only when all pass.
// Environment: CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (default
// target/screenshots; screenshots are `<page>-<width>.png`, failures `fail-<scenario>.png`),
// ONLY (a comma-separated list of scenario names to run), HEADED=1 (needs a display).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} must be set (see the top of tests/browser/portal.mjs)`);
    process.exit(2);
  }
  return v;
}
const BASE = required('AVB_BASE_URL').replace(/\/+$/, '');
const EMAIL = required('PORTAL_EMAIL');
const PASSWORD = required('PORTAL_PASSWORD');
const SHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const WIDTHS = [375, 768, 1440];
const TIMEOUT_MS = 10_000;

// ---- helpers ---------------------------------------------------------------------------

/** A fresh browser context (own cookies) and page at the given viewport. */
async function newPage(ctx, viewport = { width: 1440, height: 900 }) {
  const context = await ctx.browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  ctx.pages.push(page);
  return page;
}

/** Absolute URL of a portal path. */
const url = (path) => BASE + path;

/** The path of the page's current URL, e.g. "/dashboard". */
const pathOf = (page) => new URL(page.url()).pathname;

/** Signs in through the login form and waits for the dashboard. */
async function login(page, email = EMAIL, password = PASSWORD) {
  await page.goto(url('/login'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await submit(page, 'main form button[type=submit]');
  if (pathOf(page) !== '/dashboard') {
    const alert = await page.locator('[role=alert]').allInnerTexts();
    throw new Error(`login as ${email} ended on ${page.url()}, not /dashboard` +
      (alert.length ? ` (alert: ${alert.join(' ')})` : ''));
  }
}

/** Full-page screenshot saved as SCREENSHOT_DIR/<name>.png; returns the path. */
async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Clicks the submit `button` (a selector) and waits for what it leads to: the next page for a
 * plain form, or the swapped-in content for an htmx one (hx-post/hx-boost on it or a parent).
 */
async function submit(page, button) {
  const btn = page.locator(button).first();
  const viaHtmx = await btn.evaluate((b) =>
    !!b.closest('[hx-post],[hx-put],[hx-patch],[hx-delete],[hx-boost="true"]'));
  if (!viaHtmx) {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), btn.click()]);
    return;
  }
  const settled = page.evaluate((ms) => new Promise((resolve, reject) => {
    document.body.addEventListener('htmx:afterSettle', () => resolve(), { once: true });
    setTimeout(() => reject(new Error(`no htmx:afterSettle within ${ms} ms`)), ms);
  }), TIMEOUT_MS);
  await btn.click();
  try {
    await settled;
  } catch (e) {
    // An HX-Redirect (or a boosted full page) replaces the document instead of settling in it.
    if (!/context was destroyed|navigation/i.test(String(e))) throw e;
    await page.waitForLoadState('load');
  }
}

/** The table row whose first cell is exactly `name`. */
function rowNamed(page, name) {
  return page.locator('tbody tr').filter({
    has: page.locator('td:first-child', { hasText: new RegExp(`^\\s*${escapeRe(name)}\\s*$`) }),
  });
}

/** The text of the cell under column header `header` in `row`. */
async function cell(row, header) {
  const table = row.locator('xpath=ancestor::table[1]');
  const headers = (await table.locator('thead th').allTextContents()).map((h) => h.trim());
  const i = headers.indexOf(header);
  assert.ok(i >= 0, `no "${header}" column; columns are ${JSON.stringify(headers)}`);
  return (await row.locator('td').nth(i).innerText()).trim();
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every API-key secret visible on the page, in text or in form fields. */
async function secretsOn(page) {
  return page.evaluate(() => {
    const re = /avb_(?:live|test)_[A-Za-z0-9_-]{16,}/g;
    const found = new Set(document.body.innerText.match(re) || []);
    for (const el of document.querySelectorAll('input, textarea')) {
      for (const m of el.value.match(re) || []) found.add(m);
    }
    return [...found];
  });
}

// ---- scenarios -------------------------------------------------------------------------
// Add one by writing `async function name(ctx)` and listing it in SCENARIOS below.

async function loginScenario(ctx) {
  const page = await newPage(ctx);
  // A wrong password: an alert, and still on the login page.
  await page.goto(url('/login'));
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD + '-wrong');
  await submit(page, 'main form button[type=submit]');
  assert.equal(pathOf(page), '/login', `a wrong password led to ${page.url()}`);
  const alert = page.locator('[role=alert]');
  await alert.first().waitFor({ state: 'visible' });
  assert.notEqual((await alert.first().innerText()).trim(), '', 'the login alert is empty');
  // The right one: the dashboard with a heading.
  await login(page);
  assert.ok(page.url().endsWith('/dashboard'), `after login the URL is ${page.url()}`);
  await page.locator('h1').first().waitFor({ state: 'visible' });
}

async function createProject(ctx) {
  const page = await newPage(ctx);
  await login(page);
  await page.goto(url('/projects'));
  const name = `Browser project ${ctx.run}`;
  await page.fill('form input[name=name]', name);
  await submit(page, 'form:has(input[name=name]) button[type=submit]');
  assert.equal(await page.locator('form [role=alert]').count(), 0,
    `creating the project showed: ${await page.locator('[role=alert]').allInnerTexts()}`);
  await page.goto(url('/projects'));
  await rowNamed(page, name).first().waitFor({ state: 'visible' })
    .catch(() => { throw new Error(`project "${name}" is not in the projects table`); });
  ctx.project = name;
}

async function createApiKey(ctx) {
  const page = await newPage(ctx);
  await login(page);
  await page.goto(url('/api-keys'));
  const name = `Browser key ${ctx.run}`;
  await page.fill('form input[name=name]', name);
  // Every scope offered (checkboxes named scope_* or scopes).
  for (const box of await page.locator('form input[type=checkbox][name^=scope]').all()) {
    await box.check();
  }
  await submit(page, 'form:has(input[name=name]) button[type=submit]');
  const secrets = await secretsOn(page);
  assert.equal(secrets.length, 1,
    `the page after creating a key (${page.url()}) should show exactly one secret, found ${secrets.length}`);
  const secret = secrets[0];
  await shot(page, 'api-key-created-1440');
  // Shown once: not on the list, not after a reload.
  await page.goto(url('/api-keys'));
  await page.reload();
  await rowNamed(page, name).first().waitFor({ state: 'visible' })
    .catch(() => { throw new Error(`key "${name}" is not in the keys table`); });
  assert.ok(!(await page.content()).includes(secret), 'the secret is still on /api-keys');
  assert.deepEqual(await secretsOn(page), [], 'a full secret is on /api-keys');
  ctx.key = { name, secret };
}

async function revokeApiKey(ctx) {
  assert.ok(ctx.key, 'needs the key that "create API key" makes');
  const page = await newPage(ctx);
  await login(page);
  await page.goto(url('/api-keys'));
  const row = rowNamed(page, ctx.key.name).first();
  assert.equal(await cell(row, 'Status'), 'active', 'the new key is not active');
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    row.getByRole('link', { name: /^Revoke/ }).click(),
  ]);
  // A confirmation page, not an immediate revoke.
  assert.match(pathOf(page), /\/revoke$/, `the Revoke link led to ${page.url()}`);
  const confirm = page.locator('main form button[type=submit]');
  assert.equal(await confirm.count(), 1, 'the confirmation page has no single submit button');
  await shot(page, 'api-key-revoke-1440');
  await submit(page, 'main form button[type=submit]');
  assert.equal(pathOf(page), '/api-keys', `after revoking the page is ${page.url()}`);
  assert.equal(await cell(rowNamed(page, ctx.key.name).first(), 'Status'), 'revoked');
}

async function mobileMenu(ctx) {
  const page = await newPage(ctx, { width: 375, height: 800 });
  await login(page);
  const nav = page.locator('#main-nav');
  assert.equal(await nav.isVisible(), false, 'at 375px the navigation is visible before opening');
  const button = page.locator('.menu-button');
  assert.ok(await button.isVisible(), 'at 375px the menu button is not visible');
  await button.click();
  assert.ok(await page.locator('#menu').isChecked(), 'clicking the menu button left #menu unchecked');
  await nav.waitFor({ state: 'visible' });
  assert.ok(await nav.getByRole('link', { name: 'Projects' }).isVisible(),
    'the opened menu has no visible "Projects" link');
  await shot(page, 'menu-open-375');
}

async function mobileMenuLabels(ctx) {
  // What a person reads in the opened phone menu: each link's text, not only its icon.
  const page = await newPage(ctx, { width: 375, height: 800 });
  await login(page);
  await page.locator('.menu-button').click();
  const nav = page.locator('#main-nav');
  await nav.waitFor({ state: 'visible' });
  for (const label of ['Dashboard', 'Projects', 'API keys']) {
    assert.ok(await nav.getByText(label, { exact: true }).isVisible(),
      `the opened menu at 375px does not show the text "${label}" (only an icon?)`);
  }
}

async function screenshots(ctx) {
  const pages = { dashboard: '/dashboard', projects: '/projects', 'api-keys': '/api-keys' };
  const page = await newPage(ctx);
  await login(page);
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const [name, path] of Object.entries(pages)) {
      const res = await page.goto(url(path));
      assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
      await shot(page, `${name}-${width}`);
      // Layout smell, reported but not failed: the page scrolls sideways.
      const over = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
      if (over > 0) console.log(`# warning: ${path} at ${width}px is ${over}px wider than the viewport`);
    }
  }
}

const SCENARIOS = [
  ['login', loginScenario],
  ['create project', createProject],
  ['create API key and see the secret once', createApiKey],
  ['revoke with confirmation', revokeApiKey],
  ['mobile menu', mobileMenu],
  ['mobile menu shows link names', mobileMenuLabels],
  ['screenshots', screenshots],
];

// ---- runner ----------------------------------------------------------------------------

const only = process.env.ONLY ? process.env.ONLY.split(',').map((s) => s.trim()) : null;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
  headless: process.env.HEADED !== '1',
});
const ctx = { browser, run: Date.now().toString(36), pages: [] };
let passed = 0;
let failed = 0;
try {
  for (const [name, fn] of SCENARIOS) {
    if (only && !only.includes(name)) continue;
    ctx.pages = [];
    try {
      await fn(ctx);
      passed++;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String(e && e.message || e).split('\n').join('\n  ')}`);
      const last = ctx.pages.at(-1);
      if (last && !last.isClosed()) {
        console.log(`  page: ${last.url()}`);
        await shot(last, `fail-${name.replace(/[^A-Za-z0-9]+/g, '-')}`)
          .then((f) => console.log(`  screenshot: ${f}`), () => {});
      }
    } finally {
      for (const p of ctx.pages) await p.context().close().catch(() => {});
    }
  }
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
