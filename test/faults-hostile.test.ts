// A hostile broker: the built bundle in host-sim connects to a server that accepts its CONNECT and SUBSCRIBE, then
// sends, on the live link, one attack after another: each class of malformed packet the codec knows, a wrong-size
// or reserved-bit CONNACK, packets a broker never sends, wrong packet ids, oversized PUBLISHes (1 MB, 16 MB, and a
// 256 MB one announced) in pieces, and random bytes. After each, the device must not throw, must say what happened,
// must drop and reconnect where the stream can no longer be trusted (and keep the link where it can), and must obey
// the next valid command; while an oversized packet streams past, its memory must not grow with it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { EspruinoSim } from "../host-sim/runtime.ts";
import { until } from "../scripts/faults.ts";
import { heapAfterGc as heap } from "./support/heap.ts";
import { HostileBroker, packet, publish, varint } from "./support/hostile-broker.ts";


/** Reconnect bound after a drop: backoff cap 1 s + 2 s slack (twice for a bad CONNACK: two connects). */
const RECONNECT_BOUND_MS = 3000;
const MAX_PACKET = 1024;

const dir = mkdtempSync(join(tmpdir(), "hostile-"));
let broker: HostileBroker;
let sim: EspruinoSim;
const lines: string[] = [];
const uncaught: string[] = [];
const changed = new EventEmitter();
changed.setMaxListeners(0);
const rig = { lines, changed };
const wait = (what: string, check: () => boolean, ms = 10_000) => until(rig, what, check, ms);

before(async () => {
  broker = await HostileBroker.start();
  for (const event of ["connection", "subscribed", "closed"]) broker.on(event, () => changed.emit("change"));
  const bundle = join(dir, "firmware.js");
  await buildFirmware({
    outfile: bundle,
    configFile: null,
    env: {},
    // Keepalive 10 s: a 16 MB packet takes seconds to stream past, and PINGRESP cannot come inside it.
    overrides: { mqttUrl: broker.url, clientId: "hostile1", stateQos: 1, offlineQueue: 20, keepalive: 10, reconnectMaxSeconds: 1, maxPacketSize: MAX_PACKET },
  });
  sim = new EspruinoSim({ code: readFileSync(bundle, "latin1"), fileName: "firmware.js", wifi: false });
  sim.on("console", (text: string) => {
    lines.push(text);
    changed.emit("change");
  });
  sim.on("pin", () => changed.emit("change"));
  sim.on("uncaught", (text: string) => uncaught.push(text));
  sim.start();
  await wait("the first subscription", () => broker.current?.subscribed === true);
});

