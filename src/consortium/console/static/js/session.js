// The browser's sign-in to the node (`[api] auth = "token"`: the console's cookie). When the
// token is revoked or expires, the node answers a page's reads with a redirect to the sign-in
// form (or a 401), and its WebSocket closes: the page then goes to the sign-in form itself,
// which says why (console/app.py `signed_out_reason`), and comes back here after.

const prefix = () => document.body.dataset.prefix || "/console";
let leaving = false;

/** Go to the sign-in form, to come back to this page. */
export function signInAgain() {
  if (leaving) return;
  leaving = true;
  const back = location.pathname + location.search;
  location.assign(`${prefix()}/login?next=${encodeURIComponent(back)}`);
}

/** Whether an answer of the node says this browser is no longer signed in to it: a 401, or
 * a console read redirected to the sign-in form. */
export function signedOut(response) {
  if (response.status === 401 || response.type === "opaqueredirect") return true;
  if (!response.redirected || !response.url) return false;
  return new URL(response.url, location.href).pathname === `${prefix()}/login`;
}

/** Ask the node whether this browser is still signed in (after a live update stopped); go
 * to the sign-in form if it is not. A node that does not answer says nothing. */
export async function checkSession() {
  try {
    const answer = await fetch(`${prefix()}/session`, { redirect: "manual", cache: "no-store" });
    if (signedOut(answer)) signInAgain();
  } catch {
    // the node is down or restarting: the page says "reconnecting…"
  }
}
