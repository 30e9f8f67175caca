// Search the forum in the page: every channel's posts and documents are read from the node, a
// task force's opened here for the signed-in member (forum_crypto.js), and matched here — the
// words searched for and the plaintext never go to the node. A post matches when it holds
// every word (any case); a document when its name does, or when the search is its SHA-256
// (of the bytes kept, or of the file before sealing).

import * as wallet from "./wallet.js";
import { openRecord, parsePost } from "./forum_crypto.js";
import { prefix } from "./dom.js";
import "./live.js"; // the channel list follows the Forum's and Governance's logs

const words = (text) => text.toLowerCase().split(/\s+/).filter(Boolean);

async function readable(post) {
  if (!post.encrypted) return { title: post.title || "", body: post.body || "" };
  try {
    return parsePost(await openRecord(post, "post", post.content));
  } catch {
    return null; // not this account's to read
  }
}

function snippet(body, wanted) {
  const at = Math.max(0, body.toLowerCase().indexOf(wanted[0]) - 40);
  return (at ? "…" : "") + body.slice(at, at + 160) + (body.length > at + 160 ? "…" : "");
}

/** A document's name and plaintext hash, opened here in a task force's channel (or null). */
async function documentMeta(doc) {
  if (!doc.sealedMeta) return doc.meta || {};
  try {
    return JSON.parse(new TextDecoder().decode(await openRecord(doc, "document-meta", doc.sealedMeta)));
  } catch {
    return null;
  }
}

function result(out, href, title, detail) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = title;
  const more = document.createElement("div");
  more.className = "muted";
  more.textContent = detail;
  item.append(link, more);
  out.append(item);
}

/** Documents whose stored or plaintext SHA-256 is `text`, or whose name holds every word. */
async function searchDocuments(out, text, wanted) {
  const hash = /^(0x)?[0-9a-f]{64}$/.test(text) ? (text.startsWith("0x") ? text : `0x${text}`) : null;
  let found = 0;
  for (const doc of await wallet.rpc("consortium_forumDocuments", [])) {
    const meta = await documentMeta(doc);
    const name = String(meta?.name || "");
    const matches = hash ? [doc.sha256.toLowerCase(), String(meta?.sha256 || "").toLowerCase()].includes(hash)
      : Boolean(meta) && wanted.every((w) => name.toLowerCase().includes(w));
    if (!matches) continue;
    found += 1;
    result(out, `${prefix}/forum/channel/${encodeURIComponent(doc.channel)}#document-${doc.id}`,
      `${doc.channel} document #${doc.id} · ${meta ? name || "(unnamed)" : "Locked"}`,
      `SHA-256 ${doc.sha256} · ${doc.size} bytes kept ${doc.onChain ? "on chain" : "by a node (anchored)"}`);
  }
  return found;
}

async function search(form) {
  const out = document.getElementById("forum-results");
  const wanted = words(form.q.value);
  out.replaceChildren();
  const status = document.getElementById("forum-search-status");
  if (!wanted.length) {
    status.textContent = "Type the words to look for.";
    return;
  }
  status.textContent = "Searching…";
  try {
    const channels = await wallet.rpc("consortium_forumChannels");
    let found = 0;
    let sealed = 0;
    for (const channel of channels) {
      for (const post of await wallet.rpc("consortium_forumPosts", [channel.name])) {
        const opened = await readable(post);
        if (!opened) {
          sealed += 1;
          continue;
        }
        const text = `${opened.title}\n${opened.body}`.toLowerCase();
        if (!wanted.every((w) => text.includes(w))) continue;
        found += 1;
        result(out, `${prefix}/forum/channel/${encodeURIComponent(channel.name)}#post-${post.id}`,
          `${channel.name} #${post.id}${opened.title ? ` · ${opened.title}` : ""}`, snippet(opened.body, wanted));
      }
    }
    const documents = await searchDocuments(out, form.q.value.trim().toLowerCase(), wanted);
    status.textContent = `${found} post${found === 1 ? "" : "s"} and ${documents} document${documents === 1 ? "" : "s"} found` +
      (sealed ? `; ${sealed} sealed post${sealed === 1 ? "" : "s"} this page cannot open ${wallet.current() ? "(not this account's task forces)" : "(sign in with a member's keystore)"} not searched.` : ".");
  } catch (err) {
    status.textContent = `The search failed: ${err.message}`;
  }
}

document.addEventListener("submit", (event) => {
  if (event.target.id !== "forum-search") return;
  event.preventDefault();
  search(event.target);
});
