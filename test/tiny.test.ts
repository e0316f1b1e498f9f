// The tiny firmware (firmware/tiny.ts): which configs build it, and the built bundle on a simulated board against
// Mosquitto (commands, retained state and availability, the Will, a graceful stop, credentials, a broker restart,
// WiFi lost and back) and against a hostile broker (every packet a broker must not send a QoS 0 subscriber, a
// refused CONNACK, missing CONNACK and PINGRESP, oversized and random bytes). After each fault it must say why,
// never throw, reconnect, and obey the next command.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { loadConfig, tinyConnectLength, tinyFirmwareGaps } from "../scripts/firmware-config.mjs";
import { startAedesBroker, startMosquitto } from "./support/brokers.ts";
import { bootBoard, type Board, until } from "./support/board.ts";
import { makeCa } from "./support/certs.ts";
import { eachPacket, headerSize } from "../scripts/faults.ts";
import { FaultProxy } from "./support/fault-proxy.ts";
import { heapAfterGc as heap } from "./support/heap.ts";
import { HostileBroker, packet, publish, varint } from "./support/hostile-broker.ts";
import { Phone, settledRetained } from "./support/phone.ts";

/** The tiny firmware at its smallest (the defaults build it too, with JSON commands). */
const TINY = { jsonCommands: false };

const boards: Board[] = [];
const phones: Phone[] = [];
after(async () => {
  for (const board of boards) board.sim.powerOff();
  for (const phone of phones) await phone.end();
});

async function boot(overrides: Record<string, unknown>): Promise<Board> {
  const board = await bootBoard({ ...TINY, ...overrides });
  boards.push(board);
  assert.match(board.code, /no PINGRESP/, "the tiny firmware was built");
  return board;
}

async function watch(url: string, topics: string[], options = {}): Promise<Phone> {
  const phone = await Phone.connect(url, topics, options);
  phones.push(phone);
  return phone;
}

const consoleOf = (board: Board) => () => `; console:\n${board.lines.join("\n")}`;

describe("which firmware a config builds", () => {
  const gaps = (overrides: Record<string, unknown>) => tinyFirmwareGaps(loadConfig({ file: null, env: {}, overrides }));

  test("the defaults build it, and so does every plain setting: WiFi, credentials, JSON commands on or off...", () => {
    assert.deepEqual(gaps({}), []);
    assert.deepEqual(gaps(TINY), []);
    assert.deepEqual(gaps({ wifiSsid: "net", wifiPassword: "pw", mqttUrl: "mqtt://u:p@10.0.0.2:1884", clientId: "desk", keepalive: 30, baseTopic: "desk/lamp", ledPin: "D4", ledActiveLow: true, maxPacketSize: 256, reconnectMaxSeconds: 5 }), []);
  });

  test("each setting it cannot honour picks the full firmware, and is named", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["commandQos", { commandQos: 1 }],
      ["stateQos", { stateQos: 2 }],
      ["offlineQueue", { offlineQueue: 3 }],
      ["cleanSession", { cleanSession: false }],
      ["buttonPin", { buttonPin: "D0" }],
      ["errorTopic", { errorTopic: "led/error" }],
      ["homeAssistant", { homeAssistant: true }],
      // 128 bytes of CONNECT: the tiny firmware writes every remaining length in one byte.
      ["longConnect", { mqttUrl: "mqtt://u:" + "x".repeat(61) + "@10.0.0.2" }],
    ];
    const dir = mkdtempSync(join(tmpdir(), "tiny-ca-"));
    try {
      cases.push(["mqttUrl", { mqttUrl: "mqtts://127.0.0.1", mqttCaFile: makeCa(dir, "tiny-ca").cert }]);
      for (const [name, overrides] of cases) assert.deepEqual(gaps(overrides), [name], name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(gaps({ ledBrightness: true }), ["ledBrightness"]);
    assert.deepEqual(gaps({ mqttUrl: "mqtt://u:" + "x".repeat(60) + "@10.0.0.2" }), [], "127 bytes of CONNECT fit");
  });

  test("the bundle is the tiny one, half the full one, and carries no setting it was not given", async () => {
    const tiny = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: {} });
    const full = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: {}, entry: "firmware/main.ts" });
    const smallest = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: TINY });
    assert.equal(tiny.entry, "firmware/tiny.ts");
    assert.equal(smallest.entry, "firmware/tiny.ts");
    assert.ok(tiny.code.length * 1.8 < full.code.length, `tiny ${tiny.code.length} bytes, full ${full.code.length}`);
    assert.ok(smallest.code.length * 2.4 < full.code.length, `tiny without JSON ${smallest.code.length} bytes, full ${full.code.length}`);
    assert.doesNotMatch(tiny.code, /Wifi|"user"|second CONNACK/);
    assert.match(tiny.code, /"state"/, "JSON commands");
    assert.doesNotMatch(smallest.code, /"state"/);
    const withAuth = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { ...TINY, mqttUrl: "mqtt://user:pw@127.0.0.1", wifiSsid: "net" } });
    assert.equal(withAuth.entry, "firmware/tiny.ts");
    assert.match(withAuth.code, /"user"/);
    assert.match(withAuth.code, /Wifi/);
  });
});

