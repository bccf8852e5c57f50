// Drives nodegate's ops console in Debian's Chromium as the person on call would, with
// JavaScript OFF (the console must work with plain forms), and prints what they saw after
// each step as one JSON object on stdout; tests/e2e/test_console.py asserts on it.
//   node check_console.js BASE_URL TOKEN OUTDIR
// Steps: open /ops/ (sent to the login form), log in as "alice" with TOKEN, acknowledge the
// open incident, post a public update, add a private note, set two roles, drain backend n3
// and readmit it, log out; then the public page as anyone sees it. CHROMIUM overrides the
// browser (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, outDir] = process.argv.slice(2);
if (!base || !token || !outDir) {
  console.error('usage: node check_console.js BASE_URL TOKEN OUTDIR');
  process.exit(2);
}
const UPDATE = 'We are looking at node n2 <b>now</b>';
const NOTE = 'n2 disk at 97% on the node host';

// What the person on call sees (runs in the page; works with JavaScript off in the page,
// as evaluate() runs in the browser's own world).
function seen() {
  const text = (el, sel) => {
    const e = sel ? el.querySelector(sel) : el;
    return e ? e.innerText.trim() : null;
  };
  return {
    url: location.pathname + location.search,
    title: document.title,
    who: text(document, '#who'),
    flash: text(document, '.flash'),
    open: [...document.querySelectorAll('#open article.incident')].map((a) => ({
      id: Number(a.dataset.id),
      acked: a.dataset.acked,
      priority: a.dataset.priority,
      title: text(a, 'h3'),
      ack: text(a, '.ack'),
      escalation: text(a, '.escalation'),
      similar: text(a, '.similar'),
      expected: text(a, '.expected'),
      remedy: [...a.querySelectorAll('.remedy li')].map((l) => l.innerText.trim()),
      roles: Object.fromEntries([...a.querySelectorAll('form.roles input:not([type=hidden])')]
        .map((i) => [i.name, i.value])),
      timeline: [...a.querySelectorAll('ol.tl li')].map((l) => ({
        kind: l.dataset.kind, private: l.classList.contains('private'), text: l.innerText,
      })),
      ackButton: !!a.querySelector('form.ack button'),
    })),
    backends: [...document.querySelectorAll('#backends tr[data-backend]')].map((r) => ({
      name: r.dataset.backend, admin: r.dataset.admin, state: r.dataset.state,
      address: text(r, '.addr'),
    })),
    resolved: [...document.querySelectorAll('#resolved details.incident')].map((d) => d.id),
    hasScript: document.querySelectorAll('script').length > 0,
    body: document.body.innerText,
  };
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
  const out = { steps: {}, problems: [], statuses: [] };
  try {
    const context = await browser.newContext({
      viewport: { width: 1200, height: 900 }, javaScriptEnabled: false,
    });
    const page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && out.problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => out.problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => out.problems.push(`failed: ${r.url()}`));
    page.on('response', (r) => out.statuses.push([r.request().method(), new URL(r.url()).pathname,
      r.status()]));
    const t0 = Date.now();
    const step = async (name) => {
      console.error(`${Date.now() - t0} ms: ${name}`);
      out.steps[name] = await page.evaluate(seen);
      await page.screenshot({ path: path.join(outDir, `console-${name}.png`), fullPage: true });
    };
    const submit = async (form) => {
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }),
        form.locator('button').first().click()]);
    };
    const article = () => page.locator('#open article.incident').first();

    await page.goto(`${base}/ops/`, { waitUntil: 'load' });
    await step('start');
    await page.fill('input[name=name]', 'alice');
    await page.fill('input[name=token]', token);
    await submit(page.locator('form').first());
    await step('loggedIn');
    out.cookies = await context.cookies();

    await submit(article().locator('form.ack'));
    await step('acked');

    const upd = article().locator('form.update');
    await upd.locator('select[name=status]').selectOption('identified');
    await upd.locator('textarea[name=message]').fill(UPDATE);
    await submit(upd);
    await step('updated');

    const note = article().locator('form.note');
    await note.locator('textarea[name=text]').fill(NOTE);
    await submit(note);
    await step('noted');

    const roles = article().locator('form.roles');
    await roles.locator('input[name=commander]').fill('alice');
    await roles.locator('input[name=communicator]').fill('bob');
    await submit(roles);
    await step('roles');

    const row = () => page.locator('#backends tr[data-backend=n3]');
    await submit(row().locator('form', { hasText: 'Drain' }));
    await step('drained');
    await submit(row().locator('form', { hasText: 'Readmit' }));
    await step('readmitted');

    await page.goto(`${base}/`, { waitUntil: 'load' });
    out.publicPage = await page.evaluate(() => document.body.innerText);

    await page.goto(`${base}/ops/`, { waitUntil: 'load' });
    await submit(page.locator('header form'));
    await step('loggedOut');
    await page.goto(`${base}/ops/`, { waitUntil: 'load' });
    await step('afterLogout');
    await context.close();
    process.stdout.write(JSON.stringify(out));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
