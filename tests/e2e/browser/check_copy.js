// Loads a mirror's static copy of the status page (index.html on a WebDAV or S3 server) in
// Debian's Chromium, as a reader would when nodegate's host is down, and prints what the
// reader sees as one JSON object on stdout; tests/e2e/test_mirror.py asserts on it.
//   node check_copy.js URL OUTDIR
// Two looks: JavaScript on (the copy judges its own age on the reader's clock) and off (the
// time the copy was made, in words). Each saves a screenshot in OUTDIR.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node check_copy.js URL OUTDIR');
  process.exit(2);
}

function seen() {
  const text = (sel) => {
    const e = document.querySelector(sel);
    return e ? e.innerText.trim() : null;
  };
  const stale = document.getElementById('copy-stale');
  return {
    copyState: document.documentElement.getAttribute('data-copy'),
    copy: text('#copy'),
    staleShown: !!stale && !stale.hidden && stale.getBoundingClientRect().height > 0,
    stale: stale ? stale.innerText.trim() : null,
    incidents: [...document.querySelectorAll('article.incident, details.incident')].map((a) => a.id),
    links: [...document.querySelectorAll('a[href], link[href]')].map((a) => a.getAttribute('href')),
    body: document.body.innerText,
  };
}

async function look(browser, name, options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const res = await page.goto(url, { waitUntil: 'load' });
  // the script has had its first tick once the copy's words name its age
  if (options.javaScriptEnabled !== false) {
    await page.waitForFunction(() => document.documentElement.hasAttribute('data-copy'), null,
      { timeout: 5000, polling: 50 }).catch(() => {});
  }
  const out = { name, httpStatus: res.status(), problems, seen: await page.evaluate(seen) };
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  await context.close();
  return out;
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    timeout: 15000,
  });
  try {
    const looks = {
      js: await look(browser, 'copy', { viewport: { width: 1100, height: 900 } }),
      nojs: await look(browser, 'copy-nojs', {
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
