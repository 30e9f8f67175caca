// The overview's live part: new blocks and their transactions arrive over eth_subscribe
// (newHeads), events over eth_subscribe (logs); after a reconnect the page fetches every
// block after the last it showed, and their logs (eth_getLogs), so nothing is missed (the
// tables keep the latest ROWS).
import { NodeSocket, hex, num } from './rpc.js';
import { el, link, prependRow, short, utc } from './dom.js';
import { checkSession, signInAgain } from './session.js';

const ROWS = 20;
const blocks = document.querySelector('#latest-blocks tbody');
const txs = document.querySelector('#latest-txs tbody');
const height = document.getElementById('height');
const age = document.getElementById('block-age');
const liveState = document.getElementById('live-state');
const events = document.querySelector('#latest-events tbody');
const eventNames = JSON.parse(document.getElementById('event-names').textContent);

let last = Math.max(0, ...[...blocks.rows].map((r) => Number(r.dataset.number || 0)),
  Number(height.textContent) || 0);
let queue = Promise.resolve();
// when this node's last block came: the server's age of it at load (by the engine's time),
// then each block's arrival. Counted here every second, whether or not the node answers.
let lastAt = age.dataset.age === '' ? null : Date.now() - 1000 * Number(age.dataset.age);

function showBlock(block) {
  const n = num(block.number);
  const row = el('tr', { 'data-number': n },
    el('td', {}, link(`/block/${n}`, n)), el('td', {}, utc(num(block.timestamp))),
    el('td', {}, block.transactions.length),
    el('td', { class: 'mono' }, link(`/block/${block.hash}`, short(block.hash))));
  prependRow(blocks, row, ROWS);
  for (const tx of block.transactions) {
    prependRow(txs, el('tr', {},
      el('td', { class: 'mono' }, link(`/tx/${tx.hash}`, short(tx.hash))),
      el('td', {}, n),
      el('td', { class: 'mono' }, link(`/address/${tx.from}`, short(tx.from))),
      el('td', { class: 'mono' }, tx.to ? link(`/address/${tx.to}`, short(tx.to))
        : el('span', { class: 'muted' }, 'create'))), ROWS);
  }
  height.textContent = n;
  lastAt = Date.now();
  tick();
}

// an event row, in (block, log index) order, once (the subscription and a catch-up may
// both bring it)
function showLog(log) {
  events.querySelector('tr.empty-row')?.remove();
  const key = `${log.blockHash}:${num(log.logIndex)}`;
  if ([...events.rows].some((r) => r.dataset.key === key)) return;
  const topic = log.topics[0] || '';
  const name = eventNames[`${log.address}:${topic}`] || eventNames[topic]
    || (topic ? short(topic) : 'anonymous');
  const order = num(log.blockNumber) * 1e6 + num(log.logIndex);
  const row = el('tr', { 'data-key': key, 'data-order': order },
    el('td', {}, num(log.blockNumber)), el('td', { class: 'event' }, name),
    el('td', { class: 'mono' }, link(`/address/${log.address}`, short(log.address))),
    el('td', { class: 'mono' }, link(`/tx/${log.transactionHash}`, short(log.transactionHash))));
  const after = [...events.rows].find((r) => Number(r.dataset.order) < order);
  row.classList.add('fresh');
  events.insertBefore(row, after || null);
  while (events.rows.length > ROWS) events.deleteRow(events.rows.length - 1);
}

// fetch and show every block after `last` up to `target` (the latest if null), and the
// logs of those blocks
async function catchUp(target) {
  if (target === null) target = num(await sock.call('eth_blockNumber'));
  const missed = last + 1; // the logs of every block missed, however many
  const from = Math.max(missed, target - ROWS + 1); // the blocks the table can hold
  if (from > target) return;
  for (let n = from; n <= target; n++) {
    const block = await sock.call('eth_getBlockByNumber', [hex(n), true]);
    if (!block) return;
    showBlock(block);
    last = n;
  }
  let logs;
  try {
    logs = await sock.call('eth_getLogs', [{ fromBlock: hex(missed), toBlock: hex(target) }]);
  } catch (err) { // more than one answer may carry: the blocks shown at least
    logs = await sock.call('eth_getLogs', [{ fromBlock: hex(from), toBlock: hex(target) }]);
  }
  for (const log of logs.slice(-ROWS)) showLog(log);
}

function schedule(target) {
  queue = queue.then(() => catchUp(target)).catch((err) => console.warn('catch-up', err));
}

function tick() {
  if (lastAt !== null) age.textContent = `${Math.max(0, Math.round((Date.now() - lastAt) / 1000))} s ago`;
}

// While the node does not answer (its socket closed, the consensus part's refresh failed)
// its sync state and peers are unknown: not the last values it gave. The next refresh that
// succeeds replaces the part whole.
function consensusUnknown() {
  const part = document.getElementById('consensus');
  if (!part) return;
  for (const value of part.querySelectorAll('[data-when-down]')) {
    value.replaceChildren(el('span', { class: 'warn' }, value.dataset.whenDown));
  }
  part.querySelector('#consensus-stale')?.removeAttribute('hidden');
}

document.body.addEventListener('htmx:sendError', consensusUnknown);
document.body.addEventListener('htmx:responseError', (event) => {
  if (event.detail.xhr.status === 401) signInAgain();
  else consensusUnknown();
});
// the token revoked or expired: the node redirects the part's read to the sign-in form,
// which goes whole (never inside the page)
document.body.addEventListener('htmx:beforeSwap', (event) => {
  const url = event.detail.xhr.responseURL;
  if (url && new URL(url).pathname === `${document.body.dataset.prefix || '/console'}/login`) {
    event.detail.shouldSwap = false;
    signInAgain();
  }
});

const sock = new NodeSocket();
sock.subscribe(['newHeads'], (head) => schedule(num(head.number)));
sock.subscribe(['logs', {}], (log) => { if (!log.removed) showLog(log); });
sock.on('open', () => { liveState.textContent = 'live'; liveState.className = 'value live-state ok'; schedule(null); });
sock.on('close', () => {
  liveState.textContent = 'reconnecting…';
  liveState.className = 'value live-state warn';
  consensusUnknown();
  checkSession(); // a revoked or expired token closes it too: then the sign-in form
});
setInterval(tick, 1000);
// for the browser tests (and curious users): the socket and the last block shown
window.consoleLive = { socket: sock, get last() { return last; } };
