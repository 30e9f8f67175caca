// Forms generated from declarations (console/forms.py), signed in the page.
//
// A form is `<form class="sign-form" data-form="{spec}">` with one input per field, named
// after it. Submitting it: every input is checked here first (an address's checksum or a
// member's name, whole numbers in smallest units, an ISIN's check digit, a date…); the call is
// encoded with ethers from the method's ABI fragment; then wallet.transact dry-runs it
// (eth_estimateGas: the contract's refusal in words, nothing sent), signs, sends and waits.
// A refusal from the node (not a member, frozen, nonce) is shown the same way. Elements with
// `data-roles="a b"` show only to a signed-in account holding one of those roles (and able
// to transact at all: an active member's, not frozen),
// `data-lacks="a"` only to one that holds none of them, `data-account="0x… 0x…"` only to
// those, `data-not-account="0x…"` to any other, `data-unless-member="1 3"` to anyone but
// those members' accounts, `data-if-member="1 3"` to those members' accounts only.

import * as wallet from "./wallet.js";

const E = () => globalThis.ethers;

class InputError extends Error {}

function fail(field, why) {
  throw new InputError(`${field.label}: ${why}`);
}

const WHOLE = /^[0-9]+$/;
const MAX_UINT = (1n << 256n) - 1n;

function whole(field, text, { positive = false, unit = "" } = {}) {
  const t = text.replace(/[_\s]/g, "");
  if (!WHOLE.test(t)) {
    fail(field, `expected a whole number${unit}, got "${text}"` + (/[.,]/.test(t) ? " (no decimal point)" : ""));
  }
  const n = BigInt(t);
  if (positive && n === 0n) fail(field, "expected a positive number");
  if (n > MAX_UINT) fail(field, "too large");
  return n;
}

/** An ISIN's check digit (ISO 6166): letters to numbers, then Luhn. */
export function isinValid(isin) {
  if (!/^[A-Z]{2}[A-Z0-9]{9}[0-9]$/.test(isin)) return false;
  const digits = [...isin.slice(0, 11)].map((c) => (/[0-9]/.test(c) ? c : String(c.charCodeAt(0) - 55))).join("");
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10 === Number(isin[11]);
}

function dateOf(field, text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const when = m && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  if (!m || when.getUTCFullYear() !== +m[1] || when.getUTCMonth() !== +m[2] - 1 || when.getUTCDate() !== +m[3]) {
    fail(field, `expected a date (yyyy-mm-dd), got "${text}"`);
  }
  return m;
}

async function memberOf(field, ref) {
  let member;
  try {
    member = await wallet.rpc("consortium_member", [/^[0-9]+$/.test(ref) ? Number(ref) : ref]);
  } catch (err) {
    fail(field, err.message);
  }
  if (!member) fail(field, `no member ${JSON.stringify(ref)} (give its id, name or one of its accounts)`);
  return member;
}

async function account(field, text) {
  const t = text.trim();
  if (/^0x[0-9a-fA-F]{40}$/.test(t)) {
    if (t !== t.toLowerCase() && t.slice(2) !== t.slice(2).toUpperCase()) {
      try {
        return E().getAddress(t); // a mixed-case address must pass its checksum (EIP-55)
      } catch {
        fail(field, `${t} fails its checksum (a mistyped letter?)`);
      }
    }
    return E().getAddress(t.toLowerCase());
  }
  if (/^0x/i.test(t)) fail(field, `"${t}" is not an address (0x and 40 hex digits)`);
  const member = await memberOf(field, t); // a member's name: its first account
  return E().getAddress(member.accounts[0]);
}

function list(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

function hexOf(field, text, bytes, what) {
  const t = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]*$/.test(t) || t.length % 2 || (bytes !== null && t.length !== bytes * 2)) {
    fail(field, `expected ${what}, got "${text}"`);
  }
  return "0x" + t.toLowerCase();
}

async function sha256File(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return E().hexlify(new Uint8Array(digest));
}

