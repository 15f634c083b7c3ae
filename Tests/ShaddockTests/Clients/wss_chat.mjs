// The chat example over Node's built-in WebSocket (Node 20:
// --experimental-websocket): alice over wss:// (the test CA trusted through
// NODE_EXTRA_CA_CERTS), bob over plain ws:// on the same port. Both log into
// one room, alice chats, both must get the push. Prints one JSON object with
// what each saw.
//
//   node --experimental-websocket wss_chat.mjs PORT [PROTOCOLS [CONTENT]]
//
// PROTOCOLS: subprotocols to offer, comma-separated ("-": none); CONTENT:
// what alice says. Each client reports the subprotocol and extensions the
// server agreed on.

const port = process.argv[2];
const protocols = process.argv[3] && process.argv[3] !== "-" ? process.argv[3].split(",") : undefined;
const content = process.argv[4] ?? "hello over wss";
const enc = new TextEncoder(), dec = new TextDecoder();

function pkg(type, body = new Uint8Array(0)) {
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  out[1] = (body.length >> 16) & 0xff; out[2] = (body.length >> 8) & 0xff; out[3] = body.length & 0xff;
  out.set(body, 4);
  return out;
}

function varint(n) {
  const out = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}

class Client {
  constructor(name, url) {
    this.name = name;
    this.seen = { pushes: [], responses: {} };
    this.waiting = new Map();
    this.pushWaiters = [];
    this.ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ready = new Promise((resolve, reject) => {
      this.ws.onerror = (e) => reject(new Error(`${name}: ${e.message || "socket error"}`));
      this.ws.onopen = () => {
        this.seen.protocol = this.ws.protocol;
        this.seen.extensions = this.ws.extensions;
        this.ws.send(pkg(1, enc.encode(JSON.stringify({ sys: { type: "js-websocket", version: "0.0.1" }, user: {} }))));
      };
      this.ws.onmessage = (ev) => {
        let b = new Uint8Array(ev.data);
        // Several packages may share one message.
        while (b.length >= 4) {
          const len = (b[1] << 16) | (b[2] << 8) | b[3];
          const body = b.subarray(4, 4 + len);
          this.onPackage(b[0], body, resolve);
          b = b.subarray(4 + len);
        }
      };
    });
  }

  onPackage(type, body, handshaken) {
    if (type === 1) {
      const reply = JSON.parse(dec.decode(body));
      this.dict = reply.sys.dict || {};
      this.codes = Object.fromEntries(Object.entries(this.dict).map(([r, c]) => [c, r]));
      this.ws.send(pkg(2));
      this.seen.handshake = reply.code;
      handshaken();
    } else if (type === 4) {
      const kind = (body[0] >> 1) & 7;
      let i = 1;
      if (kind === 2) {  // response
        let id = 0, shift = 0;
        for (;;) { const x = body[i++]; id |= (x & 0x7f) << shift; shift += 7; if (!(x & 0x80)) break; }
        const msg = JSON.parse(dec.decode(body.subarray(i)));
        this.seen.responses[id] = msg;
        this.waiting.get(id)?.(msg);
      } else if (kind === 3) {  // push
        let route;
        if (body[0] & 1) { route = this.codes[(body[1] << 8) | body[2]]; i = 3; }
        else { const n = body[1]; route = dec.decode(body.subarray(2, 2 + n)); i = 2 + n; }
        const push = { route, body: JSON.parse(dec.decode(body.subarray(i))) };
        this.seen.pushes.push(push);
        this.pushWaiters.splice(0).forEach((w) => w());
      }
    }
  }

  request(id, route, body) {
    const code = this.dict[route];
    const routeBytes = code !== undefined ? [code >> 8, code & 0xff] : [route.length, ...enc.encode(route)];
    const flag = code !== undefined ? 0x01 : 0x00;  // a request, its route compressed or not
    const msg = new Uint8Array([flag, ...varint(id), ...routeBytes, ...enc.encode(JSON.stringify(body))]);
    return new Promise((resolve) => { this.waiting.set(id, resolve); this.ws.send(pkg(4, msg)); });
  }

  async pushNamed(route) {
    for (;;) {
      const found = this.seen.pushes.find((p) => p.route === route);
      if (found) return found;
      await new Promise((r) => this.pushWaiters.push(r));
    }
  }
}

const timer = setTimeout(() => { console.log(JSON.stringify({ error: "timed out" })); process.exit(1); }, 10000);
try {
  const alice = new Client("alice", `wss://localhost:${port}/`);
  const bob = new Client("bob", `ws://127.0.0.1:${port}/`);
  await Promise.all([alice.ready, bob.ready]);
  await alice.request(1, "connector.entryHandler.login", { uid: "alice", rid: "tls-room" });
  await bob.request(1, "connector.entryHandler.login", { uid: "bob", rid: "tls-room" });
  await alice.request(2, "chat.chatHandler.send", { content, target: "*" });
  await Promise.all([alice.pushNamed("onChat"), bob.pushNamed("onChat")]);
  console.log(JSON.stringify({ alice: alice.seen, bob: bob.seen }));
  alice.ws.close(); bob.ws.close();
  clearTimeout(timer);
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(1);
}
