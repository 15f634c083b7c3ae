// Pomelo's own JavaScript WebSocket client, unmodified, running the chat
// example in Node 20 (--experimental-websocket): alice over wss:// (the
// test CA trusted through NODE_EXTRA_CA_CERTS), bob over plain ws:// on the
// same port. Both log into one room, each chats, each must get both pushes.
// Prints one JSON object with what each saw.
//
//   node --experimental-websocket pomelo_js_chat.mjs DIR PORT
//
// DIR holds the client's files as their projects publish them (they are not
// part of this repository): pomelo-client.js (pomelo-jsclient-websocket's
// lib/pomelo-client.js) and protocol.js (pomelo-protocol's lib/protocol.js).
// Each client runs in a context of its own, as in its own browser page:
// `window` is the context, EventEmitter is component-emitter's API (which
// the client extends), and WebSocket is Node's. The client always builds a
// ws:// URL (in a browser, an https page would upgrade it); alice's page
// opens it as wss://.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const [dir, port] = process.argv.slice(2);
const clientSource = fs.readFileSync(path.join(dir, "pomelo-client.js"), "utf8");
const protocolSource = fs.readFileSync(path.join(dir, "protocol.js"), "utf8");

// component-emitter's methods, which pomelo-client.js calls.
class Emitter {
  on(event, fn) { ((this._callbacks ??= {})[event] ??= []).push(fn); return this; }
  addEventListener(event, fn) { return this.on(event, fn); }
  once(event, fn) {
    const once = (...args) => { this.off(event, once); fn.apply(this, args); };
    once.fn = fn;
    return this.on(event, once);
  }
  off(event, fn) {
    if (!this._callbacks) return this;
    if (event === undefined) { this._callbacks = {}; return this; }
    if (fn === undefined) { delete this._callbacks[event]; return this; }
    this._callbacks[event] = (this._callbacks[event] || []).filter((f) => f !== fn && f.fn !== fn);
    return this;
  }
  removeListener(event, fn) { return this.off(event, fn); }
  removeAllListeners(event) { return this.off(event); }
  removeEventListener(event, fn) { return this.off(event, fn); }
  emit(event, ...args) {
    for (const fn of [...((this._callbacks || {})[event] || [])]) fn.apply(this, args);
    return this;
  }
  listeners(event) { return (this._callbacks || {})[event] || []; }
  hasListeners(event) { return this.listeners(event).length > 0; }
}

class SecureWebSocket extends WebSocket {
  constructor(url, protocols) { super(url.replace(/^ws:/, "wss:"), protocols); }
}

function page(secure) {
  const context = vm.createContext({
    console, setTimeout, clearTimeout, setInterval, clearInterval,
    WebSocket: secure ? SecureWebSocket : WebSocket,
    EventEmitter: Emitter,
    module: { exports: {} },
  });
  context.window = context;
  vm.runInContext(protocolSource, context, { filename: "protocol.js" });
  vm.runInContext(clientSource, context, { filename: "pomelo-client.js" });
  return context.pomelo;
}

function within(ms, what, promise) {
  return Promise.race([promise, new Promise((_, fail) => setTimeout(() => fail(new Error(`timeout: ${what}`)), ms))]);
}

const players = { alice: page(true), bob: page(false) };
const seen = { alice: { chats: [] }, bob: { chats: [] } };
try {
  for (const [name, pomelo] of Object.entries(players)) {
    pomelo.on("onChat", (msg) => seen[name].chats.push(msg));
    await within(5000, `${name} init`, new Promise((done) => pomelo.init({ host: "localhost", port: Number(port) }, done)));
    const login = await within(5000, `${name} login`, new Promise((done) =>
      pomelo.request("connector.entryHandler.login", { uid: name, rid: "js-room" }, done)));
    seen[name].login = login.code;
    seen[name].users = login.users;
  }
  for (const name of ["alice", "bob"]) {
    const sent = await within(5000, `${name} send`, new Promise((done) =>
      players[name].request("chat.chatHandler.send", { content: `hello from ${name}`, target: "*" }, done)));
    seen[name].sent = sent.code;
  }
  await within(5000, "both pushes", new Promise((done) => {
    const check = () => (seen.alice.chats.length >= 2 && seen.bob.chats.length >= 2 ? done() : setTimeout(check, 20));
    check();
  }));
} catch (e) {
  seen.error = String(e);
}
for (const pomelo of Object.values(players)) pomelo.disconnect();
console.log(JSON.stringify(seen));
setTimeout(() => process.exit(0), 100);
