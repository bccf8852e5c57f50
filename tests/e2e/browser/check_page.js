// Loads nodegate's status page in Debian's Chromium as a user would, and prints what the
// user sees as one JSON object on stdout; tests/e2e/test_page.py asserts on it.
//   node check_page.js URL OUTDIR
// Three looks: a desktop window with JavaScript on (it must refresh itself in place), a
// phone (nothing wider than the screen), and JavaScript off (the same content). Each saves
// a screenshot in OUTDIR. CHROMIUM overrides the browser (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node check_page.js URL OUTDIR');
  process.exit(2);
}
const REFRESH_WAIT_MS = 12000; // the page refreshes every 5 s

// What a reader sees, read from the rendered page (runs in the page).
function seen() {
  const text = (el, sel) => {
    const e = sel ? el.querySelector(sel) : el;
    return e ? e.innerText.trim() : null;
  };
  const page = document.getElementById('page');
  return {
    title: document.title,
    h1: text(document, 'h1'),
    status: page.dataset.status,
    banner: text(document, '.banner h2'),
    bannerLine: text(document, '.banner p'),
    pools: [...document.querySelectorAll('section.pool')].map((p) => ({
      name: p.dataset.pool,
      status: p.dataset.status,
      badge: text(p, '.badge'),
      panic: text(p, '.panic'),
      days: p.querySelectorAll('.bar .d').length,
      dayTitles: [...p.querySelectorAll('.bar .d')].map((d) => d.title),
      barHeight: p.querySelector('.bar').getBoundingClientRect().height,
      uptime: text(p, '.foot .up'),
      nodes: [...p.querySelectorAll('li.node')].map((n) => ({
        name: text(n, '.n'),
        state: n.dataset.state,
        word: text(n, '.st'),
        why: text(n, '.why'),
        visible: n.getBoundingClientRect().height > 0,
      })),
    })),
    incidents: [...document.querySelectorAll('#incidents article.incident')].map((a) => ({
      id: a.id,
      title: text(a, 'h3'),
      badge: text(a, '.badge'),
      latest: text(a, '.latest'),
      entries: a.querySelectorAll('.tl li').length,
      text: text(a),
    })),
    past: [...document.querySelectorAll('#history details.incident')].map((d) => ({
      id: d.id,
      open: d.open,
      summary: text(d, 'summary'),
    })),
    relTimes: [...document.querySelectorAll('[data-t]')].map((e) => e.textContent),
    live: !document.getElementById('live').hidden,
    body: document.body.innerText,
    overflowX: document.documentElement.scrollWidth > window.innerWidth,
  };
}

async function look(browser, name, options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  let navigations = 0;
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure().errorText}`));
  page.on('framenavigated', (f) => f === page.mainFrame() && navigations++);
  const res = await page.goto(url, { waitUntil: 'load' });
  const out = { name, httpStatus: res.status(), problems, requests };
  out.seen = await page.evaluate(seen);
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  out.screenshot = path.join(outDir, `${name}.png`);
  if (options.javaScriptEnabled !== false && name === 'page') {
    // refreshed in place: the server's time moves on, the document stays the same one
    const before = await page.evaluate(() => {
      window.stillTheSameDocument = true;
      return document.getElementById('page').dataset.now;
    });
    out.refreshed = await page
      .waitForFunction((t) => document.getElementById('page').dataset.now !== t, before, {
        timeout: REFRESH_WAIT_MS,
        polling: 100,
      })
      .then(() => true, () => false);
    out.sameDocument = await page.evaluate(() => window.stillTheSameDocument === true);
    out.navigations = navigations;
    out.afterRefresh = await page.evaluate(seen);
  }
  await context.close();
  return out;
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  // launch() starts Chromium on a fresh --user-data-dir of its own, removed at close; the
  // flags keep it from calling out of this machine
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    timeout: 15000,
  });
  try {
    const looks = {
      js: await look(browser, 'page', { viewport: { width: 1100, height: 900 } }),
      phone: await look(browser, 'page-phone', {
        viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true,
        hasTouch: true,
      }),
      nojs: await look(browser, 'page-nojs', {
        viewport: { width: 1100, height: 900 }, javaScriptEnabled: false,
      }),
    };
    process.stdout.write(JSON.stringify(looks));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