/** One field's ABI value from its input, checked; InputError naming the field otherwise. */
async function valueOf(field, form) {
  const input = form.elements.namedItem(field.name);
  if (field.kind === "flag") return Boolean(input?.checked);
  const text = String(input?.value ?? "").trim();
  const fileInput = form.elements.namedItem(`${field.name}__file`);
  const file = fileInput?.files?.[0];
  if (!text && !(field.kind === "digest" && file)) {
    if (field.required && field.default === null) fail(field, "required");
    if (field.default !== null && field.default !== undefined) return defaultValue(field);
    return emptyValue(field);
  }
  const lib = E();
  switch (field.kind) {
    case "account":
      return account(field, text);
    case "accounts":
      return Promise.all(list(text).map((t) => account(field, t)));
    case "member":
      return BigInt((await memberOf(field, text)).id);
    case "id":
      return whole(field, text, { positive: true });
    case "integer":
      return whole(field, text);
    case "amount":
      return whole(field, text, { unit: " in the smallest unit" });
    case "blocks-from-now": {
      // as the CLI's --blocks: the height this many blocks after the next one
      const blocks = whole(field, text, { positive: true, unit: " of blocks" });
      const height = BigInt(await wallet.rpc("eth_blockNumber", []));
      if (height + 1n + blocks > MAX_UINT) fail(field, "too many blocks");
      return height + 1n + blocks;
    }
    case "basis-points": {
      let bp;
      if (text.endsWith("%")) {
        const m = /^([0-9]+)(?:\.([0-9]{1,2}))?%$/.exec(text);
        if (!m) fail(field, `expected a percentage with at most two decimals, got "${text}"`);
        bp = BigInt(m[1]) * 100n + BigInt((m[2] || "").padEnd(2, "0") || "0");
      } else {
        bp = whole(field, text);
      }
      if (bp < 1n || bp > 10000n) fail(field, "expected 1 to 10000 basis points (0.01% to 100%)");
      return bp;
    }
    case "isin": {
      const isin = text.toUpperCase();
      if (!/^[A-Z]{2}[A-Z0-9]{9}[0-9]$/.test(isin)) fail(field, `"${text}" is not an ISIN (2 letters, 9 letters or digits, a check digit)`);
      if (!isinValid(isin)) fail(field, `${isin}: wrong check digit`);
      return isin;
    }
    case "currency": {
      const code = text.toUpperCase();
      if (!/^[A-Z]{3}$/.test(code)) fail(field, `"${text}" is not a currency code (3 letters, e.g. CNY)`);
      return code;
    }
    case "date": {
      const m = dateOf(field, text);
      return field.abi.startsWith("uint") ? BigInt(m[1] + m[2] + m[3]) : text;
    }
    case "choice": {
      const at = field.choices.indexOf(text);
      if (at < 0) fail(field, `expected one of ${field.choices.join(", ")}`);
      return field.abi.startsWith("uint") ? BigInt(at + 1) : text;
    }
    case "texts":
      return list(text);
    case "hash":
      return hexOf(field, text, 32, "a 0x hash (64 hex digits)");
    case "digest":
      return text ? hexOf(field, text, 32, "a 0x SHA-256 (64 hex digits) or a file") : sha256File(file);
    case "bytes":
      return hexOf(field, text, null, "0x hex bytes");
    case "node-id":
      return hexOf(field, text, 20, "a node id (40 hex digits)");
    case "node-ids":
      return list(text).map((t) => hexOf(field, t, 20, "node ids (40 hex digits)"));
    case "pubkey": {
      if (/^0x/i.test(text)) return hexOf(field, text, 32, "an ed25519 key (base64 or 0x + 64 hex)");
      let raw;
      try {
        raw = lib.decodeBase64(text);
      } catch {
        raw = new Uint8Array();
      }
      if (raw.length !== 32) fail(field, "expected an ed25519 public key (base64 of 32 bytes, or 0x hex)");
      return lib.hexlify(raw);
    }
    default:
      return text;
  }
}

function defaultValue(field) {
  const d = field.default;
  if (field.abi.startsWith("uint")) return BigInt(d);
  return d;
}

function emptyValue(field) {
  if (field.abi.endsWith("[]")) return [];
  if (field.abi.startsWith("uint")) return 0n;
  if (field.abi === "bool") return false;
  return "";
}

/** The call's ABI arguments, in the method's order: fixed ones, then the inputs. */
export async function argumentsOf(spec, form) {
  const values = [];
  const problems = [];
  const byName = Object.fromEntries(spec.fields.map((f) => [f.name, f]));
  for (const input of spec.fragment.inputs) {
    if (input.name in spec.fixed) {
      values.push(spec.fixed[input.name]);
      continue;
    }
    const field = byName[input.name];
    try {
      values.push(await valueOf({ ...field, label: field.label || field.name }, form));
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      problems.push(err.message);
      values.push(null);
    }
  }
  if (problems.length) throw new InputError(problems.join("; "));
  return values;
}

export function encode(spec, values) {
  return new (E().Interface)([spec.fragment]).encodeFunctionData(spec.fragment.name, values);
}

// --- events: what the outcome says ---------------------------------------------------------------

let eventAbis = null; // contract address -> ethers Interface of its events