describe("the tiny firmware through Mosquitto", () => {
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  let board: Board;
  let phone: Phone;

  before(async () => {
    broker = await startMosquitto();
    // The defaults: what a user who sets only the broker gets (JSON commands on).
    board = await boot({ mqttUrl: broker.url, clientId: "tiny1", jsonCommands: true });
    await board.line("MQTT connected");
    phone = await watch(broker.url, ["led/#"]);
  });
  after(async () => {
    board?.sim.powerOff();
    await broker?.stop();
  });

  test("online and the state, both retained; the LED off at boot", async () => {
    assert.equal(await settledRetained(broker.url, "led/availability", "online"), "online");
    assert.equal(await settledRetained(broker.url, "led/state", "off"), "off");
    assert.equal(board.sim.pinValue("D2"), 0);
  });

  async function command(payload: string, level: 0 | 1) {
    const from = phone.seen.length;
    await phone.publish("led", payload);
    await until(`the LED at ${level} after "${payload}"`, () => board.sim.pinValue("D2") === level, 10_000, consoleOf(board));
    await phone.waitFor("led/state", level ? "on" : "off", from);
  }

  test("on, off, toggle (any case), 1 and true switch the LED, and the retained state follows", async () => {
    await command("on", 1);
    await command("off", 0);
    await command("toggle", 1);
    await command(" TOGGLE ", 0);
    await command("1", 1);
    await command("false", 0);
    await command("true", 1);
    assert.equal(await settledRetained(broker.url, "led/state", "on"), "on");
  });

  test('JSON commands: {"state":"on"}, any case, white space around; no brightness in this build', async () => {
    await command('{"state":"on"}', 1);
    await command(' { "state" : "OFF" } ', 0);
    await command('{"state":"off"}', 0);
    await command('{"state":"toggle","transition":2}', 1);
    const mark = board.lines.length;
    await phone.publish("led", '{"brightness":1}');
    await board.line('refused "{\\"brightness\\":1}" on led', mark);
    assert.equal(board.sim.pinValue("D2"), 1);
  });

  test("a bad payload is refused on the console, and neither the LED nor the state changes", async () => {
    const pins = board.pins.length;
    const from = phone.seen.length;
    await phone.publish("led", "blink");
    await board.line('refused "blink" on led');
    await phone.publish("led", '{"state":"on"}x');
    await board.line('refused "{\\"state\\":\\"on\\"}x" on led');
    await phone.publish("led", "x".repeat(40));
    await board.line('refused "xxxxxxxxxxxxxxxx"... on led');
    await command("off", 0);
    assert.deepEqual(board.pins.slice(pins).map((p) => p.value), [0]);
    assert.deepEqual(phone.seen.slice(from).filter((m) => m.topic === "led/state").map((m) => m.payload), ["off"]);
  });

  test("1,000 commands back to back: all applied, the last state reported, far fewer reports than commands", async () => {
    await command("off", 0);
    const from = phone.seen.length;
    const pins = board.pins.length;
    for (let i = 0; i < 1000; i++) phone.client.publish("led", "toggle");
    await until("1,000 toggles applied", () => board.pins.length - pins >= 1000, 20_000, consoleOf(board));
    assert.equal(await settledRetained(broker.url, "led/state", "off"), "off");
    const reports = phone.seen.slice(from).filter((m) => m.topic === "led/state").length;
    assert.ok(reports < 1000, `${reports} reports`);
    assert.deepEqual(board.uncaught, []);
  });

  test("a stop (reset, save, load) and a power cut both leave availability reading offline (the Will), retained", async () => {
    const from = phone.seen.length;
    await board.sim.stop();
    await phone.waitFor("led/availability", "offline", from);
    assert.ok(board.lines.includes("MQTT: stopped"), board.lines.join("\n"));
    assert.equal(await settledRetained(broker.url, "led/availability", "offline"), "offline");
    const crashed = await boot({ mqttUrl: broker.url, clientId: "tiny2", baseTopic: "other" });
    await crashed.line("MQTT connected");
    await phone.client.subscribeAsync("other/#");
    const mark = phone.seen.length;
    crashed.sim.powerOff();
    await phone.waitFor("other/availability", "offline", mark);
    assert.equal(await settledRetained(broker.url, "other/availability", "offline"), "offline");
  });
});

