// Wide tables: a table wider than its card scrolls in its own box (div.table-scroll,
// console.css), never the page. While there is more of it out of view, the box's data-more
// says which way ("right", "left", "both"), which shows the "scroll →" hint; checked again as
// the box scrolls, the window resizes, a <details> opens and the page changes (live rows,
// parts re-rendered by htmx or live.js).

function mark(box) {
  const right = box.scrollWidth - box.clientWidth - box.scrollLeft > 1;
  const left = box.scrollLeft > 1;
  const more = right && left ? "both" : right ? "right" : left ? "left" : "";
  if (more) {
    if (box.dataset.more !== more) box.dataset.more = more;
  } else if (box.dataset.more !== undefined) {
    delete box.dataset.more;
  }
}

let queued = false;

/** Check every box, once per frame however often asked. */
export function markAll() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    for (const box of document.querySelectorAll(".table-scroll")) mark(box);
  });
}

document.addEventListener("scroll", (event) => {
  if (event.target instanceof Element && event.target.classList.contains("table-scroll")) mark(event.target);
}, true);
document.addEventListener("toggle", markAll, true);
window.addEventListener("resize", markAll);
// data-more is an attribute: setting it is no child-list change, so this never feeds itself
new MutationObserver(markAll).observe(document.body, { childList: true, subtree: true, characterData: true });
markAll();
