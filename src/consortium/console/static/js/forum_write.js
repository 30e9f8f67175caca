// Writing in the forum from the page, as `consortium forum` does (apps/forum/client.py): in a
// task force's channel the page registers the writer's forum key once, publishes a new key
// epoch (the channel key wrapped for each current member) when the current one was not
// wrapped for the current members, and seals what it writes under it; the node gets signed
// transactions of ciphertext only. Documents are kept on chain up to the forum's rule, else
// anchored by their SHA-256 and given to this node; every download is checked against the
// hash on chain (and, once opened, against the plaintext's hash its sealed metadata names).

import * as wallet from "./wallet.js";
import { channelKey, eciesEncrypt, newChannelKey, openRecord, postContent, rememberKey, seal, sha256Hex } from "./forum_crypto.js";

const FORUM_ABI = [
  "function post(string name, uint256 epoch, bytes content)",
  "function reply(uint256 thread, uint256 epoch, bytes content)",
  "function postMinutes(string name, uint256 epoch, bytes content, uint256[] proposals)",
  "function registerKey(bytes public_key)",
  "function rotateKey(string name, address[] members, bytes[] wrapped)",
  "function attach(string name, uint256 post_id, uint256 epoch, bytes meta, bytes blob)",
  "function anchor(string name, uint256 post_id, uint256 epoch, bytes meta, bytes32 sha256, uint256 size)",
  "function pin(uint256 post_id)",
  "function unpin(uint256 post_id)",
];
const STALE_EPOCH = ["is not the current epoch", "changed since key epoch"]; // another rotated first
const BLOBS = "/api/v1/forum/blobs/";
const STAGES = { checking: "Checking (dry run)…", signing: "Signing in the page…", sent: "Sent; waiting for its block…" };

const lib = () => globalThis.ethers;
let iface = null;
const forumAbi = () => (iface ||= new (lib().Interface)(FORUM_ABI));
const compose = () => document.getElementById("forum-compose");

function say(outcome, state, text) {
  outcome.dataset.state = state;
  outcome.textContent = text;
}

async function send(method, args, outcome, what) {
  const data = forumAbi().encodeFunctionData(method, args);
  return wallet.transact(compose().dataset.forum, data, {
    stage: (name) => { if (STAGES[name]) say(outcome, name, `${what}: ${STAGES[name]}`); },
  });
}

async function ensureKey(me, outcome) {
  if (await wallet.rpc("consortium_forumKey", [me])) return;
  const publicKey = wallet.publicKey();
  if (!publicKey) throw new Error("a browser wallet lends no key for a task force's channel: sign in with your keystore file");
  await send("registerKey", [publicKey], outcome, "Registering this account's forum key");
}

const sameMembers = (a, b) => JSON.stringify([...a].map((m) => m.toLowerCase()).sort()) === JSON.stringify([...b].map((m) => m.toLowerCase()).sort());

/** Publish a new key epoch wrapped for the task force's current members; its number. */
async function rotate(channel, members, outcome) {
  const publicKeys = await Promise.all(members.map((m) => wallet.rpc("consortium_forumKey", [m])));
  const missing = members.filter((_, i) => !publicKeys[i]);
  if (missing.length) {
    throw new Error(`cannot publish a key for task force ${channel}: ${missing.join(", ")} registered no forum key yet (any forum write of theirs, or \`consortium forum register-key\`, registers it)`);
  }
  const raw = newChannelKey();
  const wrapped = await Promise.all(publicKeys.map((k) => eciesEncrypt(k, raw)));
  await send("rotateKey", [channel, members, wrapped], outcome, "Publishing a new channel key for the current members");
  const epoch = Number((await wallet.rpc("consortium_forumChannel", [channel])).epoch);
  rememberKey(channel, epoch, raw);
  return epoch;
}

