// The forum in the page: a task force's posts are sealed for its members (apps/forum/
// sealing.py). For an account signed in with its keystore, the page unwraps the channel key
// of the post's epoch (ECIES, wallet.js: the account key never leaves it) and opens the post
// (AES-256-GCM bound to its channel, epoch and purpose) here; the node only ever serves the
// ciphertext. Anyone else sees the post locked, saying why.

import * as wallet from "./wallet.js";
import "./live.js";

const NONCE = 12;
const TAG = 16;
const keys = new Map(); // "account|channel|epoch" -> Promise of the channel's AES key

function context(channel, epoch, purpose) {
  return new TextEncoder().encode(["consortium-forum-v1", channel, String(epoch), purpose].join("\x1f"));
}

async function channelKey(who, channel, epoch) {
  const id = `${who.address}|${channel}|${epoch}`;
  if (!keys.has(id)) {
    keys.set(id, (async () => {
      const found = await wallet.rpc("consortium_forumEpoch", [channel, Number(epoch)]);
      const wrapped = found?.wrappedKeys?.[who.address.toLowerCase()];
      if (!wrapped || wrapped === "0x") {
        throw new Error(`this account was not a member of task force ${channel} when its key (epoch ${epoch}) was published`);
      }
      const raw = await wallet.eciesDecrypt(wrapped);
      if (raw.length !== 32) throw new Error("the wrapped channel key is not a 32-byte key");
      return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
    })());
    keys.get(id).catch(() => keys.delete(id)); // a refusal is asked again next time
  }
  return keys.get(id);
}

async function open(who, post) {
  const { channel, epoch, content } = post.dataset;
  const key = await channelKey(who, channel, epoch);
  const sealed = globalThis.ethers.getBytes(content);
  if (sealed.length < NONCE + TAG) throw new Error("the sealed content is too short");
  let plain;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.slice(0, NONCE), additionalData: context(channel, epoch, "post") },
      key, sealed.slice(NONCE));
  } catch {
    throw new Error("the content does not open with this epoch's key (altered, or sealed for another channel)");
  }
  const text = new TextDecoder().decode(plain);
  try {
    const value = JSON.parse(text);
    if (value && typeof value.body === "string") return { title: String(value.title || ""), body: value.body };
  } catch {
    // another client's content: shown as its body
  }
  return { title: "", body: text };
}

function show(post, state, title, body) {
  post.dataset.state = state;
  post.querySelector(".title").textContent = title;
  post.querySelector(".body").textContent = body;
}

/** Open every sealed post on the page the signed-in account may read; lock the others. */
export async function openAll(root = document) {
  const who = wallet.current();
  for (const post of root.querySelectorAll(".post[data-content]")) {
    if (!who) {
      show(post, "locked", "Locked", `Encrypted for task force ${post.dataset.channel}'s members: sign in with a member's keystore to read it.`);
      continue;
    }
    try {
      const { title, body } = await open(who, post);
      show(post, "open", title || "(untitled)", body);
    } catch (err) {
      show(post, "locked", "Locked", `Encrypted for task force ${post.dataset.channel}'s members: ${err.message}.`);
    }
  }
}

document.addEventListener("consortium:signer", () => openAll());
document.addEventListener("consortium:live-refreshed", (event) => openAll(event.target));
openAll();