describe("save() on a running board: stopped, then started again from the saved image", () => {
  // QoS 1 reports pick the full firmware.
  for (const [name, overrides] of [["the tiny firmware", {}], ["the full firmware", { stateQos: 1 }]] as const) {
    test(`${name}: offline (the Will), then back online with the LED off, reporting and obeying`, async () => {
      const aedes = await startAedesBroker();
      try {
        const board = await bootBoard({ ...overrides, mqttUrl: aedes.url, clientId: "saved" });
        boards.push(board);
        await board.line("MQTT connected");
        const phone = await watch(aedes.url, ["led/#"]);
        await phone.publish("led", "on");
        await phone.waitFor("led/state", "on");
        const mark = board.lines.length;
        const seen = phone.seen.length;
        board.sim.saveImage();
        await board.line("MQTT: stopped", mark);
        await phone.waitFor("led/availability", "offline", seen);
        await board.line("MQTT connected", mark);
        await phone.waitFor("led/availability", "online", seen);
        await phone.waitFor("led/state", "off", seen);
        assert.equal(board.sim.pinValue("D2"), 0);
        const again = phone.seen.length;
        await phone.publish("led", "toggle");
        await phone.waitFor("led/state", "on", again);
        assert.equal(board.sim.pinValue("D2"), 1);
        assert.deepEqual(board.uncaught, []);
      } finally {
        await aedes.stop();
      }
    });
  }
});

describe("the tiny firmware with credentials (Mosquitto with a password file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tiny-auth-"));
  /** With user `longest` and client id `tinylongest` the CONNECT is 127 bytes, the most one length byte holds. */
  const LONGEST_PASSWORD = "p".repeat(66);
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  before(async () => {
    chmodSync(dir, 0o755);
    const passwords = join(dir, "passwd");
    execFileSync("mosquitto_passwd", ["-b", "-c", passwords, "device", "tiny-pw"]);
    execFileSync("mosquitto_passwd", ["-b", passwords, "longest", LONGEST_PASSWORD]);
    chmodSync(passwords, 0o644);
    broker = await startMosquitto(["allow_anonymous false", `password_file ${passwords}`]);
  });
  after(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the right ones connect and obey; wrong ones are refused with the code, retried with growing delays", async () => {
    const good = await boot({ mqttUrl: broker.url.replace("mqtt://", "mqtt://device:tiny-pw@"), clientId: "tinyauth1" });
    await good.line("MQTT connected");
    const phone = await watch(broker.url, ["led/state"], { username: "device", password: "tiny-pw" });
    await phone.publish("led", "on");
    await until("the LED on", () => good.sim.pinValue("D2") === 1, 10_000, consoleOf(good));
    const longest = { mqttUrl: broker.url, mqttUsername: "longest", mqttPassword: LONGEST_PASSWORD, clientId: "tinylongest" };
    assert.equal(tinyConnectLength(loadConfig({ file: null, env: {}, overrides: longest })), 127);
    const atTheLimit = await boot(longest);
    await atTheLimit.line("MQTT connected");
    const bad = await boot({ mqttUrl: broker.url, mqttUsername: "device", mqttPassword: "wrong", clientId: "tinyauth2" });
    const delays = () => bad.matching(/^MQTT: refused, code 5; retry in (\d+) s$/).map((m) => Number(m[1]));
    await until("three refusals", () => delays().length >= 3, 20_000, consoleOf(bad));
    const [first, second, third] = delays() as [number, number, number];
    // Full jitter over whole-second ticks: 2, then 2 to 3, then 2 to 5.
    assert.ok(first === 2 && second >= 2 && second <= 3 && third >= 2 && third <= 5, `backoff up to 2, 3, 5 s: ${first}, ${second}, ${third}`);
    assert.ok(!bad.lines.some((line) => line.includes("wrong") || line.startsWith("MQTT connected")), bad.lines.join("\n"));
    bad.sim.powerOff();
  });
});