/** The epoch a write is sealed under now (0: the open channel) and its key. */
async function currentEpoch(channel, outcome) {
  const who = wallet.current();
  const found = await wallet.rpc("consortium_forumChannel", [channel]);
  if (!found) throw new Error(`no channel ${channel}`);
  if (!found.private) return { epoch: 0, key: null };
  const me = who.address.toLowerCase();
  if (!found.members.map((m) => m.toLowerCase()).includes(me)) {
    throw new Error(`${who.member?.name || me} is not a member of task force ${channel}: only its members write there`);
  }
  await ensureKey(me, outcome);
  let epoch = Number(found.epoch);
  if (!epoch || !sameMembers((await wallet.rpc("consortium_forumEpoch", [channel, epoch])).members, found.members)) {
    epoch = await rotate(channel, found.members, outcome);
  }
  return { epoch, key: await channelKey(channel, epoch) };
}

/** `write(epoch, sealer)` under the channel's current epoch; once more if another member
 * published a new key meanwhile (as the Python client does). */
async function sealedWrite(channel, outcome, write) {
  for (const attempt of [1, 2]) {
    const { epoch, key } = await currentEpoch(channel, outcome);
    const sealer = async (plain, purpose) => (epoch ? seal(key, channel, epoch, purpose, plain) : plain);
    try {
      return await write(epoch, sealer);
    } catch (err) {
      if (attempt === 2 || !STALE_EPOCH.some((s) => String(err.message).includes(s))) throw err;
    }
  }
  return null;
}

function wholeNumber(text, what) {
  const value = text.trim();
  if (!value) return null;
  if (!/^[0-9]+$/.test(value) || BigInt(value) === 0n) throw new Error(`${what}: "${value}" is not a positive whole number`);
  return BigInt(value);
}

async function postFrom(form) {
  const outcome = form.querySelector(".outcome");
  const channel = compose().dataset.channel;
  const body = form.body.value;
  try {
    const replyTo = wholeNumber(form.reply.value, "In reply to post");
    const proposals = form.minutes.value.split(/[\s,]+/).filter(Boolean).map((p) => wholeNumber(p, "Minutes of proposals"));
    if (!body.trim()) throw new Error("Text: write something first");
    let thread = null;
    if (replyTo !== null) {
      const parent = await wallet.rpc("consortium_forumPost", [Number(replyTo)]);
      if (!parent || parent.channel !== channel) throw new Error(`In reply to post: no post #${replyTo} in ${channel}`);
      thread = BigInt(parent.parent || parent.id);
    }
    const content = postContent(thread === null ? form.title.value : "", body);
    const receipt = await sealedWrite(channel, outcome, async (epoch, sealer) => {
      const sealed = await sealer(content, "post");
      if (thread !== null) return send("reply", [thread, epoch, sealed], outcome, "Reply");
      if (proposals.length) return send("postMinutes", [channel, epoch, sealed, proposals], outcome, "Minutes");
      return send("post", [channel, epoch, sealed], outcome, "Post");
    });
    form.reset();
    say(outcome, "done", `Posted${compose().dataset.private === "true" ? " (sealed in this page)" : ""} in block ${BigInt(receipt.blockNumber)}.`);
    document.dispatchEvent(new CustomEvent("consortium:done", { detail: { form, receipt } }));
  } catch (err) {
    say(outcome, "refused", err.message);
  }
}

