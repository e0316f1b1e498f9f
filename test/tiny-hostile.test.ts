// The tiny firmware against a hostile broker (test/support/hostile-broker.ts): every packet a broker must not send a
// QoS 0 subscriber, a refused or malformed CONNACK, packets at and over the size cap, 1 MB and 16 MB PUBLISHes that
// stream past, and random bytes. After each it must say why, never throw, keep or re-make the link as it should, and
// obey the next command.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Board, until } from "./support/board.ts";
import { heapAfterGc as heap } from "./support/heap.ts";
import { HostileBroker, packet, publish, varint } from "./support/hostile-broker.ts";
import { consoleOf, tinyFixtures } from "./support/tiny.ts";

const { boot } = tinyFixtures();

describe("the tiny firmware against a hostile broker", () => {
  let broker: HostileBroker;
  let board: Board;
  before(async () => {
    broker = await HostileBroker.start();
    board = await boot({ mqttUrl: broker.url, clientId: "tinyhostile", keepalive: 10, reconnectMaxSeconds: 1, maxPacketSize: 1024 });
    await until("the first subscription", () => broker.current?.subscribed === true, 10_000, consoleOf(board));
  });
  after(async () => {
    board?.sim.powerOff();
    await broker?.close();
  });

  async function obey() {
    await until("a subscribed connection", () => broker.current?.subscribed === true && !broker.current.socket.destroyed, 10_000, consoleOf(board));
    const level = board.sim.pinValue("D2") === 1 ? 0 : 1;
    broker.send(publish("led", level ? "on" : "off"));
    await until(`the LED at ${level}`, () => board.sim.pinValue("D2") === level, 10_000, consoleOf(board));
  }

  const LED = [0x6c, 0x65, 0x64];
  /** The packet id of the firmware's one SUBSCRIBE: "id". */
  const SUBSCRIBE_ID = [0x69, 0x64];
  const topic = (bytes: number[]) => [0, bytes.length, ...bytes];
  const bad = (first: number) => new RegExp(`^MQTT: bad packet, first byte ${first}; retry in \\d+ s$`);
  const ATTACKS: { name: string; bytes?: Buffer; connack?: Buffer; says: RegExp; keep?: boolean }[] = [
    { name: "remaining length of 5 bytes", bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), says: bad(0x30) },
    { name: "packet type 0", bytes: packet(0x00), says: bad(0) },
    { name: "packet type 15", bytes: packet(0xf0), says: bad(0xf0) },
    { name: "CONNECT from the broker", bytes: packet(0x10, [0, 4, 77, 81, 84, 84, 4, 2, 0, 10, 0, 0]), says: bad(0x10) },
    { name: "PINGREQ from the broker", bytes: packet(0xc0), says: bad(0xc0) },
    { name: "a second CONNACK", bytes: packet(0x20, [0, 0]), says: bad(0x20) },
    { name: "PUBLISH at QoS 1 to a QoS 0 subscriber", bytes: publish("led", "on", 1, 7), says: bad(0x32) },
    { name: "PUBLISH at QoS 3", bytes: packet(0x36, [...topic(LED), 0, 1, 0x6f, 0x6e]), says: bad(0x36) },
    { name: "PUBLISH with DUP at QoS 0", bytes: packet(0x38, [...topic(LED), 0x6f, 0x6e]), says: bad(0x38) },
    { name: "PUBLISH whose topic length runs past the end", bytes: packet(0x30, [0, 0x10, ...LED]), says: /^$/, keep: true },
    { name: "PUBLISH of one byte", bytes: packet(0x30, [0]), says: /^$/, keep: true },
    { name: "PUBACK (nothing was sent at QoS 1)", bytes: packet(0x40, [0, 1]), says: bad(0x40) },
    { name: "SUBACK for an id never used", bytes: packet(0x90, [0x77, 0x77, 0]), says: bad(0x90) },
    { name: "SUBACK granting QoS 1 to a QoS 0 request", bytes: packet(0x90, [...SUBSCRIBE_ID, 1]), says: bad(0x90) },
    { name: "PINGRESP with a body", bytes: packet(0xd0, [0]), says: bad(0xd0) },
    { name: "UNSUBACK", bytes: packet(0xb0, [0, 1]), says: bad(0xb0) },
    { name: "CONNACK with session present after a clean-session CONNECT", connack: packet(0x20, [1, 0]), says: /^MQTT: bad packet, first byte 32; retry/ },
    { name: "CONNACK of 3 bytes", connack: packet(0x20, [0, 0, 0]), says: /^MQTT: bad packet, first byte 32; retry/ },
    { name: "CONNACK refusing (code 3)", connack: packet(0x20, [0, 3]), says: /^MQTT: refused, code 3; retry in \d+ s$/ },
    { name: "a refusal's body under another type (0x10) in the CONNACK's place", connack: packet(0x10, [0, 5]), says: /^MQTT: bad packet, first byte 16; retry/ },
    { name: "SUBACK refusing the subscription", bytes: packet(0x90, [...SUBSCRIBE_ID, 0x80]), says: /^subscription refused: led$/, keep: true },
    { name: "PINGRESP unasked", bytes: packet(0xd0), says: /^$/, keep: true },
    { name: "PUBLISH on a topic not subscribed (not UTF-8)", bytes: publish(Buffer.from([0x6c, 0xc3, 0x28]), "on"), says: /^$/, keep: true },
    { name: "PUBLISH retained, on the base topic", bytes: packet(0x31, [...topic(LED), 0x6f, 0x6e]), says: /^$/, keep: true },
    { name: "PUBLISH of 1,024 bytes (at the cap)", bytes: publish("led", Buffer.alloc(1024 - 8, 0x6f)), says: /^refused "o{16}"\.\.\. on led$/, keep: true },
    { name: "PUBLISH of 1,025 bytes (1 over the cap)", bytes: publish("led", Buffer.alloc(1025 - 8, 0x6f)), says: /^skipped a packet of 1025 bytes$/, keep: true },
  ];

  for (const attack of ATTACKS) {
    test(`${attack.name}: ${attack.keep ? "link kept" : "dropped, reconnected"}, says so, LED obeys after`, async () => {
      await obey();
      const mark = board.lines.length;
      const connections = broker.connections.length;
      if (attack.connack) {
        broker.nextConnack = attack.connack;
        broker.hangUp();
        await until("the connection with the bad CONNACK", () => broker.connections.length > connections, 10_000, consoleOf(board));
      } else {
        broker.send(attack.bytes!);
      }
      const said = () => board.lines.slice(mark).some((line) => attack.says.test(line));
      if (attack.keep) {
        if (attack.says.source !== "^$") await until(`the console saying ${attack.says}`, said, 10_000, consoleOf(board));
        await obey();
        assert.equal(broker.connections.length, connections, `the link was kept:\n${board.lines.slice(mark).join("\n")}`);
        if (attack.says.source === "^$") assert.deepEqual(board.lines.slice(mark), []);
      } else {
        const extra = attack.connack ? 1 : 0;
        await until("a new subscribed connection", () => broker.connections.length > connections + extra && broker.current!.subscribed, 8000, consoleOf(board));
        assert.ok(said(), `the console said ${attack.says}:\n${board.lines.slice(mark).join("\n")}`);
      }
      await obey();
      assert.deepEqual(board.uncaught, []);
    });
  }

  test("a 1 MB PUBLISH in 64 KB pieces is skipped as it streams, the link kept", async () => {
    await obey();
    const mark = board.lines.length;
    const connections = broker.connections.length;
    const size = 1 << 20;
    await broker.sendBulk(Buffer.concat([Buffer.from([0x30]), varint(5 + size), Buffer.from([0, 3, ...LED])]), size, 64 * 1024);
    await board.line(`skipped a packet of ${size + 4 + 5} bytes`, mark);
    await obey();
    assert.equal(broker.connections.length, connections);
  });

  test("memory stays flat while a 16 MB PUBLISH streams past, then the LED obeys", async () => {
    await obey();
    const mark = board.lines.length;
    const size = 16 << 20;
    const socket = board.sockets.at(-1)!;
    const base = socket.bytesIn;
    const before = heap();
    const growth: number[] = [];
    const header = Buffer.concat([Buffer.from([0x30]), varint(5 + size), Buffer.from([0, 3, ...LED])]);
    await broker.sendBulk(header, size, 64 * 1024, 0x61, size, async (sent) => {
      if (sent % (4 << 20) !== 0 || sent === size) return;
      // Every chunk queued so far taken in by the board (host-sim hands each over through setImmediate).
      await until(`${sent} bytes into the board`, () => socket.bytesIn >= base + sent, 20_000);
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      growth.push(heap() - before);
    });
    await board.line("skipped a packet of", mark);
    await obey();
    assert.equal(growth.length, 3);
    assert.ok(Math.max(...growth) < 2 << 20, `heap grew by ${growth.join(", ")} bytes while 16 MB streamed past: it is being buffered`);
  });

  test("random bytes (20 seeded rounds): never thrown, always back, LED obeys", async () => {
    let seed = 0x71e7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
    for (let round = 0; round < 20; round++) {
      await obey();
      const connection = broker.current!;
      broker.send(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
      // Junk that reads as the start of a long packet leaves the device waiting for the rest: the broker hangs up.
      await until("a drop", () => connection.socket.destroyed, 300).catch(() => connection.socket.destroy());
      await until("a new subscribed connection", () => broker.current !== connection && broker.current!.subscribed, 5000, consoleOf(board));
    }
    await obey();
    assert.deepEqual(board.uncaught, []);
  });
});