describe("the tiny firmware when the network fails", () => {
  test("the broker killed and restarted on its port: noticed, retried with backoff, back, obeying", async () => {
    let broker = await startMosquitto();
    const port = broker.port;
    try {
      const board = await boot({ mqttUrl: broker.url, clientId: "tinyrestart", keepalive: 2, reconnectMaxSeconds: 1 });
      await board.line("MQTT connected");
      const mark = board.lines.length;
      await broker.kill();
      await board.line(/^MQTT: /, mark);
      await board.line(/retry in \d+ s$/, mark);
      broker = await startMosquitto([], { port });
      await until("the reconnect", () => board.lines.slice(mark).includes("MQTT connected"), 15_000, consoleOf(board));
      const phone = await watch(broker.url, []);
      await phone.publish("led", "on");
      await until("the LED on", () => board.sim.pinValue("D2") === 1, 10_000, consoleOf(board));
      assert.deepEqual(board.uncaught, []);
    } finally {
      await broker.stop();
    }
  });

  test("WiFi lost and back: rejoined, reconnected, obeying", async () => {
    const aedes = await startAedesBroker();
    try {
      const wifiBoard = await bootBoard({ ...TINY, mqttUrl: aedes.url, clientId: "tinywifi", wifiSsid: "simnet", wifiPassword: "pw", reconnectMaxSeconds: 1 }, { wifi: true });
      boards.push(wifiBoard);
      assert.match(wifiBoard.code, /no PINGRESP/, "the tiny firmware was built");
      await wifiBoard.line("WiFi: joined");
      await wifiBoard.line("MQTT connected");
      const mark = wifiBoard.lines.length;
      wifiBoard.sim.wifiDrop();
      await wifiBoard.line("MQTT: ", mark);
      await wifiBoard.line("cannot connect", mark);
      const back = wifiBoard.lines.length;
      wifiBoard.sim.wifiRestore();
      await wifiBoard.line("MQTT connected", back);
      const phone = await watch(aedes.url, []);
      await phone.publish("led", "on");
      await until("the LED on", () => wifiBoard.sim.pinValue("D2") === 1, 10_000, consoleOf(wifiBoard));
    } finally {
      await aedes.stop();
    }
  });
});

describe("the tiny firmware through a faulty wire (a proxy in front of Mosquitto; keepalive 2 s, backoff cap 1 s)", () => {
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  let proxy: FaultProxy;
  let board: Board;
  let phone: Phone;

  before(async () => {
    broker = await startMosquitto();
    proxy = await FaultProxy.start({ targetPort: broker.port });
    board = await boot({ mqttUrl: proxy.url, clientId: "tinywire", keepalive: 2, reconnectMaxSeconds: 1 });
    await board.line("MQTT connected");
    phone = await watch(broker.url, ["led/state"]);
  });
  after(async () => {
    board?.sim.powerOff();
    await proxy?.close();
    await broker?.stop();
  });

  /** Flips the LED by a command and waits for the pin and the state report. */
  async function flip(ms = 10_000) {
    const level = board.sim.pinValue("D2") === 1 ? 0 : 1;
    const from = phone.seen.length;
    await phone.publish("led", level ? "on" : "off");
    await until(`the LED at ${level}`, () => board.sim.pinValue("D2") === level, ms, consoleOf(board));
    await phone.waitFor("led/state", level ? "on" : "off", from, ms);
  }

  /**
   * Waits for a new connection and its state report: the device sends it after its SUBSCRIBE on the same link, so
   * once the phone has it the broker holds the subscription, and a command sent then cannot be lost.
   */
  async function reconnected(mark: number, seen: number) {
    await board.line("MQTT connected", mark);
    await until("the state report of the new connection", () => phone.seen.slice(seen).some((m) => m.topic === "led/state"), 10_000, consoleOf(board));
  }

  for (const [name, mode] of [["every byte its own read", { split: true }], ["packets joined (100 ms)", { join: 100 }], ["delay 300 ms each way", { delay: 300 }]] as const) {
    test(`${name}: commands obeyed, states reported, the link kept`, async () => {
      const connections = proxy.stats.connections;
      const mark = board.lines.length;
      Object.assign(proxy.mode, mode);
      try {
        for (let i = 0; i < 3; i++) await flip();
      } finally {
        proxy.clear();
      }
      assert.equal(proxy.stats.connections, connections);
      assert.deepEqual(board.lines.slice(mark), []);
    });
  }

  test("a silent (half-open) link: found dead by the unanswered PINGREQ within a keepalive, re-made, obeying", async () => {
    const mark = board.lines.length;
    const seen = phone.seen.length;
    assert.equal(proxy.stall(), 1);
    const stalled = performance.now();
    await board.line("MQTT: no PINGRESP", mark, 5000);
    // Keepalive 2 s: PINGREQs 1 s apart, so at most 2 s; plus 2 s of slack for a loaded machine.
    assert.ok(performance.now() - stalled <= 2000 + 2000, `found dead in ${Math.round(performance.now() - stalled)} ms`);
    await reconnected(mark, seen);
    await flip();
  });

  test("a PUBLISH to the device cut halfway: the close is noticed, the link re-made, the next command obeyed", async () => {
    const mark = board.lines.length;
    const cut = proxy.cutNext("toDevice", 3);
    await phone.publish("led", "toggle");
    await cut;
    await board.line("MQTT: closed", mark);
    const seen = phone.seen.length;
    await reconnected(mark, seen);
    await flip();
  });

  test("the device's state report cut halfway: re-published on the reconnect, so the phone ends with the right state", async () => {
    const mark = board.lines.length;
    void proxy.cutNext("toBroker", 3);
    const level = board.sim.pinValue("D2") === 1 ? 0 : 1;
    await phone.publish("led", level ? "on" : "off");
    await board.line("MQTT connected", mark);
    assert.equal(await settledRetained(broker.url, "led/state", level ? "on" : "off"), level ? "on" : "off");
    assert.equal(board.sim.pinValue("D2"), level);
    assert.deepEqual(board.uncaught, []);
  });
});