async function attachFrom(form) {
  const outcome = form.querySelector(".outcome");
  const { channel, maxAttachment, maxFile } = compose().dataset;
  try {
    const file = form.file.files[0];
    if (!file) throw new Error("File: pick a file first");
    // a node keeps an anchored file of at most maxFile bytes: refused before anything is
    // anchored, so no record is left on chain without its bytes
    if (file.size + 64 > Number(maxFile)) throw new Error(`File: ${file.name} is ${file.size} bytes; a node keeps at most ${maxFile}`);
    const post = wholeNumber(form.post.value, "To post") ?? 0n;
    const plain = new Uint8Array(await file.arrayBuffer());
    const plainSha = await sha256Hex(plain);
    let kept = "";
    const receipt = await sealedWrite(channel, outcome, async (epoch, sealer) => {
      const blob = await sealer(plain, "document");
      const onChain = blob.length <= Number(maxAttachment);
      const meta = { name: file.name, type: file.type || "application/octet-stream", size: plain.length, sha256: plainSha };
      if (!onChain) meta.location = location.origin;
      const sealedMeta = await sealer(new TextEncoder().encode(JSON.stringify(meta)), "document-meta");
      const blobSha = await sha256Hex(blob);
      kept = `${onChain ? "on chain" : "anchored, kept by this node"}; SHA-256 ${blobSha}`;
      if (onChain) return send("attach", [channel, post, epoch, sealedMeta, blob], outcome, "Attaching");
      const done = await send("anchor", [channel, post, epoch, sealedMeta, blobSha, blob.length], outcome, "Anchoring");
      say(outcome, "sent", "Anchored; giving the bytes to this node…");
      const answer = await fetch(BLOBS + blobSha, { method: "PUT", body: blob, headers: { "content-type": "application/octet-stream" } });
      if (!answer.ok) {
        const why = await answer.json().catch(() => ({}));
        throw new Error(`the node refused the document's bytes: ${why.error || `HTTP ${answer.status}`}`);
      }
      return done;
    });
    form.reset();
    say(outcome, "done", `Attached ${file.name} (${plain.length} bytes) in block ${BigInt(receipt.blockNumber)}: ${kept}.`);
    document.dispatchEvent(new CustomEvent("consortium:done", { detail: { form, receipt } }));
  } catch (err) {
    say(outcome, "refused", err.message);
  }
}

/** The node API that keeps an anchored document, as its metadata names it (an http(s) URL),
 * or null. */
function keeperOf(meta) {
  try {
    const url = new URL(String(meta?.location || ""));
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.href.replace(/\/+$/, "");
  } catch {
    return null;
  }
}

/** An anchored document's bytes: from this node, else from the node that keeps it (its blob
 * GET allows any origin; no credential is sent there), as `consortium forum fetch` does.
 * [bytes, where from]; an Error saying which node was asked and what it answered. */
async function blobBytes(doc, meta) {
  const own = await fetch(BLOBS + doc.sha256).catch((err) => err);
  if (own instanceof Response && own.ok) return [new Uint8Array(await own.arrayBuffer()), "this node"];
  const ownSays = own instanceof Response ? `HTTP ${own.status}` : `it did not answer: ${own.message}`;
  const cli = `outside the browser, \`consortium forum fetch ${doc.id} --out FILE\` asks the node that keeps it (with your API token) and any \`--source URL\``;
  const keeper = keeperOf(meta);
  if (!keeper || new URL(keeper).origin === location.origin) {
    throw new Error(`this node keeps no copy (${ownSays})${keeper ? ", and it is the node the document names" : ", and the document names no node that keeps it"}; ${cli}`);
  }
  let answer;
  try {
    answer = await fetch(keeper + BLOBS + doc.sha256, { mode: "cors", credentials: "omit" });
  } catch (err) {
    throw new Error(`this node keeps no copy (${ownSays}); the node that keeps it, ${keeper}, was asked but could not be read from this page (it is down, or it asks for an API token: ${err.message}); ${cli}`);
  }
  if (!answer.ok) {
    throw new Error(`this node keeps no copy (${ownSays}); the node that keeps it, ${keeper}, was asked and answered HTTP ${answer.status}; ${cli}`);
  }
  return [new Uint8Array(await answer.arrayBuffer()), keeper];
}

/** A document's bytes (from this node or the one that keeps it), checked against the hash
 * on chain, opened in a task force's channel and checked again against the plaintext's
 * hash; saved as its file. */
const downloads = new Map(); // document id -> [state, text]: kept across live re-renders

