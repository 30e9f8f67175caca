// The node's JSON-RPC from the page: one WebSocket to this node (same origin: the console's
// cookie or no auth), reopened after a drop with its subscriptions renewed, so pages learn of
// a reconnect ('open' fires again) and catch up from what they last saw.

const MAX_DELAY = 8000;

export class NodeSocket {
  constructor(url = defaultUrl()) {
    this.url = url;
    this.nextId = 0;
    this.pending = new Map(); // id -> {resolve, reject}
    this.subs = new Map(); // key -> {params, handler, id}
    this.listeners = { open: [], close: [] };
    this.delay = 500;
    this.connect();
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = async () => {
      this.delay = 500;
      try {
        for (const sub of this.subs.values()) sub.id = await this.call('eth_subscribe', sub.params);
      } catch (err) {
        console.warn('resubscribe failed', err);
      }
      this.emit('open');
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => {
      for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
      this.pending.clear();
      for (const sub of this.subs.values()) sub.id = null;
      this.emit('close');
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, MAX_DELAY);
    };
  }

  get isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.method === 'eth_subscription') {
      for (const sub of this.subs.values()) {
        if (sub.id === msg.params.subscription) sub.handler(msg.params.result);
      }
      return;
    }
    const waiting = this.pending.get(msg.id);
    if (!waiting) return;
    this.pending.delete(msg.id);
    if (msg.error) waiting.reject(new Error(msg.error.message));
    else waiting.resolve(msg.result);
  }

  call(method, params = []) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) { reject(new Error('not connected')); return; }
      const id = ++this.nextId;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  // handler(result) for every notification of eth_subscribe(params), across reconnects
  async subscribe(params, handler) {
    const key = JSON.stringify(params);
    const sub = { params, handler, id: null };
    this.subs.set(key, sub);
    if (this.isOpen) sub.id = await this.call('eth_subscribe', params);
  }

  on(event, fn) { this.listeners[event].push(fn); }

  emit(event) { for (const fn of this.listeners[event]) fn(); }
}

export function defaultUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
}

// One JSON-RPC call over HTTP (same origin), for pages that need no live updates.
export async function rpc(method, params = []) {
  const answer = await fetch('/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    credentials: 'same-origin',
  });
  const body = await answer.json();
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

export const hex = (n) => '0x' + n.toString(16);
export const num = (q) => (typeof q === 'number' ? q : parseInt(q, 16));
