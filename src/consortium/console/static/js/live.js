// Parts of a page kept live over the node's WebSocket, without a reload. An element with
// `data-live-url` is re-read (its inner HTML, rendered by the server) when the node announces
// what it depends on — `data-live-on="heads"`: every new block (eth_subscribe newHeads);
// `data-live-on="logs"` with `data-live-address="0x… 0x…"`: a log of one of those contracts
// (eth_subscribe logs) — and after this page's own transaction. After a reconnect every part
// is read again whole, so nothing that happened meanwhile is missed. One read per part in
// flight, at most one a second: a fast chain does not flood the node. A read redirected to
// the sign-in form (the token revoked or expired) takes the whole page there (session.js).

import { NodeSocket } from "./rpc.js";
import { applyRoles } from "./sign_forms.js";
import { checkSession, signInAgain, signedOut } from "./session.js";

const MIN_INTERVAL_MS = 1000;
const parts = new Map(); // element -> {busy, again, last, timer}

function partState(el) {
  if (!parts.has(el)) parts.set(el, { busy: false, again: false, last: 0, timer: null });
  return parts.get(el);
}

/** Re-read one live part now (or as soon as its previous read and the interval allow). */
export function refresh(el) {
  const url = el.dataset.liveUrl;
  if (!url) return;
  const st = partState(el);
  if (st.busy) {
    st.again = true;
    return;
  }
  const wait = st.last + MIN_INTERVAL_MS - Date.now();
  if (wait > 0) {
    if (!st.timer) st.timer = setTimeout(() => { st.timer = null; refresh(el); }, wait);
    return;
  }
  st.busy = true;
  st.last = Date.now();
  (async () => {
    try {
      const response = await fetch(url, { headers: { accept: "text/html" } });
      if (signedOut(response)) {
        signInAgain(); // never the sign-in form inside the page
        return;
      }
      const html = await response.text();
      if (url === el.dataset.liveUrl) {
        el.innerHTML = html; // the server's answer, an error page's text included
        applyRoles(el);
        el.dispatchEvent(new CustomEvent("consortium:live-refreshed", { bubbles: true }));
      }
    } catch {
      // the node restarting: the next event or the reconnect reads again
    } finally {
      st.busy = false;
      if (st.again) {
        st.again = false;
        refresh(el);
      }
    }
  })();
}

function liveParts() {
  return [...document.querySelectorAll("[data-live-on]")];
}

export function refreshAll() {
  for (const el of liveParts()) refresh(el);
}

function addressesOf(el) {
  return (el.dataset.liveAddress || "").toLowerCase().split(/\s+/).filter(Boolean);
}

function connect() {
  const wanted = liveParts();
  if (!wanted.length) return;
  const socket = new NodeSocket(); // reopens after a drop, renewing the subscriptions
  socket.on("open", () => {
    document.body.dataset.live = "connected";
    refreshAll(); // catch up on whatever happened while disconnected
  });
  socket.on("close", () => {
    document.body.dataset.live = "reconnecting";
    checkSession(); // a revoked or expired token closes it too: then the sign-in form
  });
  if (wanted.some((el) => el.dataset.liveOn === "heads")) {
    socket.subscribe(["newHeads"], () => {
      for (const el of liveParts()) if (el.dataset.liveOn === "heads") refresh(el);
    });
  }
  const addresses = [...new Set(wanted.filter((el) => el.dataset.liveOn === "logs").flatMap(addressesOf))];
  if (addresses.length) {
    socket.subscribe(["logs", { address: addresses }], (log) => {
      const address = String(log?.address || "").toLowerCase();
      for (const el of liveParts()) {
        if (el.dataset.liveOn === "logs" && addressesOf(el).includes(address)) refresh(el);
      }
    });
  }
}

document.addEventListener("consortium:done", () => refreshAll());
connect();
