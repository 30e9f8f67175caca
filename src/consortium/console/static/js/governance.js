// The governance page: its live part (#governance-live: proposals with their tallies,
// members, roles, officers, task forces) is kept live by live.js on every new block; after
// this page's own transaction the signed-in account's roles are read again (a granted role
// shows in the header). Choosing a kind of proposal shows its form; an app-call proposal's
// call is built from the chosen service method's inputs (checked and encoded here, from the
// method's ABI) into the proposal form's contract and call fields.

import * as wallet from "./wallet.js";
import { argumentsOf, encode, formOnChoice } from "./sign_forms.js";
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

formOnChoice(document.getElementById("app-call-method"), document.getElementById("app-call-args"));

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("app-call-args")) return;
  event.preventDefault();
  const spec = JSON.parse(form.dataset.form);
  const out = form.querySelector(".outcome");
  try {
    const data = encode(spec, await argumentsOf(spec, form));
    const proposal = document.querySelector("form[data-key='governance.app-call']");
    proposal.elements.namedItem("contract").value = spec.contract;
    proposal.elements.namedItem("call").value = data;
    out.textContent = `Encoded ${spec.summary} into the proposal below: propose it when ready.`;
    out.dataset.state = "done";
  } catch (err) {
    out.textContent = `Not encoded, check: ${err.message}`;
    out.dataset.state = "refused";
  }
});
