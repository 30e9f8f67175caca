// The governance page, live: the proposals with their tallies, members, roles, officers and
// task forces (#governance-live) are re-read from the node on every new block announced over
// its WebSocket (eth_subscribe newHeads), and at once after this page's own transaction, so
// a vote cast anywhere shows without a reload. After a reconnect the part is read again
// whole, so nothing is missed. Choosing a kind of proposal shows its form.

import * as wallet from "./wallet.js";
import { applyRoles } from "./sign_forms.js";

const live = document.getElementById("governance-live");
const liveUrl = live?.dataset.liveUrl;
let inFlight = null;
let again = false;

async function refresh() {
  if (!live || !liveUrl) return;
  if (inFlight) {
    again = true; // one more read once this one is in
    return inFlight;
  }
  inFlight = (async () => {
    try {
      const response = await fetch(liveUrl, { headers: { accept: "text/html" } });
      if (response.ok) {
        live.innerHTML = await response.text();
        applyRoles(live);
        document.dispatchEvent(new CustomEvent("consortium:governance-refreshed"));
      }
    } catch {
      // the node restarting: the next block or reconnect reads again
    } finally {
      inFlight = null;
      if (again) {
        again = false;
        refresh();
      }
    }
  })();
  return inFlight;
}

function setLiveState(text) {
  document.body.dataset.live = text;
}

let delay = 500;

function connect() {
  const url = new URL("/", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    delay = 500;
    setLiveState("connected");
    socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
    refresh(); // catch up on whatever happened while disconnected
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.method === "eth_subscription") refresh();
  });
  socket.addEventListener("close", () => {
    setLiveState("reconnecting");
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10_000);
  });
}

document.addEventListener("consortium:done", () => {
  refresh();
  wallet.refresh().catch(() => {}); // a granted role shows in the header
});

const kinds = document.getElementById("proposal-kind");
kinds?.addEventListener("change", () => {
  for (const el of document.querySelectorAll(".proposal-form")) el.hidden = el.dataset.kind !== kinds.value;
});

if (live) connect();
