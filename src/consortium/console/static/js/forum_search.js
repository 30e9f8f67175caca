// Search the forum in the page: every channel's posts are read from the node, a task force's
// opened here for the signed-in member (forum_crypto.js), and matched here — the words
// searched for and the plaintext never go to the node. A post matches when it holds every
// word (any case).

import * as wallet from "./wallet.js";
import { openRecord, parsePost } from "./forum_crypto.js";
import { prefix } from "./dom.js";

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
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `${prefix}/forum/channel/${encodeURIComponent(channel.name)}#post-${post.id}`;
        link.textContent = `${channel.name} #${post.id}${opened.title ? ` · ${opened.title}` : ""}`;
        const text2 = document.createElement("div");
        text2.className = "muted";
        text2.textContent = snippet(opened.body, wanted);
        item.append(link, text2);
        out.append(item);
      }
    }
    status.textContent = `${found} post${found === 1 ? "" : "s"} found` +
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
