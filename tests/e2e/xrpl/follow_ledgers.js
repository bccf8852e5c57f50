// The real client of tests/e2e/test_ws_failover.py: xrpl.js connects to nodegate
// (node follow_ledgers.js ws://127.0.0.1:PORT SECONDS), subscribes to the ledger stream and
// prints one JSON line per event: {"event":"ledgerClosed","ledger_index":N} for each ledger,
// "subscribed", "disconnected" (with its code), "error", then "done" after SECONDS.
"use strict";
const xrpl = require("xrpl");

const url = process.argv[2];
const seconds = Number(process.argv[3] || "5");

function out(doc) {
  process.stdout.write(JSON.stringify(doc) + "\n");
}

async function main() {
  const client = new xrpl.Client(url, { connectionTimeout: 5000 });
  client.on("ledgerClosed", (l) => out({ event: "ledgerClosed", ledger_index: l.ledger_index }));
  client.on("disconnected", (code) => out({ event: "disconnected", code }));
  client.on("error", (...args) => out({ event: "error", error: args.map(String) }));
  await client.connect();
  const r = await client.request({ command: "subscribe", streams: ["ledger"] });
  out({ event: "subscribed", ledger_index: r.result.ledger_index });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  out({ event: "done" });
  await client.disconnect();
}

main().then(
  () => process.exit(0),
  (e) => {
    out({ event: "failed", error: String((e && e.stack) || e) });
    process.exit(1);
  },
);
