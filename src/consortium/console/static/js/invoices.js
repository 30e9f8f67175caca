// The invoices page (console/invoices.py): the list's filter (a state, the signed-in
// account's part), and issuing or importing invoices whose fingerprints are computed here.
//
// The consortium key is a file the user picks; it stays in this page (WebCrypto HMAC-SHA256
// over the normalised fields the node answers for each row). An import: the node checks the
// rows by the CLI's rules (/invoices/check), then each good row is checked on chain here (a
// duplicate, the issue call's dry run), nothing is sent if any row is refused and "all or
// nothing" is ticked, and each row is one signed issue transaction. The report lists the
// imported and refused rows by line, as `consortium invoice import` does.

import "./sign_forms.js";
import * as wallet from "./wallet.js";
import { refresh } from "./live.js";

const E = () => globalThis.ethers;
const prefix = () => document.body.dataset.prefix || "/console";
let hmacKey = null;

// --- the list ---------------------------------------------------------------------------------

function listUrl() {
  const list = document.getElementById("invoice-list");
  const form = document.getElementById("invoice-filter");
  const query = new URLSearchParams();
  const state = form.elements.namedItem("state").value;
  const role = form.elements.namedItem("role").value;
  if (state) query.set("state", state);
  if (role) {
    query.set("role", role);
    const who = wallet.current();
    if (who) query.set("account", who.address);
  }
  list.dataset.liveUrl = `${list.dataset.baseUrl}?${query}`;
  refresh(list);
}

document.getElementById("invoice-filter")?.addEventListener("change", listUrl);
document.getElementById("invoice-filter")?.addEventListener("submit", (e) => e.preventDefault());
document.addEventListener("consortium:signer", () => {
  if (document.getElementById("invoice-filter")?.elements.namedItem("role").value) listUrl();
});

// --- the consortium key -----------------------------------------------------------------------------

async function loadKey(file) {
  const state = document.getElementById("key-state");
  hmacKey = null;
  const text = (await file.text()).trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    state.textContent = `${file.name} does not hold a consortium key (32 bytes in hex).`;
    state.dataset.state = "refused";
    return;
  }
  hmacKey = await crypto.subtle.importKey("raw", E().getBytes("0x" + text), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  state.textContent = `Key loaded from ${file.name} (kept in this page only).`;
  state.dataset.state = "done";
}

document.getElementById("key-file")?.addEventListener("change", (e) => {
  const file = e.target.files?.[0];
  if (file) loadKey(file);
});

async function fingerprint(message) {
  const mac = await crypto.subtle.sign("HMAC", hmacKey, new TextEncoder().encode(message));
  return E().hexlify(new Uint8Array(mac));
}

// --- importing ----------------------------------------------------------------------------------------

function issueSpec() {
  return JSON.parse(document.getElementById("invoice-issue").textContent);
}

function say(form, text, state) {
  const out = form.querySelector(".outcome");
  out.textContent = text;
  out.dataset.state = state;
  out.setAttribute("role", state === "refused" ? "alert" : "status");
}

// a table in its own scrolling box (div.table-scroll: tables.js, console.css)
function table(caption, columns, rows) {
  const box = Object.assign(document.createElement("div"), { className: "table-scroll" });
  const t = box.appendChild(document.createElement("table"));
  t.createCaption().textContent = caption;
  const head = t.createTHead().insertRow();
  for (const c of columns) head.appendChild(document.createElement("th")).textContent = c;
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) {
      const td = tr.insertCell();
      if (value instanceof Node) td.append(value);
      else td.textContent = String(value);
    }
  }
  return box;
}

async function checkOnChain(row, spec, who) {
  const fp = await fingerprint(row.message);
  const existing = await wallet.rpc("consortium_invoice", [fp]);
  if (existing) {
    throw new Error(`invoice ${row.number} is already registered on chain (a duplicate; fingerprint ${fp.slice(0, 18)}…)`);
  }
  const args = [fp, row.seller, row.buyer, BigInt(row.amount), row.currency, BigInt(row.dueDate)];
  const data = new (E().Interface)([spec.fragment]).encodeFunctionData("issue", args);
  await wallet.dryRun(spec.contract, data); // the contract's refusal, in words
  return { fp, data };
}

/** A refusal of the node's check as the CLI words it: a repeated row's real fingerprint
 * (under the consortium key, which only this page has) in the place the node marks. */
