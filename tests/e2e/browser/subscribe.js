// Subscribes to nodegate's status updates in Debian's Chromium as a user would, JavaScript
// off (the form must work without it), and prints what the user saw as JSON on stdout;
// tests/e2e/test_subscriptions.py asserts on it.
//   node subscribe.js subscribe PAGE_URL EMAIL [POOL]   fills the page's form and sends it
//   node subscribe.js confirm LINK                      opens a mail's link, presses the button
// CHROMIUM overrides the browser (default /usr/bin/chromium).
'use strict';
const { chromium } = require('playwright-core');

const [what, url, email, pool] = process.argv.slice(2);
if (!['subscribe', 'confirm'].includes(what) || !url || (what === 'subscribe' && !email)) {
  console.error('usage: node subscribe.js subscribe PAGE_URL EMAIL [POOL] | confirm LINK');
  process.exit(2);
}

// What the answer page says (runs in the page).
function answer() {
  const t = (sel) => {
    const e = document.querySelector(sel);
    return e ? e.innerText.trim() : null;
  };
  return { url: location.href, heading: t('h1'), message: t('#message'), button: t('#confirm') };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic'],
    timeout: 30000,
  });
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const out = {};
    if (what === 'subscribe') {
      const r = await page.goto(url, { waitUntil: 'load' });
      out.pageStatus = r.status();
      out.formVisible = await page.isVisible('#subscribe-form');
      out.pools = await page.$$eval('#subscribe-form input[name=pool]',
        (l) => l.map((e) => e.value));
      await page.fill('#subscribe-email', email);
      if (pool) await page.check(`#subscribe-form input[name=pool][value="${pool}"]`);
      const [resp] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.click('#subscribe-button'),
      ]);
      out.status = resp.status();
      Object.assign(out, await page.evaluate(answer));
    } else {
      const r = await page.goto(url, { waitUntil: 'load' });
      out.linkStatus = r.status();
      out.before = await page.evaluate(answer);
      const [resp] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.click('#confirm'),
      ]);
      out.status = resp.status();
      Object.assign(out, await page.evaluate(answer));
    }
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
