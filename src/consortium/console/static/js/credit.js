// The credit page (console/credit.py): a delivered report checked against its hash on chain.
// (A consent's expiry, in blocks from now, is its form's "blocks-from-now" input:
// sign_forms.js.)
//
// A report file (picked, or fetched from the location the agency delivered) is hashed here
// with WebCrypto and compared with the query's reportHash: a match is said (and a download
// saved), a mismatch refused in words with both hashes and nothing saved — the words of
// `consortium credit verify` / `download`. The file never goes to the node.

import "./sign_forms.js";
import "./registry_whole.js"; // a query, record or consent shown whole
import { rpc } from "./wallet.js";

const form = document.getElementById("report-form");
const out = document.getElementById("report-outcome");
const hexOf = (buf) => "0x" + [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

function say(text, state) {
  out.textContent = text;
  out.dataset.state = state;
  out.setAttribute("role", state === "refused" ? "alert" : "status");
}

class Refused extends Error {}

/** The query whose report is checked, with a delivered hash (Refused otherwise). */
async function deliveredQuery() {
  const text = form.elements.namedItem("query_id").value.trim();
  if (!/^[1-9][0-9]*$/.test(text)) throw new Refused(`query id: expected a positive whole number, got "${text}"`);
  const q = await rpc("consortium_creditQuery", [Number(text)]);
  if (q === null) throw new Refused(`no query ${text}`);
  if (!q.reportHash) throw new Refused(`query ${text} is ${q.state}: no report was delivered yet`);
  return q;
}

/** The verdict on `bytes` for query `q`: true when they are the delivered report. */
async function verdict(q, bytes, what) {
  const actual = hexOf(await crypto.subtle.digest("SHA-256", bytes));
  if (actual === q.reportHash.toLowerCase()) {
    say(`OK: ${what} matches the report hash delivered for query ${q.id} (${q.reportHash})`, "done");
    return true;
  }
  say(`MISMATCH: ${what}'s SHA-256 is ${actual}, but the agency delivered ${q.reportHash} on chain `
      + `for query ${q.id}: this is NOT the delivered report (nothing saved)`, "refused");
  return false;
}

async function guarded(step) {
  say("Checking…", "busy");
  try {
    await step();
  } catch (err) {
    say(`Refused: ${err.message}`, "refused");
  }
}

form?.addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    const q = await deliveredQuery();
    const file = form.elements.namedItem("file").files?.[0];
    if (!file) throw new Refused("pick the report file you received");
    await verdict(q, await file.arrayBuffer(), `the file ${file.name}`);
  });
});

document.getElementById("report-download")?.addEventListener("click", () => guarded(async () => {
  const q = await deliveredQuery();
  let url;
  try {
    url = new URL(q.location);
  } catch {
    url = null;
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new Refused(`query ${q.id} names no report location this page can fetch `
                      + `(${q.location ? `"${q.location}"` : "none"}): pick the file you received and verify it`);
  }
  let response;
  try {
    response = await fetch(url, { credentials: "omit" });
  } catch (err) {
    throw new Refused(`could not fetch ${url} (${err.message})`);
  }
  if (!response.ok) throw new Refused(`${url} answered HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  if (!(await verdict(q, bytes, `the file at ${url}`))) return;
  let name = url.pathname.split("/").pop() || "";
  try {
    name = decodeURIComponent(name);
  } catch {
    // a malformed %-escape: keep the name as written
  }
  name = name.replace(/[\\/:*?"<>|\x00-\x1f]/g, "_") || `report-${q.id}`;
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([bytes])), download: name,
  });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  out.textContent += ` — saved as ${name}`;
}));