async function quoted(refusal) {
  if (!refusal.fingerprintOf) return { line: refusal.line, reason: refusal.reason };
  const fp = await fingerprint(refusal.fingerprintOf);
  return { line: refusal.line, reason: refusal.reason.replace("{fingerprint}", fp.slice(0, 18)) };
}

/** Check and import CSV text; answers the report {rows, imported, refused, sent}. */
async function importCsv(text, strict, form) {
  const who = wallet.current();
  if (!who) throw new Error("sign in first: the transactions are signed in this page");
  if (!hmacKey) throw new Error("choose the consortium key file first (below): fingerprints are computed with it");
  say(form, "Checking every row…", "checking");
  const answer = await fetch(`${prefix()}/invoices/check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ csv: text, signer: who.address }),
  });
  const checked = await answer.json();
  if (checked.error) throw new Error(checked.error);
  const spec = issueSpec();
  const report = { rows: checked.rows, imported: [], refused: await Promise.all(checked.refused.map(quoted)), sent: false };
  const ready = [];
  for (const row of checked.good) {
    try {
      ready.push({ row, ...(await checkOnChain(row, spec, who)) });
    } catch (err) {
      report.refused.push({ line: row.line, reason: err.message });
    }
  }
  report.refused.sort((a, b) => a.line - b.line);
  if (strict && report.refused.length) return report;
  let done = 0;
  for (const { row, fp, data } of ready) {
    say(form, `Sending row ${row.line} (${++done} of ${ready.length})…`, "sent");
    try {
      const receipt = await wallet.transact(spec.contract, data);
      report.sent = true;
      report.imported.push({ line: row.line, number: row.number, fingerprint: fp, tx: receipt.transactionHash, block: BigInt(receipt.blockNumber) });
    } catch (err) {
      report.refused.push({ line: row.line, reason: err.message });
    }
  }
  report.refused.sort((a, b) => a.line - b.line);
  document.dispatchEvent(new CustomEvent("consortium:done", { detail: { form } }));
  return report;
}

function invoiceLink(fp) {
  // the invoice's explorer page, its fingerprint shortened (the title keeps it whole)
  return Object.assign(document.createElement("a"), {
    href: `${prefix()}/invoice/${fp}`, textContent: `${fp.slice(0, 12)}…${fp.slice(-4)}`, title: fp,
  });
}

function showReport(form, report, strict) {
  const box = form.querySelector(".report");
  box.replaceChildren();
  if (report.imported.length) {
    box.append(table(`Imported (${report.imported.length} of ${report.rows} rows)`,
      ["line", "invoice", "fingerprint", "block"],
      report.imported.map((r) => [r.line, r.number, invoiceLink(r.fingerprint), r.block])));
  }
  if (report.refused.length) {
    box.append(table(`Refused (${report.refused.length} rows)`, ["line", "reason"],
      report.refused.map((r) => [r.line, r.reason])));
  }
  const nothing = strict && report.refused.length && !report.sent;
  say(form, nothing ? "All or nothing: nothing was sent." :
    `Imported ${report.imported.length} of ${report.rows} rows; refused ${report.refused.length}.`,
  report.refused.length ? "refused" : "done");
}

function csvCell(value) {
  const text = String(value ?? "");
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

document.getElementById("import-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const file = form.elements.namedItem("csv").files?.[0];
  const strict = form.elements.namedItem("strict").checked;
  form.querySelector(".report").replaceChildren();
  if (!file) return say(form, "Choose a CSV file first.", "refused");
  try {
    showReport(form, await importCsv(await file.text(), strict, form), strict);
  } catch (err) {
    say(form, `Not imported: ${err.message}`, "refused");
  }
});

document.getElementById("issue-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const names = ["seller_tax_id", "invoice_number", "issue_date", "amount", "currency", "due_date", "buyer", "seller"];
  const values = names.map((n) => form.elements.namedItem(n).value.trim());
  const text = `${names.join(",")}\n${values.map(csvCell).join(",")}\n`;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const report = await importCsv(text, true, form);
    if (report.imported.length) {
      const r = report.imported[0];
      say(form, `Issued invoice ${r.number} in block ${r.block}: fingerprint ${r.fingerprint}.`, "done");
    } else {
      say(form, `Refused: ${report.refused.map((r) => r.reason).join("; ")}`, "refused");
    }
  } catch (err) {
    say(form, `Not issued: ${err.message}`, "refused");
  } finally {
    button.disabled = false;
  }
});