function interfaces() {
  if (eventAbis) return eventAbis;
  eventAbis = {};
  const block = document.getElementById("consortium-events");
  const byAddress = block ? JSON.parse(block.textContent) : {};
  for (const [address, events] of Object.entries(byAddress)) {
    eventAbis[address.toLowerCase()] = new (E().Interface)(events);
  }
  return eventAbis;
}

function shown(value) {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(shown).join(", ")}]`;
  return String(value);
}

/** A receipt's logs decoded with the page's event ABIs: each event's name, its arguments
 * (`fields`: [{name, type, value}]), its raw log and its whole text ("ProposalCreated(id=4,
 * …)", for the raw view). */
export function describeLogs(receipt) {
  const out = [];
  for (const log of receipt.logs || []) {
    const iface = interfaces()[String(log.address).toLowerCase()];
    let parsed = null;
    try {
      parsed = iface?.parseLog({ topics: log.topics, data: log.data });
    } catch {
      parsed = null;
    }
    if (!parsed) continue;
    const fields = parsed.fragment.inputs.map((input, i) => ({ name: input.name, type: input.type, value: parsed.args[i] }));
    const text = `${parsed.name}(${fields.map((f) => `${f.name}=${shown(f.value)}`).join(", ")})`;
    out.push({ name: parsed.name, args: parsed.args, fields, log, text });
  }
  return out;
}

// --- the outcome: a line, then the events as a short list, the raw logs folded away -------------

const KEY_FIELDS = 6; // arguments an event shows in the list; the raw view has them all
const memberNames = new Map(); // address (lower-case) -> Promise of its member's name ("": none)

function memberName(address) {
  const key = address.toLowerCase();
  if (!memberNames.has(key)) {
    memberNames.set(key, wallet.rpc("consortium_member", [key]).then((m) => m?.name || "", () => ""));
  }
  return memberNames.get(key);
}

/** One argument as the list shows it: long hex shortened and long text cut (whole in the
 * title), an account replaced by its member's name once the node answers it. */
function keyField(field) {
  const value = shown(field.value);
  const span = Object.assign(document.createElement("span"), { className: "value" });
  if (/^0x[0-9a-fA-F]{16,}$/.test(value)) {
    span.textContent = `${value.slice(0, 8)}…${value.slice(-4)}`;
    span.title = value;
    if (field.type === "address") {
      memberName(value).then((name) => { if (name) span.textContent = name; });
    }
  } else if (value.length > 40) {
    span.textContent = `${value.slice(0, 37)}…`;
    span.title = value;
  } else {
    span.textContent = value;
  }
  return [`${field.name}=`, span];
}

/** The events as a list: "ProposalCreated(id=4, kind=grant-role, proposer=Bank A)", without
 * payload bytes or empty texts; the raw logs in a <details>, filled when opened. Line breaks
 * between the parts (collapsed on the page), so the text reads as the page shows it. */
function eventList(events) {
  const box = Object.assign(document.createElement("div"), { className: "receipt" });
  const list = box.appendChild(Object.assign(document.createElement("ul"), { className: "events" }));
  for (const e of events) {
    const shownFields = e.fields.filter((f) => f.type !== "bytes" && shown(f.value) !== "");
    if (list.firstChild) list.append("\n");
    const item = list.appendChild(Object.assign(document.createElement("li"), { className: "event" }));
    item.append(Object.assign(document.createElement("span"), { className: "event-name", textContent: e.name }), "(");
    shownFields.slice(0, KEY_FIELDS).forEach((f, i) => item.append(...(i ? [", "] : []), ...keyField(f)));
    if (shownFields.length > KEY_FIELDS) item.append(", …");
    item.append(")");
  }
  box.append("\n");
  const raw = box.appendChild(document.createElement("details"));
  raw.className = "raw-events";
  raw.append(Object.assign(document.createElement("summary"), { textContent: "raw events" }));
  const pre = raw.appendChild(document.createElement("pre"));
  // filled on opening: closed, the outcome's text is what it shows
  raw.addEventListener("toggle", () => {
    if (!raw.open || pre.textContent) return;
    pre.textContent = events.map((e) => `${e.text}\n  address ${e.log.address}\n  topics ${e.log.topics.join(" ")}` +
      `\n  data ${e.log.data}`).join("\n");
  });
  return box;
}

function say(form, text, state, tx = null, events = []) {
  // a form re-rendered live (a vote button) reports to a place of the page that stays
  const out = (form.dataset.outcome && document.querySelector(form.dataset.outcome)) ||
    form.querySelector(".outcome") ||
    form.appendChild(Object.assign(document.createElement("div"), { className: "outcome" }));
  out.textContent = text;
  out.dataset.state = state;
  out.setAttribute("role", state === "refused" ? "alert" : "status");
  if (tx) {
    // the transaction's page in the explorer: its decoded call and events
    const link = Object.assign(document.createElement("a"), {
      href: `${document.body.dataset.prefix || "/console"}/tx/${tx}`,
      textContent: " View the transaction",
      className: "tx-link",
      title: tx,
    });
    out.append(link);
  }
  if (events.length) out.append("\n", eventList(events));
}

/** Check, dry-run, sign, send and wait for one form; the receipt, or null if refused. */
export async function submit(form) {
  const spec = JSON.parse(form.dataset.form);
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (!wallet.current()) {
    say(form, "Sign in first: the transaction is signed in this page.", "refused");
    return null;
  }
  if (button) button.disabled = true;
  try {
    say(form, "Checking the inputs…", "checking");
    const values = await argumentsOf(spec, form);
    const data = encode(spec, values);
    const receipt = await wallet.transact(spec.contract, data, {
      margin: BigInt(spec.margin),
      stage: (name, hash) => {
        if (name === "checking") say(form, "Dry run (eth_estimateGas)…", "checking");
        if (name === "signing") say(form, "Signing in this page…", "signing");
        if (name === "sent") say(form, `Sent ${hash}; waiting for its block…`, "sent");
      },
    });
    const events = describeLogs(receipt);
    const block = BigInt(receipt.blockNumber);
    const hash = receipt.transactionHash;
    say(form, `${spec.done[0].toUpperCase()}${spec.done.slice(1)} in block ${block} (tx ${hash.slice(0, 10)}…${hash.slice(-4)}).`,
      "done", hash, events);
    // on the document: a live part may have re-rendered (detached) the form meanwhile
    document.dispatchEvent(new CustomEvent("consortium:done", { detail: { form, spec, receipt, events } }));
    return receipt;
  } catch (err) {
    // "Refused" only for what the node or the contract answered: a node that did not
    // answer refused nothing, and a transaction may be on its way
    const where = err instanceof InputError ? "Not sent, check" : err instanceof wallet.TxFailed ? "Failed"
      : err instanceof wallet.Unconfirmed ? "Not confirmed" : err.unreachable ? "Not sent" : "Refused";
    say(form, `${where}: ${err.message}`, "refused", err.receipt?.transactionHash || null);
    // the node may have refused the account itself (frozen, suspended): read it again
    if (!(err instanceof InputError)) wallet.refresh().catch(() => {});
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- roles: show what the signed-in account may do ---------------------------------------------------

export function applyRoles(root = document) {
  const who = wallet.current();
  const held = new Set(who?.roles || []);
  for (const el of root.querySelectorAll("[data-roles]")) {
    const wanted = el.dataset.roles.split(/\s+/).filter(Boolean);
    // every action is a transaction: none for an account the node would refuse outright
    const allowed = Boolean(who) && !who.barred && (wanted.length === 0 || wanted.some((r) => held.has(r)));
    el.hidden = !allowed;
  }
  for (const el of root.querySelectorAll("[data-lacks]")) {
    // a hint for a signed-in account without a role ("you need the committee role to…")
    el.hidden = !who || el.dataset.lacks.split(/\s+/).some((r) => held.has(r));
  }
  const me = who?.address.toLowerCase();
  const listed = (text) => text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const el of root.querySelectorAll("[data-account]")) {
    // the signed-in account's own things (a proposal it made: its revoke button)
    el.hidden = !who || !listed(el.dataset.account).includes(me);
  }
  for (const el of root.querySelectorAll("[data-not-account]")) {
    // why another account is not offered it ("only the secured party … may release it")
    el.hidden = !who || listed(el.dataset.notAccount).includes(me);
  }
  // what the signed-in account's member did already (a vote: a member votes once)
  const member = who?.member ? String(who.member.id) : null;
  for (const el of root.querySelectorAll("[data-unless-member]")) {
    el.hidden = member !== null && listed(el.dataset.unlessMember).includes(member);
  }
  for (const el of root.querySelectorAll("[data-if-member]")) {
    el.hidden = member === null || !listed(el.dataset.ifMember).includes(member);
  }
}

/** Show in `holder` the form of the contract method `select` picks (a partial the server
 * renders at select.dataset.url + the method). */
export function formOnChoice(select, holder) {
  select?.addEventListener("change", async () => {
    holder.replaceChildren();
    if (!select.value) return;
    const response = await fetch(select.dataset.url + select.value, { headers: { accept: "text/html" } });
    holder.innerHTML = await response.text();
    applyRoles(holder);
  });
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("sign-form")) return;
  event.preventDefault();
  submit(form);
});
document.addEventListener("consortium:signer", () => applyRoles());
document.addEventListener("htmx:afterSwap", (event) => applyRoles(event.target));
applyRoles();
