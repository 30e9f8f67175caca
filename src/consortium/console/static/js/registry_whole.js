// "Show one object whole" forms (the registry's asset, credit's query, record or consent):
// a form.whole-form with data-url (the partial's base: …/asset/, or …/credit/ + its kind
// select) fills its data-target element, which live.js keeps live on the contract's logs.
// Imported by an object's page of its own (object.html) for live.js alone.

import { refresh } from "./live.js";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("whole-form")) return;
  event.preventDefault();
  const id = form.elements.namedItem("id").value.trim();
  const kind = form.elements.namedItem("kind")?.value;
  const target = document.getElementById(form.dataset.target);
  if (!/^[1-9][0-9]*$/.test(id)) {
    target.removeAttribute("data-live-url");
    target.replaceChildren(Object.assign(document.createElement("p"), {
      className: "error", role: "alert", textContent: `id: expected a positive whole number, got "${id}"` }));
    return;
  }
  // the object's partial, kept live here; its page of its own is the same path without /part
  target.dataset.liveUrl = `${form.dataset.url}${kind ? `${kind}/` : ""}${id}/part`;
  refresh(target);
});
