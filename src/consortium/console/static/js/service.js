// A service page (generated from its declaration): a read's form shows its table for the
// parameters given (a partial the server renders from the node's JSON-RPC answer), which
// live.js then keeps live on the service contract's logs.

import { formOnChoice } from "./sign_forms.js";
import { refresh } from "./live.js";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("read-form")) return;
  event.preventDefault();
  const target = document.getElementById(form.dataset.target);
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (String(value).trim()) query.set(key, String(value).trim());
  target.dataset.liveUrl = `${form.action}?${query}`;
  refresh(target);
});

// a contract method no declaration covers yet: its form, from the ABI, fetched on choice
formOnChoice(document.getElementById("contract-method"), document.getElementById("contract-method-form"));
