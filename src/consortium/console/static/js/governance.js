// The governance page: its live part (#governance-live: proposals with their tallies,
// members, roles, officers, task forces) is kept live by live.js on every new block; after
// this page's own transaction the signed-in account's roles are read again (a granted role
// shows in the header). Choosing a kind of proposal shows its form.

import * as wallet from "./wallet.js";
import "./live.js";

document.addEventListener("consortium:done", () => {
  wallet.refresh().catch(() => {});
});
let rolesSeen = document.querySelector("#roles")?.textContent;
document.addEventListener("consortium:live-refreshed", () => {
  // a proposal passed by someone else may have changed this account's roles
  const now = document.querySelector("#roles")?.textContent;
  if (now !== rolesSeen) {
    rolesSeen = now;
    if (wallet.current()) wallet.refresh().catch(() => {});
  }
});

const kinds = document.getElementById("proposal-kind");
kinds?.addEventListener("change", () => {
  for (const el of document.querySelectorAll(".proposal-form")) el.hidden = el.dataset.kind !== kinds.value;
});