after(async () => {
  sim?.powerOff();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A valid command on the live link; resolves when the LED follows. */
async function obey() {
  await wait("a subscribed connection", () => broker.current?.subscribed === true && !broker.current.socket.destroyed);
  const level = sim.pinValue("D2") === 1 ? 0 : 1;
  broker.send(publish("led", level ? "on" : "off"));
  await wait(`the LED at ${level}`, () => sim.pinValue("D2") === level);
}

const u16 = (n: number) => [n >> 8, n & 255];
const topicBytes = (bytes: number[]) => [...u16(bytes.length), ...bytes];
const LED = [0x6c, 0x65, 0x64];

interface Attack {
  name: string;
  bytes?: Buffer;
  /** Instead of `bytes`: the CONNACK of the next connection (the current one is hung up to get there). */
  connack?: Buffer;
  /** drop: the device must close and reconnect; keep: it must stay on this link. */
  expect: "drop" | "keep";
  says: RegExp;
}

const malformed = (error: number) => new RegExp(`^MQTT: bad packet, first byte \\d+ \\(error ${error}\\); retry in `);

const ATTACKS: Attack[] = [
  { name: "remaining length of 5 bytes", bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), expect: "drop", says: malformed(1) },
  { name: "packet type 0", bytes: packet(0x00), expect: "drop", says: malformed(2) },
  { name: "packet type 15", bytes: packet(0xf0), expect: "drop", says: malformed(2) },
  { name: "CONNECT from the broker", bytes: packet(0x10, [0, 4, 77, 81, 84, 84, 4, 2, 0, 10, 0, 0]), expect: "drop", says: malformed(2) },
  { name: "SUBSCRIBE from the broker", bytes: packet(0x82, [0, 1, ...topicBytes(LED), 0]), expect: "drop", says: malformed(2) },
  { name: "PINGREQ from the broker", bytes: packet(0xc0), expect: "drop", says: malformed(2) },
  { name: "PUBLISH with QoS 3", bytes: packet(0x36, [...topicBytes(LED), 0, 1, 0x6f, 0x6e]), expect: "drop", says: malformed(3) },
  { name: "PUBREL with flags 0000", bytes: packet(0x60, [0, 1]), expect: "drop", says: malformed(3) },
  { name: "PUBACK with flags 0010", bytes: packet(0x42, [0, 1]), expect: "drop", says: malformed(3) },
  { name: "PUBACK one byte short", bytes: packet(0x40, [0]), expect: "drop", says: malformed(4) },
  { name: "PINGRESP with a body", bytes: packet(0xd0, [0]), expect: "drop", says: malformed(4) },
  { name: "topic length past the end", bytes: packet(0x30, [0, 0x10, ...LED]), expect: "drop", says: malformed(4) },
  { name: "QoS 1 PUBLISH without room for its id", bytes: packet(0x32, topicBytes(LED)), expect: "drop", says: malformed(4) },
  { name: "topic not UTF-8", bytes: packet(0x30, [...topicBytes([0x6c, 0xc3, 0x28]), 0x6f, 0x6e]), expect: "drop", says: malformed(6) },
  { name: "topic holding U+0000", bytes: packet(0x30, [...topicBytes([0x6c, 0x00, 0x64]), 0x6f, 0x6e]), expect: "drop", says: malformed(6) },
  { name: "empty topic", bytes: packet(0x30, [0, 0, 0x6f, 0x6e]), expect: "drop", says: malformed(6) },
  { name: "SUBACK with return code 5", bytes: packet(0x90, [0, 9, 5]), expect: "drop", says: malformed(7) },
  { name: "a second CONNACK", bytes: packet(0x20, [0, 0]), expect: "drop", says: /^MQTT: second CONNACK; retry in / },
  { name: "CONNACK of 3 bytes", connack: packet(0x20, [0, 0, 0]), expect: "drop", says: /^MQTT: bad packet, first byte 32 \(error 4\)/ },
  { name: "CONNACK with reserved flag bits", connack: packet(0x20, [2, 0]), expect: "drop", says: /^MQTT: bad packet, first byte 32 \(error 7\)/ },
  { name: "CONNACK refusing (code 5)", connack: packet(0x20, [0, 5]), expect: "drop", says: /^MQTT: refused, code 5 \(not authorized\); retry in / },
  { name: "PUBACK for an id never used", bytes: packet(0x40, [0x77, 0x77]), expect: "keep", says: /^$/ },
  { name: "SUBACK for an id never used", bytes: packet(0x90, [0x77, 0x77, 0]), expect: "keep", says: /^$/ },
  { name: "UNSUBACK for an id never used", bytes: packet(0xb0, [0x77, 0x77]), expect: "keep", says: /^$/ },
  { name: "PUBREC, PUBCOMP to a QoS 1 build", bytes: Buffer.concat([packet(0x50, [0, 1]), packet(0x70, [0, 1])]), expect: "keep", says: /^$/ },
  { name: "PINGRESP unasked", bytes: packet(0xd0), expect: "keep", says: /^$/ },
  { name: "QoS 2 PUBLISH to a QoS 1 build", bytes: publish("led", "on", 2, 7), expect: "keep", says: /^ignored a QoS 2 PUBLISH$/ },
  { name: "PUBLISH on a topic not subscribed", bytes: publish("other/topic", "on"), expect: "keep", says: /^$/ },
  // 1 type byte, 2 length bytes, 2 + 3 topic bytes, then the payload.
  { name: "PUBLISH of 1,024 bytes (at the cap)", bytes: publish("led", Buffer.alloc(1024 - 8, 0x6f)), expect: "keep", says: /^refused "o{16}"\.\.\. on led \(expected / },
  { name: "PUBLISH of 1,025 bytes (1 over the cap)", bytes: publish("led", Buffer.alloc(1025 - 8, 0x6f)), expect: "keep", says: /^skipped a packet of 1025 bytes$/ },
];

const results: string[] = [];

for (const attack of ATTACKS) {
  test(`hostile broker: ${attack.name}: ${attack.expect === "drop" ? "dropped, reconnected" : "link kept"}, LED obeys after`, async () => {
    await obey();
    const mark = lines.length;
    const connections = broker.connections.length;
    const started = performance.now();
    if (attack.connack) {
      broker.nextConnack = attack.connack;
      broker.hangUp();
      await wait("the connection with the bad CONNACK", () => broker.connections.length > connections);
    } else {
      broker.send(attack.bytes!);
    }
    if (attack.expect === "drop") {
      await wait("a new subscribed connection", () => broker.connections.length > connections + (attack.connack ? 1 : 0) && broker.current!.subscribed, RECONNECT_BOUND_MS * 2 + 2000);
      const took = performance.now() - started;
      assert.ok(took <= RECONNECT_BOUND_MS * (attack.connack ? 2 : 1), `reconnected in ${Math.round(took)} ms`);
      assert.ok(lines.slice(mark).some((line) => attack.says.test(line)), `the console said ${attack.says}:\n${lines.slice(mark).join("\n")}`);
      results.push(`${attack.name}: ${lines.slice(mark).find((line) => attack.says.test(line))}`);
    } else {
      if (attack.says.source !== "^$") await wait(`the console saying ${attack.says}`, () => lines.slice(mark).some((line) => attack.says.test(line)));
      await obey();
      assert.equal(broker.connections.length, connections, `the link was kept:\n${lines.slice(mark).join("\n")}`);
    }
    await obey();
    assert.deepEqual(uncaught, []);
  });
}

/** Lets the board take every chunk of data host-sim has queued for it (each goes through setImmediate). */
async function drained(bytes: number) {
  await wait(`${bytes} bytes into the board`, () => [...sim.sockets].some((s) => s.bytesIn >= bytes), 20_000);
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function publishHeader(payloadLength: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), varint(2 + 3 + payloadLength), Buffer.from([0, 3, ...LED])]);
}

