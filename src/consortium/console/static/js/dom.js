// Small DOM helpers shared by the console's pages (text only: never innerHTML from data).

export const prefix = document.body.dataset.prefix || '/console';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

export function link(path, text, cls = '') {
  return el('a', cls ? { href: prefix + path, class: cls } : { href: prefix + path }, text);
}

export function short(text, keep = 10) {
  const s = String(text || '');
  return s.length <= keep + 6 ? s : `${s.slice(0, keep)}…${s.slice(-4)}`;
}

export function utc(seconds) {
  return new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

// prepend `row` to `tbody` (in place of its placeholder line), keeping at most `keep` rows,
// flashing it
export function prependRow(tbody, row, keep = 20) {
  tbody.querySelector('tr.empty-row')?.remove(); // "No transactions in the latest blocks."
  row.classList.add('fresh');
  tbody.prepend(row);
  while (tbody.rows.length > keep) tbody.deleteRow(tbody.rows.length - 1);
}
