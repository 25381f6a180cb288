// SPDX-License-Identifier: MIT
/*
 * browser.mjs: a headless Chromium (Debian's, through playwright-core) for
 * tests/integration/test_web.py. It reads one JSON command per line on
 * stdin and answers each with one JSON line on stdout, {"ok":true,...} or
 * {"ok":false,"error":"..."}, so the Python tests keep their own broker,
 * car agent and MQTT observer and use the browser like a hand.
 *
 *   {"cmd":"open","url":"...","width":390,"height":844,"insecure":true}
 *                                                 (insecure: trust any TLS
 *                                                 certificate, the test CA's)
 *   {"cmd":"fill","selector":"#user","value":"alice"}
 *   {"cmd":"check","selector":"#remember"}
 *   {"cmd":"text","selector":"#status"}          -> {"text":"online"}
 *   {"cmd":"wait_text","selector":"#status","text":"online"}
 *   {"cmd":"down","selector":"#forward"}          pointer down at its centre
 *   {"cmd":"up"}                                  pointer up
 *   {"cmd":"drag","selector":"#pad","dx":0,"dy":-0.8}  down, move by a
 *                                                 share of its half-size
 *   {"cmd":"key","key":"ArrowUp","action":"down"|"up"}
 *   {"cmd":"click","selector":"#estop"}
 *   {"cmd":"fill_range","selector":"#speed","value":40}
 *   {"cmd":"hide"}                                the page becomes hidden
 *   {"cmd":"eval","js":"document.body.scrollWidth"} -> {"value":...}
 *   {"cmd":"screenshot","path":"..."}
 *   {"cmd":"errors"}                              -> {"errors":[...]} the page's
 *                                                 uncaught errors and console errors
 *   {"cmd":"close"}                               close the page
 *   {"cmd":"quit"}
 */
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.IOTCAR_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let page = null;
const errors = [];

async function centre(selector) {
  const box = await page.locator(selector).boundingBox();
  if (!box) throw new Error(`${selector} is not visible`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2, box };
}

const commands = {
  async open(c) {
    const ctx = await browser.newContext({
      viewport: { width: c.width || 390, height: c.height || 844 },
      hasTouch: true,
      ignoreHTTPSErrors: Boolean(c.insecure),
    });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(c.url);
    return {};
  },
  async text(c) {
    return { text: await page.locator(c.selector).textContent() };
  },
  async wait_text(c) {
    await page.locator(c.selector).filter({ hasText: c.text })
      .waitFor({ timeout: c.timeout || 10000 });
    return {};
  },
  async down(c) {
    const p = await centre(c.selector);
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    return {};
  },
  async up() {
    await page.mouse.up();
    return {};
  },
  async drag(c) {
    const p = await centre(c.selector);
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    await page.mouse.move(p.x + c.dx * p.box.width / 2,
      p.y + c.dy * p.box.height / 2, { steps: 5 });
    return {};
  },
  async key(c) {
    if (c.action === 'down') await page.keyboard.down(c.key);
    else await page.keyboard.up(c.key);
    return {};
  },
  async fill(c) {
    await page.locator(c.selector).fill(c.value);
    return {};
  },
  async check(c) {
    await page.locator(c.selector).check();
    return {};
  },
  async click(c) {
    await page.locator(c.selector).click();
    return {};
  },
  async fill_range(c) {
    await page.locator(c.selector).fill(String(c.value));
    return {};
  },
  async hide() {
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState',
        { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    return {};
  },
  async eval(c) {
    return { value: await page.evaluate(c.js) };
  },
  async screenshot(c) {
    await page.screenshot({ path: c.path, fullPage: true });
    return {};
  },
  async close() {
    await page.close({ runBeforeUnload: true });
    return {};
  },
  async errors() {
    return { errors };
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let c;
  try {
    c = JSON.parse(line);
    if (c.cmd === 'quit') break;
    const fn = commands[c.cmd];
    if (!fn) throw new Error(`unknown command ${c.cmd}`);
    const out = await fn(c);
    process.stdout.write(JSON.stringify({ ok: true, ...out }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e) }) +
      '\n');
  }
}
lines.close();
await browser.close();
process.exit(0);
