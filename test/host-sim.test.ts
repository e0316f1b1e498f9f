// host-sim's runtime against what a real Espruino interpreter does (../shared/ESPRUINO.md): each test runs a small
// bundle of Espruino-dialect JavaScript in EspruinoSim and watches its console, pins and sockets. Loopback only.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { DEFAULT_READ_SIZE, EspruinoSim, PinChange, SimOptions, SimSocket } from "../host-sim/runtime.ts";

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** Resolves with the first truthy value of `check`, polling every 5 ms; rejects after `ms`. */
async function waitFor<T>(check: () => T | undefined | null | false, what: string, ms = 4000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Board {
  sim: EspruinoSim;
  /** Console lines, in order. */
  lines: string[];
  uncaught: string[];
  pins: PinChange[];
  sockets: SimSocket[];
  /** Waits for a console line that starts with `prefix` and returns it. */
  line(prefix: string, ms?: number): Promise<string>;
}

/** Builds the sim, listens to all of its events, then starts it (top-level code runs inside start()). */
function boot(code: string, options: Partial<SimOptions> = {}): Board {
  const sim = new EspruinoSim({ code, ...options });
  const board: Board = {
    sim,
    lines: [],
    uncaught: [],
    pins: [],
    sockets: [],
    line: (prefix, ms) =>
      waitFor(() => board.lines.find((l) => l.startsWith(prefix)), `console line "${prefix}..." (have ${JSON.stringify(board.lines)})`, ms),
  };
  sim.on("console", (text: string) => board.lines.push(text));
  sim.on("uncaught", (text: string) => board.uncaught.push(text));
  sim.on("pin", (change: PinChange) => board.pins.push(change));
  sim.on("socket", (socket: SimSocket) => board.sockets.push(socket));
  sim.start();
  return board;
}

interface Connection {
  socket: net.Socket;
  data: Buffer[];
  closed: boolean;
}

interface Peer {
  port: number;
  /** Connections accepted so far, in order (with refusal "throw", the sim's connect probe is one of them). */
  accepted: Connection[];
  /** Every byte received on all connections, in order of arrival. */
  received(): Buffer;
  /** The connection that has sent bytes (the firmware's own, not a probe): waits for exactly one. */
  talker(): Promise<Connection>;
  close(): Promise<void>;
}

/** A plain TCP server on 127.0.0.1, port 0. */
async function startPeer(onConnection: (socket: net.Socket) => void = () => undefined): Promise<Peer> {
  const chunks: Buffer[] = [];
  const server = net.createServer((socket) => {
    const connection: Connection = { socket, data: [], closed: false };
    peer.accepted.push(connection);
    socket.on("error", () => undefined);
    socket.on("data", (data: Buffer) => {
      chunks.push(data);
      connection.data.push(data);
    });
    socket.on("close", () => (connection.closed = true));
    onConnection(socket);
  });
  const peer: Peer = {
    port: 0,
    accepted: [],
    received: () => Buffer.concat(chunks),
    talker: async () => {
      const talkers = await waitFor(() => {
        const found = peer.accepted.filter((c) => c.data.length > 0);
        return found.length > 0 && found;
      }, "a connection that sends bytes");
      assert.equal(talkers.length, 1);
      return talkers[0]!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of peer.accepted) connection.socket.destroy();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  peer.port = (server.address() as net.AddressInfo).port;
  return peer;
}

/** A loopback port that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Firmware-side helper source: logs a string's char codes as "<label> <typeof> <codes,...>". */
const LOG_CODES =
  'var logCodes = function (label, d) { var c = []; for (var i = 0; i < d.length; i++) c.push(d.charCodeAt(i));' +
  ' console.log(label + " " + typeof d + " " + c.join(",")); };\n';

/** Parses the lines LOG_CODES printed under `label` back into bytes, one array per line. */
function codeLines(lines: string[], label: string): number[][] {
  return lines
    .filter((l) => l.startsWith(label + " "))
    .map((l) => {
      const [, type, codes] = l.split(" ");
      assert.equal(type, "string", `'data' must hand over a string: ${l}`);
      return codes ? codes.split(",").map(Number) : [];
    });
}

// ---------------------------------------------------------------------------------------------------------------
// The bundle: what Espruino refuses, and built-ins it lacks

test("the constructor refuses a bundle with constructs Espruino rejects, naming construct and line:column", () => {
  const cases: Array<[string, RegExp]> = [
    ["var a = 1;\nfunction f(x, y = 2) { return x + y; }\nf(a);", /firmware\.js:2:15: default parameter/],
    ["var o = { a: 1 };\nvar { a } = o;\nconsole.log(a);", /firmware\.js:2:5: destructuring/],
    ["var m = new Map();\nconsole.log(m);", /firmware\.js:1:13: missing built-in: Map/],
    ["var f = function (x) { return x; };\nvar xs = [1];\nf(...xs);", /firmware\.js:3:3: spread/],
  ];
  for (const [code, expected] of cases) {
    let ran = false;
    assert.throws(() => {
      const sim = new EspruinoSim({ code });
      sim.on("console", () => (ran = true));
      sim.start();
      sim.powerOff();
    }, expected);
    assert.equal(ran, false, "nothing of a refused bundle runs");
  }
  // fileName names the bundle in the message.
  assert.throws(() => new EspruinoSim({ code: "var s = new Set();", fileName: "dist/x.js" }), /dist\/x\.js:1:13: missing built-in/);
});

test("Map, Set, Symbol, Number.isInteger, Array.from, setImmediate are undefined inside the sim", async () => {
  // Aliases keep the static checker out of the way: the point is what the runtime itself provides.
  const board = boot(`
var N = Number, A = Array, g = global;
console.log("types " + [typeof Map, typeof Set, typeof Symbol, typeof N.isInteger, typeof A.from, typeof g["Weak" + "Map"],
  typeof setImmediate, typeof queueMicrotask].join(","));
console.log("present " + [typeof global.require, typeof getTime, typeof E.toString, typeof [].slice].join(","));
setTimeout(function () { A.from([1]); }, 0);
setTimeout(function () { console.log("still running"); }, 0);
`);
  try {
    assert.equal(await board.line("types "), "types " + Array(8).fill("undefined").join(","));
    assert.equal(await board.line("present "), "present function,function,function,function");
    await board.line("still running");
    assert.equal(board.uncaught.length, 1);
    assert.match(board.uncaught[0]!, /TypeError/);
    assert.match(board.uncaught[0]!, /from/);
  } finally {
    board.sim.powerOff();
  }
});

test("E.toString and E.toUint8Array read their arguments as the interpreter does", async () => {
  // What the ESP8266-shaped interpreter printed for the same calls.
  const board = boot(
    LOG_CODES +
      `
logCodes("a", E.toString(0, 1, 2, "Hi", 3));
logCodes("b", E.toString(1, 2, { data: [3, 4], count: 4 }, 5, 6));
logCodes("c", E.toString(0x82, 3, "a\\xe9\\0"));
logCodes("d", E.toString(new Uint8Array([1, 200])));
logCodes("e", E.toString(1, { callback: function () { return "ok"; } }, 300));
console.log("f " + E.toUint8Array(1, "A", [2, 3]).join(","));
`,
  );
  try {
    assert.deepEqual(board.lines, [
      "a string 0,1,2,72,105,3",
      "b string 1,2,3,4,3,4,3,4,3,4,5,6",
      "c string 130,3,97,233,0",
      "d string 1,200",
      "e string 1,111,107,44",
      "f 1,65,2,3",
    ]);
  } finally {
    board.sim.powerOff();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Timers

test("timer ids are small numbers from 1 and a cleared id is reused; timerCount() follows", () => {
  const board = boot(`
var f = function () {};
var a = setTimeout(f, 5000), b = setTimeout(f, 5000), c = setInterval(f, 5000);
clearTimeout(b);
var d = setTimeout(f, 5000);
console.log("ids " + [a, b, c, d].join(","));
`);
  try {
    assert.deepEqual(board.lines, ["ids 1,2,3,2"]);
    assert.equal(board.sim.timerCount(), 3);
  } finally {
    board.sim.powerOff();
  }
  assert.equal(board.sim.timerCount(), 0, "powerOff clears every timer");
});

test("clearTimeout() with no argument clears every timer, intervals too", async () => {
  const board = boot(`
setTimeout(function () { console.log("timeout fired"); }, 20);
setInterval(function () { console.log("interval fired"); }, 10);
clearTimeout();
console.log("count after clear");
setTimeout(function () { console.log("done"); }, 60);
`);
  try {
    assert.equal(board.sim.timerCount(), 1);
    await board.line("done");
    assert.deepEqual(board.lines, ["count after clear", "done"]);
    assert.equal(board.sim.timerCount(), 0);
  } finally {
    board.sim.powerOff();
  }
});

test("clearTimeout(undefined) throws; clearing a fired or already cleared id does not", async () => {
  const board = boot(`
var f = function () {};
var keep = setTimeout(f, 5000);
try { clearTimeout(undefined); console.log("undefined: no throw"); } catch (e) { console.log("undefined: threw"); }
var u = setTimeout(f, 5000);
clearTimeout(u);
try { clearTimeout(u); console.log("cleared twice: ok"); } catch (e) { console.log("cleared twice: threw"); }
var t = setTimeout(function () {
  try { clearTimeout(t); clearInterval(t); console.log("fired: ok"); } catch (e) { console.log("fired: threw"); }
}, 1);
`);
  try {
    assert.deepEqual(board.lines.slice(0, 2), ["undefined: threw", "cleared twice: ok"]);
    await board.line("fired: ");
    assert.deepEqual(board.lines, ["undefined: threw", "cleared twice: ok", "fired: ok"]);
    assert.equal(board.sim.timerCount(), 1, "the throwing clearTimeout(undefined) cleared nothing");
    assert.deepEqual(board.uncaught, []);
  } finally {
    board.sim.powerOff();
  }
});

test("an exception in a timer callback is reported and the other timers still run", async () => {
  const board = boot(`
var n = 0;
var iv = setInterval(function () { n++; if (n === 3) { clearInterval(iv); console.log("interval done"); } }, 5);
setTimeout(function () { throw new Error("boom"); }, 1);
setTimeout(function () { console.log("after"); }, 30);
`);
  try {
    await board.line("after");
    await board.line("interval done");
    assert.equal(board.uncaught.length, 1);
    assert.match(board.uncaught[0]!, /boom/);
    const printed = board.lines.filter((l) => l.startsWith("Uncaught "));
    assert.equal(printed.length, 1);
    assert.match(printed[0]!, /^Uncaught Error: boom/);
    assert.equal(board.sim.timerCount(), 0);
  } finally {
    board.sim.powerOff();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// E events

test("E.on('init') runs after the top-level code, E.on('kill') on sim.stop()", async () => {
  const board = boot(`
E.on("init", function () { console.log("init"); });
E.on("kill", function () { console.log("kill"); });
console.log("top");
`);
  try {
    assert.deepEqual(board.lines, ["top"], "init has not run inside start()");
    await board.line("init");
    assert.deepEqual(board.lines, ["top", "init"]);
    await board.sim.stop(10);
    assert.deepEqual(board.lines, ["top", "init", "kill"]);
  } finally {
    board.sim.powerOff();
  }
});

test("what 'kill' handlers write never leaves, and the socket closes without 'end' or 'close' (as on a board)", async () => {
  const peer = await startPeer();
  const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () { s.write("hello"); });
s.on("end", function () { console.log("end"); });
s.on("close", function () { console.log("close"); });
E.on("kill", function () { s.write("bye"); console.log("kill"); });
`);
  try {
    const talker = await peer.talker();
    await waitFor(() => peer.received().toString() === "hello", "hello");
    await board.sim.stop(50);
    await waitFor(() => talker.closed, "the close at the peer");
    assert.equal(peer.received().toString(), "hello", "nothing written in 'kill' left");
    assert.deepEqual(board.lines, ["kill"], "no 'end' or 'close' for the firmware");
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Pins

test("pins: D2, \"D2\" and 2 name the same pin; 'pin' events only on change; D99 throws; digitalRead", () => {
  const board = boot(`
digitalWrite(D2, 1);
digitalWrite("D2", 0);
digitalWrite(2, 1);
digitalWrite(2, 1);
digitalWrite("D2", true);
console.log("read " + digitalRead(D2) + " " + digitalRead("D2") + " " + digitalRead(2) + " " + digitalRead(D3));
console.log("name " + String(D2));
try { digitalWrite("D99", 1); console.log("D99: no throw"); } catch (e) { console.log("D99: threw"); }
try { digitalWrite(99, 1); console.log("99: no throw"); } catch (e) { console.log("99: threw"); }
try { digitalRead("D99"); console.log("read D99: no throw"); } catch (e) { console.log("read D99: threw"); }
`);
  try {
    assert.deepEqual(
      board.pins.map((p) => [p.pin, p.value]),
      [["D2", 1], ["D2", 0], ["D2", 1]],
    );
    for (const change of board.pins) assert.equal(typeof change.time, "number");
    assert.equal(board.sim.pinValue("D2"), 1);
    assert.deepEqual(board.lines, ["read 1 1 1 0", "name D2", "D99: threw", "99: threw", "read D99: threw"]);
    assert.deepEqual(board.uncaught, []);
  } finally {
    board.sim.powerOff();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Clock and serial

test("getTime() is float seconds and increases; getSerial() gives the configured serial", async () => {
  const board = boot(
    `
var t0 = getTime();
console.log("serial " + getSerial());
setTimeout(function () { console.log("times " + t0 + " " + getTime()); }, 30);
`,
    { serial: "abcd-0042" },
  );
  try {
    assert.equal(await board.line("serial "), "serial abcd-0042");
    const [, first, second] = (await board.line("times ")).split(" ").map(Number);
    assert.ok(first !== undefined && second !== undefined);
    assert.ok(second > first, "getTime() increases");
    assert.ok(second - first >= 0.02 && second - first < 2, `seconds, not milliseconds: ${second - first}`);
    assert.notEqual(second, Math.floor(second), "a float, not whole seconds");
  } finally {
    board.sim.powerOff();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Sockets

test("net.connect returns the socket at once and calls back later, not inside connect", async () => {
  const peer = await startPeer();
  const board = boot(`
var called = false;
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () { called = true; console.log("callback"); });
console.log("returned " + typeof s + " " + typeof s.write + " " + called);
console.log("once/off " + typeof s.once + " " + typeof s.off);
`);
  try {
    assert.deepEqual(board.lines, ["returned object function false", "once/off undefined undefined"]);
    await board.line("callback");
    assert.equal(board.sockets.length, 1);
    assert.equal(board.sockets[0]!.host, "127.0.0.1");
    assert.equal(board.sockets[0]!.port, peer.port);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("the connect callback, 'data' and 'end' run with the socket as \`this\` (as on the interpreter)", async () => {
  const peer = await startPeer((socket) => socket.end("hi"));
  const board = boot(`
var s;
var h = function (e) { console.log("this " + (this === s) + " " + (e === s ? "socket" : typeof e)); };
s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, h);
s.on("data", h);
s.on("end", h);
`);
  try {
    await board.line("this true undefined");
    assert.deepEqual(board.lines, ["this true socket", "this true string", "this true undefined"]);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("'data' hands over byte strings, including 0x00, 0x80 and 0xff", async () => {
  const sent = Buffer.from([0x00, 0x41, 0x80, 0xff, 0x0a, 0x7f, 0xc3, 0xa9]);
  const peer = await startPeer((socket) => socket.write(sent));
  const board = boot(
    LOG_CODES +
      `
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("data", function (d) { logCodes("data", d); });
`,
  );
  try {
    const received = await waitFor(() => {
      const all = codeLines(board.lines, "data").flat();
      return all.length >= sent.length && all;
    }, "all bytes");
    assert.deepEqual(received, [...sent]);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test(`a 2,000-byte write arrives in order, in chunks of at most ${DEFAULT_READ_SIZE} chars`, async () => {
  assert.equal(DEFAULT_READ_SIZE, 536);
  const sent = Buffer.alloc(2000);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 8)) & 255;
  const peer = await startPeer((socket) => socket.write(sent));
  const board = boot(
    LOG_CODES +
      `
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("data", function (d) { logCodes("data", d); });
`,
  );
  try {
    const chunks = await waitFor(() => {
      const found = codeLines(board.lines, "data");
      return found.flat().length >= sent.length && found;
    }, "2,000 bytes");
    assert.ok(chunks.length >= Math.ceil(2000 / DEFAULT_READ_SIZE), `${chunks.length} chunks`);
    for (const chunk of chunks) assert.ok(chunk.length > 0 && chunk.length <= DEFAULT_READ_SIZE, `chunk of ${chunk.length}`);
    assert.deepEqual(chunks.flat(), [...sent]);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("readSize option caps the chunks (268, as on an ESP8266)", async () => {
  const sent = Buffer.alloc(1000, 0x55);
  const peer = await startPeer((socket) => socket.write(sent));
  const board = boot(
    LOG_CODES +
      `
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("data", function (d) { logCodes("data", d); });
`,
    { readSize: 268 },
  );
  try {
    const chunks = await waitFor(() => {
      const found = codeLines(board.lines, "data");
      return found.flat().length >= sent.length && found;
    }, "1,000 bytes");
    assert.ok(chunks.length >= 4);
    for (const chunk of chunks) assert.ok(chunk.length <= 268, `chunk of ${chunk.length}`);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("write sends a string's char codes as bytes, and a Uint8Array as its text", async () => {
  const peer = await startPeer();
  const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () {
  var r1 = s.write("\\x00\\xff");
  var r2 = s.write(new Uint8Array([1, 2, 200]));
  console.log("returned " + r1 + " " + r2);
});
`);
  try {
    assert.equal(await board.line("returned "), "returned false false");
    const received = await waitFor(() => peer.received().length >= 9 && peer.received(), "9 bytes");
    assert.deepEqual([...received], [0x00, 0xff, ...Buffer.from("1,2,200", "latin1")]);
    assert.equal(board.sockets[0]!.bytesOut, 9);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("when the server closes: 'end' then 'close', no 'error', and write throws \"This socket is closed\"", async () => {
  const peer = await startPeer((socket) => socket.end());
  const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("error", function () { console.log("error"); });
s.on("end", function () { console.log("end"); });
s.on("close", function () {
  console.log("close");
  try { s.write("x"); console.log("write: no throw"); } catch (e) { console.log("write threw: " + e.message); }
});
`);
  try {
    await board.line("write");
    assert.deepEqual(board.lines, ["end", "close", "write threw: This socket is closed"]);
    assert.equal(board.sim.sockets.size, 0);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

test("a refused connect throws at once an InternalError that is not instanceof Error (refusal: throw)", async () => {
  const port = await closedPort();
  const board = boot(`
try {
  require("net").connect({ host: "127.0.0.1", port: ${port} }, function () { console.log("connected?"); });
  console.log("no throw");
} catch (e) {
  console.log("caught " + e.type + " " + (e instanceof Error) + " " + e.message);
}
try { require("net").connect({ host: "no-such-host.invalid", port: 1 }); } catch (e) { console.log("dns " + e.type + " " + e.message); }
`);
  try {
    assert.deepEqual(board.lines, ["caught InternalError false Unable to create socket", "dns InternalError Unable to locate host"]);
    assert.equal(board.sockets.length, 0);
  } finally {
    board.sim.powerOff();
  }
});

test("with refusal: 'event', a refused connect gives 'error' then 'end' and 'close'", async () => {
  const port = await closedPort();
  const board = boot(
    `
var s = require("net").connect({ host: "127.0.0.1", port: ${port} }, function () { console.log("connected?"); });
console.log("returned " + typeof s);
s.on("error", function (e) { console.log("error " + e.type); });
s.on("end", function () { console.log("end"); });
s.on("close", function () { console.log("close"); });
`,
    { refusal: "event" },
  );
  try {
    await board.line("close");
    assert.deepEqual(board.lines, ["returned object", "error InternalError", "end", "close"]);
  } finally {
    board.sim.powerOff();
  }
});

test("socket emit runs handlers later; removeAllListeners; listeners are own properties \"#onX\"", async () => {
  const peer = await startPeer();
  const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
var h = function (a, b) { console.log("ping " + a + " " + b); };
s.on("ping", h);
s.on("data", function () {});
console.log("keys " + Object.keys(s).filter(function (k) { return k.charAt(0) === "#"; }).sort().join(","));
s.emit("ping", 1, 2);
console.log("after emit");
s.removeListener("ping", h);
s.emit("ping", 3, 4);
s.on("ping", h);
s.removeAllListeners("ping");
s.emit("ping", 5, 6);
s.on("ping", h);
s.removeAllListeners();
console.log("keys left " + Object.keys(s).filter(function (k) { return k.indexOf("#on") === 0 && s[k].length > 0; }).join(","));
s.emit("ping", 7, 8);
s.on("done", function () { console.log("done"); });
s.emit("done");
`);
  try {
    await board.line("done");
    assert.deepEqual(board.lines, ["keys #ondata,#onping", "after emit", "keys left ", "ping 1 2", "done"]);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Wifi

test("with wifi: true, Wifi.connect calls back with null", async () => {
  const board = boot(
    `
var wifi = require("Wifi");
wifi.on("connected", function (details) { console.log("event connected " + details.ssid); });
wifi.connect("home", { password: "secret" }, function (err) { console.log("callback " + err); });
`,
    { wifi: true },
  );
  try {
    await board.line("event connected");
    assert.deepEqual(board.lines, ["callback null", "event connected home"]);
  } finally {
    board.sim.powerOff();
  }
});

test("with wifi: false, require(\"Wifi\") throws 'Module \"Wifi\" not found'; global.require is a function", () => {
  const board = boot(
    `
console.log("require " + typeof global.require);
try { require("Wifi"); console.log("no throw"); } catch (e) { console.log("threw " + e.message); }
`,
    { wifi: false },
  );
  try {
    assert.deepEqual(board.lines, ["require function", 'threw Module "Wifi" not found']);
  } finally {
    board.sim.powerOff();
  }
});

test("wifiDrop destroys open sockets ('close') and net.connect throws until wifiRestore", async () => {
  const peer = await startPeer();
  const board = boot(
    `
var net = require("net");
var wifi = require("Wifi");
var s = net.connect({ host: "127.0.0.1", port: ${peer.port} }, function () { s.write("1"); console.log("connected 1"); });
s.on("end", function () { console.log("end 1"); });
s.on("close", function () { console.log("close 1"); });
wifi.on("disconnected", function () {
  console.log("wifi disconnected");
  var iv = setInterval(function () {
    try {
      net.connect({ host: "127.0.0.1", port: ${peer.port} }, function () { console.log("connected 2"); });
      clearInterval(iv);
    } catch (e) {
      console.log("retry threw " + e.type + " " + e.message);
    }
  }, 10);
});
`,
    { wifi: true },
  );
  try {
    await board.line("connected 1");
    const first = await peer.talker();
    board.sim.wifiDrop();
    assert.equal(board.sim.sockets.size, 0);
    await board.line("close 1");
    assert.equal(await board.line("retry threw"), "retry threw InternalError Unable to create socket");
    await waitFor(() => first.closed, "the server to see the link drop");
    assert.ok(board.lines.indexOf("end 1") < board.lines.indexOf("close 1"));
    board.sim.wifiRestore();
    await board.line("connected 2");
    assert.equal(board.sim.sockets.size, 1);
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Power

test("powerOff ends sockets and timers without running any more firmware code", async () => {
  const peer = await startPeer();
  const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () { s.write("x"); console.log("connected"); });
s.on("data", function () { console.log("data"); });
s.on("end", function () { console.log("end"); });
s.on("close", function () { console.log("close"); });
setInterval(function () { console.log("tick"); }, 5);
E.on("kill", function () { console.log("kill"); });
`);
  try {
    await board.line("connected");
    const link = await peer.talker();
    link.socket.write("late bytes");
    board.sim.powerOff();
    const before = board.lines.length;
    await waitFor(() => link.closed, "the server to see the link drop");
    await tick(50);
    assert.equal(board.lines.length, before, `no code ran after powerOff: ${JSON.stringify(board.lines.slice(before))}`);
    assert.equal(board.sim.sockets.size, 0);
    assert.equal(board.sim.timerCount(), 0);
    await board.sim.stop(1); // already dead: no 'kill'
    assert.ok(!board.lines.includes("kill"));
  } finally {
    board.sim.powerOff();
    await peer.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Traps where an easy emulation would differ from Espruino

test(
  "require(\"Wifi\") on a build without it throws an Error that is instanceof Error",
  () => {
    const board = boot(`try { require("Wifi"); } catch (e) { console.log("instanceof " + (e instanceof Error)); }`, { wifi: false });
    try {
      assert.deepEqual(board.lines, ["instanceof true"]);
    } finally {
      board.sim.powerOff();
    }
  },
);

test(
  "write after close throws an Error that is instanceof Error",
  async () => {
    const peer = await startPeer((socket) => socket.end());
    const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("close", function () { try { s.write("x"); } catch (e) { console.log("instanceof " + (e instanceof Error)); } });
`);
    try {
      assert.equal(await board.line("instanceof"), "instanceof true");
    } finally {
      board.sim.powerOff();
      await peer.close();
    }
  },
);

test(
  "a TCP reset of an open connection gives 'end' then 'close' and no 'error' (refusal: throw)",
  async () => {
    const peer = await startPeer((socket) => socket.once("data", () => socket.resetAndDestroy()));
    const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () { s.write("hi"); });
s.on("error", function (e) { console.log("error " + e.message); });
s.on("end", function () { console.log("end"); });
s.on("close", function () { console.log("close"); });
`);
    try {
      await board.line("close");
      assert.deepEqual(board.lines, ["end", "close"]);
    } finally {
      board.sim.powerOff();
      await peer.close();
    }
  },
);

test(
  "socket.on('connect') fires once the connection is open",
  async () => {
    const peer = await startPeer((socket) => socket.write("x"));
    const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.on("connect", function () { console.log("connect"); });
s.on("data", function () { console.log("data"); });
`);
    try {
      await board.line("data");
      assert.deepEqual(board.lines, ["connect", "data"]);
    } finally {
      board.sim.powerOff();
      await peer.close();
    }
  },
);

test(
  "one net.connect opens exactly one TCP connection to the peer",
  async () => {
    const peer = await startPeer();
    const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} }, function () { s.write("x"); });
`);
    try {
      await waitFor(() => peer.received().length >= 1, "the firmware's byte");
      assert.equal(peer.accepted.length, 1);
    } finally {
      board.sim.powerOff();
      await peer.close();
    }
  },
);

test(
  "emit of an event nobody listens to adds no \"#onX\" property",
  async () => {
    const peer = await startPeer();
    const board = boot(`
var s = require("net").connect({ host: "127.0.0.1", port: ${peer.port} });
s.emit("nobody");
console.log("keys " + Object.keys(s).filter(function (k) { return k.charAt(0) === "#"; }).join(","));
`);
    try {
      assert.deepEqual(board.lines, ["keys "]);
    } finally {
      board.sim.powerOff();
      await peer.close();
    }
  },
);

test("setWatch: a press on a pulled-up input runs the falling-edge watch later, with Espruino's event fields", async () => {
  const board = boot(
    `pinMode(D0, "input_pullup");
     var id = setWatch(function (e) { console.log("edge " + e.state + " " + (typeof e.time) + " " + digitalRead(D0)); }, D0, { repeat: true, edge: "falling", debounce: 50 });
     console.log("watch " + id + " level " + digitalRead(D0));`,
  );
  try {
    await board.line("watch 1 level 1");
    board.sim.press("D0");
    assert.equal(board.lines.length, 1, "the watch runs later, not inside press()");
    await board.line("edge false number");
    board.sim.press("D0");
    await waitFor(() => board.lines.length === 3, "a second edge");
    board.sim.setInput("D0", 1);
    assert.equal(board.uncaught.length, 0, board.uncaught.join("\n"));
  } finally {
    board.sim.powerOff();
  }
});
