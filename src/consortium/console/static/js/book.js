// The securities pages (console/securities.py): the signed-in account's own parts, and an
// instrument's trade tape.
//
// Own parts (`.account-part[data-part-url]`): read for the account signed in in this page
// and from then on kept live by live.js (the contracts' logs).
// The tape (`#trade-tape`): every TradeExecuted log of the instrument is added as it comes
// (eth_subscribe logs over the node's WebSocket); after a reconnect the page asks
// eth_getLogs for every trade since the last block it saw, so none is missed. The book's
// depth and open orders are server-rendered parts that live.js re-reads on the same logs.

import "./sign_forms.js";
import * as wallet from "./wallet.js";
import { refresh } from "./live.js";
import { NodeSocket, hex, num } from "./rpc.js";

// --- the signed-in account's parts -------------------------------------------------------------

function accountParts() {
  const who = wallet.current();
  for (const el of document.querySelectorAll(".account-part[data-part-url]")) {
    if (!who) {
      delete el.dataset.liveUrl;
      el.textContent = "";
      continue;
    }
    el.dataset.liveUrl = `${el.dataset.partUrl}?account=${encodeURIComponent(who.address)}`;
    refresh(el);
  }
}

document.addEventListener("consortium:signer", accountParts);
accountParts();

// --- the trade tape -----------------------------------------------------------------------------

function eventsInterface() {
  const block = document.getElementById("consortium-events");
  const byAddress = block ? JSON.parse(block.textContent) : {};
  return new globalThis.ethers.Interface(Object.values(byAddress).flat());
}

let names = null; // account (lower-case) -> member name, as the server rendered them

function party(address) {
  const a = String(address).toLowerCase();
  names ??= JSON.parse(document.getElementById("member-names")?.textContent || "{}");
  return names[a] || `${a.slice(0, 10)}…${a.slice(-4)}`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = String(text);
  return td;
}

function tape(table) {
  const isin = table.dataset.isin;
  const contract = table.dataset.contract;
  const iface = eventsInterface();
  const topic = iface.getEvent("TradeExecuted").topicHash;
  const filter = { address: contract, topics: [topic] };
  const body = table.tBodies[0];
  const seen = new Set([...body.rows].map((row) => row.dataset.trade));
  let last = Number(table.dataset.height); // the last block whose trades this page has

  function add(log) {
    let parsed;
    try {
      parsed = iface.parseLog({ topics: log.topics, data: log.data });
    } catch {
      return;
    }
    const block = num(log.blockNumber);
    if (!parsed || parsed.args.isin !== isin) return;
    const id = String(parsed.args.tradeId);
    if (seen.has(id)) return;
    seen.add(id);
    const a = parsed.args;
    const row = document.createElement("tr");
    row.dataset.trade = id;
    row.className = "new";
    row.append(cell(id), cell(block), cell(a.price), cell(a.quantity), cell(party(a.buyer)),
      cell(party(a.seller)), cell(a.settleHeight));
    // newest first: ahead of the first row with a smaller id
    const after = [...body.rows].find((r) => Number(r.dataset.trade) < Number(id));
    body.insertBefore(row, after || null);
    document.getElementById("no-trades")?.setAttribute("hidden", "");
  }

  async function catchUp(socket) {
    // every trade log after the last block seen (the page's first render, or the last
    // catch-up): the subscription is renewed already, so anything newer arrives through it
    const head = num(await socket.call("eth_blockNumber"));
    const logs = await socket.call("eth_getLogs", [{ ...filter, fromBlock: hex(last + 1), toBlock: "latest" }]);
    for (const log of logs) add(log);
    last = Math.max(last, head);
  }

  const socket = new NodeSocket();
  socket.on("open", () => {
    table.dataset.live = "connected";
    catchUp(socket).catch((err) => console.warn("catch-up failed", err));
  });
  socket.on("close", () => {
    table.dataset.live = "reconnecting";
  });
  socket.subscribe(["logs", filter], add);
  globalThis.securitiesLive = { socket, get last() { return last; } };
}

const table = document.getElementById("trade-tape");
if (table) tape(table);