/** A broker that accepts and answers CONNECT and SUBSCRIBE as told, and never answers PINGREQ. */
async function mute(answerConnect: boolean): Promise<{ url: string; pings: () => number; sockets: Socket[]; server: Server }> {
  const sockets: Socket[] = [];
  let pings = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (data) => {
      pending = eachPacket(Buffer.concat([pending, data]), (p) => {
        const type = p[0]! >> 4;
        const id = p.subarray(headerSize(p), headerSize(p) + 2);
        if (type === 1 && answerConnect) socket.write(packet(0x20, [0, 0]));
        if (type === 8) socket.write(packet(0x90, [id[0]!, id[1]!, 0]));
        if (type === 12) pings++;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `mqtt://127.0.0.1:${port}`, pings: () => pings, sockets, server };
}

async function close(server: Server, sockets: Socket[]) {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe("the tiny firmware's deadlines", () => {
  test("no PINGRESP: a PINGREQ every half keepalive, the link dropped when one goes unanswered", async () => {
    const broker = await mute(true);
    try {
      const board = await boot({ mqttUrl: broker.url, clientId: "tinyping", keepalive: 1, reconnectMaxSeconds: 1 });
      await board.line("MQTT connected");
      await board.line("MQTT: no PINGRESP", 0, 5000);
      assert.equal(broker.pings(), 1);
    } finally {
      await close(broker.server, broker.sockets);
    }
  });

  test("no CONNACK within 10 s: dropped and retried", async () => {
    const broker = await mute(false);
    try {
      const board = await boot({ mqttUrl: broker.url, clientId: "tinyconnack", reconnectMaxSeconds: 1 });
      await board.line(/^MQTT: no CONNACK; retry in \d+ s$/, 0, 14_000);
      assert.ok(board.sockets[0]!.dialedAt < board.sim.getTime() - 9.5);
    } finally {
      await close(broker.server, broker.sockets);
    }
  });
});

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
    { name: "SUBACK granting QoS 1 to a QoS 0 request", bytes: packet(0x90, [0, 1, 1]), says: bad(0x90) },
    { name: "PINGRESP with a body", bytes: packet(0xd0, [0]), says: bad(0xd0) },
    { name: "UNSUBACK", bytes: packet(0xb0, [0, 1]), says: bad(0xb0) },
    { name: "CONNACK with session present after a clean-session CONNECT", connack: packet(0x20, [1, 0]), says: /^MQTT: bad packet, first byte 32; retry/ },
    { name: "CONNACK of 3 bytes", connack: packet(0x20, [0, 0, 0]), says: /^MQTT: bad packet, first byte 32; retry/ },
    { name: "CONNACK refusing (code 3)", connack: packet(0x20, [0, 3]), says: /^MQTT: refused, code 3; retry in \d+ s$/ },
    { name: "SUBACK refusing the subscription", bytes: packet(0x90, [0, 1, 0x80]), says: /^subscription refused: led$/, keep: true },
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