function downloadSays(id, state, text) {
  downloads.set(id, [state, text]);
  const outcome = document.querySelector(`#document-${id} .download-outcome`);
  if (outcome) say(outcome, state, text);
}

async function download(button) {
  const id = button.dataset.document;
  try {
    downloadSays(id, "checking", "Downloading…");
    const doc = await wallet.rpc("consortium_forumDocument", [Number(id)]);
    if (!doc) throw new Error(`no document ${id}`);
    let meta = doc.meta;
    if (doc.sealedMeta) meta = JSON.parse(new TextDecoder().decode(await openRecord(doc, "document-meta", doc.sealedMeta)));
    let [data, source] = await blobBytes(doc, meta);
    const got = await sha256Hex(data);
    if (got !== doc.sha256.toLowerCase()) {
      throw new Error(`refused: the bytes ${source} served hash to ${got}, not ${doc.sha256} as on chain`);
    }
    if (doc.epoch) data = await openRecord(doc, "document", data);
    if (typeof meta?.sha256 === "string" && (await sha256Hex(data)) !== meta.sha256.toLowerCase()) {
      throw new Error("refused: the opened document does not match the hash its metadata names");
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([data], { type: meta?.type || "application/octet-stream" }));
    link.download = meta?.name || `document-${doc.id}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    downloadSays(id, "done", `${data.length} bytes${source === "this node" ? "" : ` from ${source}, the node that keeps it`}, SHA-256 matches the chain`);
  } catch (err) {
    downloadSays(id, "refused", err.message);
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id !== "forum-post" && form.id !== "forum-attach") return;
  event.preventDefault();
  (form.id === "forum-post" ? postFrom : attachFrom)(form);
});

/** Pin a post as an announcement, or unpin it (officers in office; the contract decides). */
async function pin(button) {
  const outcome = document.getElementById("forum-pin-outcome");
  const pinned = button.dataset.pinned === "true";
  const what = `${pinned ? "Unpinning" : "Pinning"} post #${button.dataset.post}`;
  try {
    const receipt = await send(pinned ? "unpin" : "pin", [BigInt(button.dataset.post)], outcome, what);
    say(outcome, "done", `Post #${button.dataset.post} ${pinned ? "unpinned" : "pinned as an announcement"} in block ${BigInt(receipt.blockNumber)}.`);
    document.dispatchEvent(new CustomEvent("consortium:done", { detail: { receipt } }));
  } catch (err) {
    say(outcome, "refused", `${what}: ${err.message}`);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button.forum-download, button.forum-reply, button.forum-pin");
  if (!button) return;
  if (button.classList.contains("forum-download")) {
    download(button);
    return;
  }
  if (button.classList.contains("forum-pin")) {
    pin(button);
    return;
  }
  const field = document.getElementById("forum-reply-to");
  field.value = button.dataset.reply;
  document.getElementById("forum-body").focus();
});

/** A task force's channel offers writing to its members only (the contract refuses anyone
 * else; the page says so up front instead of offering forms that cannot succeed); pinning
 * is offered to officers in office. */
function offer() {
  const el = compose();
  if (!el) return;
  const who = wallet.current();
  const members = el.dataset.members.split(" ").filter(Boolean);
  const outsider = Boolean(who) && el.dataset.private === "true" && !members.includes(who.address.toLowerCase());
  for (const form of el.querySelectorAll("form")) form.hidden = outsider;
  el.querySelector(".outsider").hidden = !outsider;
  for (const button of document.querySelectorAll("button.forum-reply")) button.hidden = outsider;
  const officer = Boolean(who) && !outsider && el.dataset.officers.split(" ").includes(who.address.toLowerCase());
  for (const button of document.querySelectorAll("button.forum-pin")) button.hidden = !officer;
}

document.addEventListener("consortium:signer", offer);
document.addEventListener("consortium:live-refreshed", offer);
document.addEventListener("consortium:live-refreshed", () => {
  for (const [id, [state, text]] of downloads) downloadSays(id, state, text);
});
