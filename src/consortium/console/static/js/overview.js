// The overview's live part: new blocks and their transactions arrive over eth_subscribe
// (newHeads); after a reconnect the page fetches every block after the last it showed, so
// nothing is missed (the tables keep the latest ROWS).
import { NodeSocket, hex, num } from './rpc.js';
import { el, link, prependRow, short, utc } from './dom.js';

const ROWS = 20;
const blocks = document.querySelector('#latest-blocks tbody');
const txs = document.querySelector('#latest-txs tbody');
const height = document.getElementById('height');
const age = document.getElementById('block-age');
const liveState = document.getElementById('live-state');

let last = Math.max(0, ...[...blocks.rows].map((r) => Number(r.dataset.number || 0)),
  Number(height.textContent) || 0);
let queue = Promise.resolve();

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
  age.dataset.timestamp = num(block.timestamp);
  tick();
}

// fetch and show every block after `last` up to `target` (the latest if null)
async function catchUp(target) {
  if (target === null) target = num(await sock.call('eth_blockNumber'));
  for (let n = Math.max(last + 1, target - ROWS + 1); n <= target; n++) {
    const block = await sock.call('eth_getBlockByNumber', [hex(n), true]);
    if (!block) break;
    showBlock(block);
    last = n;
  }
  last = Math.max(last, target);
}

function schedule(target) {
  queue = queue.then(() => catchUp(target)).catch((err) => console.warn('catch-up', err));
}

function tick() {
  const ts = Number(age.dataset.timestamp);
  if (ts) age.textContent = `${Math.max(0, Math.round(Date.now() / 1000 - ts))} s ago`;
}

const sock = new NodeSocket();
sock.subscribe(['newHeads'], (head) => schedule(num(head.number)));
sock.on('open', () => { liveState.textContent = 'live'; liveState.className = 'value live-state ok'; schedule(null); });
sock.on('close', () => { liveState.textContent = 'reconnecting…'; liveState.className = 'value live-state warn'; });
setInterval(tick, 1000);
// for the browser tests (and curious users): the socket and the last block shown
window.consoleLive = { socket: sock, get last() { return last; } };