test("hostile broker: a 1 MB PUBLISH in 64 KB pieces is skipped as it streams, the link kept", async () => {
  await obey();
  const mark = lines.length;
  const connections = broker.connections.length;
  const size = 1 << 20;
  await broker.sendBulk(publishHeader(size), size, 64 * 1024);
  await wait("the skip reported", () => lines.slice(mark).some((line) => line.startsWith(`skipped a packet of ${size + 4 + 5} bytes`)));
  await obey();
  assert.equal(broker.connections.length, connections);
  assert.deepEqual(uncaught, []);
});

test("hostile broker: memory stays flat while a 16 MB PUBLISH streams past", async () => {
  await obey();
  const mark = lines.length;
  const size = 16 << 20;
  const socket = [...sim.sockets][0]!;
  const base = socket.bytesIn;
  const before = heap();
  const samples: number[] = [];
  await broker.sendBulk(publishHeader(size), size, 64 * 1024, 0x61, size, async (sent) => {
    if (sent % (4 << 20) !== 0 || sent === size) return;
    await drained(base + sent);
    samples.push(heap() - before);
  });
  await wait("the skip reported", () => lines.slice(mark).some((line) => line.startsWith("skipped a packet of")));
  await obey();
  const worst = Math.max(...samples);
  results.push(`16 MB PUBLISH: heap growth at 4, 8, 12 MB in: ${samples.map((b) => (b / 1024).toFixed(0) + " KB").join(", ")}`);
  assert.equal(samples.length, 3);
  assert.ok(worst < 2 << 20, `heap grew by ${worst} bytes while a 16 MB packet streamed past: it is being buffered`);
  assert.deepEqual(uncaught, []);
});

test("hostile broker: a 256 MB PUBLISH announced, 4 MB sent, then the broker hangs up: skipped, reconnected", async () => {
  await obey();
  const mark = lines.length;
  const connections = broker.connections.length;
  const before = heap();
  const announced = 268_435_455 - 5;
  await broker.sendBulk(publishHeader(announced), announced, 64 * 1024, 0x61, 4 << 20);
  await drained(4 << 20);
  const growth = heap() - before;
  assert.ok(growth < 2 << 20, `heap grew by ${growth} bytes`);
  assert.ok(lines.slice(mark).some((line) => line.startsWith("skipped a packet of 268435460 bytes")), lines.slice(mark).join("\n"));
  broker.hangUp();
  await wait("a new subscribed connection", () => broker.connections.length > connections && broker.current!.subscribed, RECONNECT_BOUND_MS + 2000);
  await obey();
  assert.deepEqual(uncaught, []);
});

test("hostile broker: random bytes (20 seeded rounds): never thrown, always back, LED obeys", async () => {
  let seed = 0x5eed;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  let drops = 0;
  for (let round = 0; round < 20; round++) {
    await obey();
    const connection = broker.current!;
    const junk = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
    broker.send(junk);
    // The device drops the link at once for most junk; junk that looks like the start of a long packet leaves it
    // waiting for the rest, so the broker hangs up after a moment.
    await wait("a drop", () => connection.socket.destroyed, 300).then(() => drops++, () => connection.socket.destroy());
    await wait("a new subscribed connection", () => broker.current !== connection && broker.current!.subscribed, RECONNECT_BOUND_MS + 2000);
  }
  await obey();
  results.push(`random bytes: 20 rounds, ${drops} dropped by the device itself, the rest hung up by the broker`);
  assert.deepEqual(uncaught, []);
});

after(() => {
  console.log("\nhostile broker, what the console said:\n" + results.map((line) => "  " + line).join("\n") + "\n");
});
