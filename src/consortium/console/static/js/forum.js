// The forum in the page: a task force's posts are sealed for its members (apps/forum/
// sealing.py). For an account signed in with its keystore, the page unwraps the channel key
// of the post's epoch (ECIES, wallet.js: the account key never leaves it) and opens the post
// (AES-256-GCM bound to its channel, epoch and purpose) here (forum_crypto.js); the node only
// ever serves the ciphertext. Anyone else sees the post locked, saying why. Sealed document
// names open the same way.

import * as wallet from "./wallet.js";
import { openRecord, parsePost } from "./forum_crypto.js";
import "./live.js";
import "./forum_write.js";

function show(post, state, title, body) {
  post.dataset.state = state;
  post.querySelector(".title").textContent = title;
  post.querySelector(".body").textContent = body;
}

function lockedWhy(channel, err) {
  return `Encrypted for task force ${channel}'s members: ${err ? err.message : "sign in with a member's keystore to read it"}.`;
}

async function openPost(post) {
  const { channel, epoch, content } = post.dataset;
  if (!wallet.current()) return show(post, "locked", "Locked", lockedWhy(channel));
  try {
    const { title, body } = parsePost(await openRecord({ channel, epoch }, "post", content));
    show(post, "open", title || "(untitled)", body);
  } catch (err) {
    show(post, "locked", "Locked", lockedWhy(channel, err));
  }
}

async function openDocumentName(cell) {
  const { channel, epoch, sealedMeta } = cell.dataset;
  try {
    const meta = JSON.parse(new TextDecoder().decode(await openRecord({ channel, epoch }, "document-meta", sealedMeta)));
    cell.textContent = String(meta.name || "(unnamed)");
    cell.dataset.state = "open";
  } catch (err) {
    cell.textContent = "Locked";
    cell.title = wallet.current() ? err.message : "sign in with a member's keystore to read it";
    cell.dataset.state = "locked";
  }
}

/** Open every sealed post and document name on the page the signed-in account may read;
 * lock the others. */
export async function openAll(root = document) {
  await Promise.all([
    ...[...root.querySelectorAll(".post[data-content]")].map(openPost),
    ...[...root.querySelectorAll("[data-sealed-meta]")].map(openDocumentName),
  ]);
  document.dispatchEvent(new CustomEvent("consortium:forum-opened"));
}

document.addEventListener("consortium:signer", () => openAll());
document.addEventListener("consortium:live-refreshed", (event) => openAll(event.target));
openAll();
