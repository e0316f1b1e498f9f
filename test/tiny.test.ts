// The tiny firmware (firmware/tiny.ts): which configs build it, and the built bundle on a simulated board against
// Mosquitto (commands, retained state and availability, the Will, a graceful stop, credentials, a broker restart,
// WiFi lost and back) and against a hostile broker (every packet a broker must not send a QoS 0 subscriber, a
// refused CONNACK, oversized and random bytes: tiny-hostile.test.ts). After each fault it must say why, never
// throw, reconnect, and obey the next command. Its deadlines, backoff and save() are in tiny-timing.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { loadConfig, tinyConnectLength, tinyFirmwareGaps } from "../scripts/firmware-config.mjs";
import { startAedesBroker, startMosquitto } from "./support/brokers.ts";
import { bootBoard, type Board, until } from "./support/board.ts";
import { makeCa } from "./support/certs.ts";
import { FaultProxy } from "./support/fault-proxy.ts";
import { PLAIN_ACCEPTED, PLAIN_REFUSED } from "./support/commands.ts";
import { HostileBroker, packet, publish } from "./support/hostile-broker.ts";
import { type Phone, settledRetained } from "./support/phone.ts";
import { consoleOf, TINY, tinyFixtures } from "./support/tiny.ts";

const { boards, boot, watch, obeysOn } = tinyFixtures();

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
    assert.doesNotMatch(tiny.code, /Wifi|user|second CONNACK/);
    assert.match(tiny.code, /"state"/, "JSON commands");
    assert.doesNotMatch(smallest.code, /"state"/);
    const withAuth = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { ...TINY, mqttUrl: "mqtt://user:pw@127.0.0.1", wifiSsid: "net" } });
    assert.equal(withAuth.entry, "firmware/tiny.ts");
    assert.match(withAuth.code, /\\0\\x04user\\0\\x02pw/);
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

describe("the tiny firmware without JSON commands, which writes parseCommand out", () => {
  let broker: HostileBroker;
  let board: Board;
  before(async () => {
    broker = await HostileBroker.start();
    board = await boot({ mqttUrl: broker.url, clientId: "tinyplain" });
    await until("the subscription", () => broker.current?.subscribed === true, 10_000, consoleOf(board));
  });
  after(async () => {
    board?.sim.powerOff();
    await broker?.close();
  });

  /** Sends `payload` (its bytes as written), then "sync", and returns the console lines up to sync's refusal. */
  async function said(payload: string) {
    const mark = board.lines.length;
    broker.send(publish("led", Buffer.from(payload, "latin1")));
    broker.send(publish("led", "sync"));
    await board.line('refused "sync" on led', mark);
    return board.lines.slice(mark, -1);
  }

  test("parseCommand's table: each accepted payload switches the LED as it says, each refused one is refused", async () => {
    let level = board.sim.pinValue("D2")!;
    for (const [payload, command] of PLAIN_ACCEPTED) {
      level = command == 2 ? 1 - level : command;
      assert.deepEqual(await said(payload), [], JSON.stringify(payload));
      assert.equal(board.sim.pinValue("D2"), level, JSON.stringify(payload));
    }
    for (const [payload, why] of PLAIN_REFUSED) {
      const lines = await said(payload);
      assert.equal(lines.length, 1, `${why}: ${lines.join("\n")}`);
      assert.match(lines[0]!, /^refused ".*"(\.\.\.)? on led$/, why);
      assert.equal(board.sim.pinValue("D2"), level, why);
    }
    assert.deepEqual(board.uncaught, []);
  });
});

describe("the tiny firmware with an active-low LED", () => {
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  let board: Board;
  let phone: Phone;
  before(async () => {
    broker = await startMosquitto();
    board = await boot({ mqttUrl: broker.url, clientId: "tinylow", baseTopic: "low", ledActiveLow: true });
    await board.line("MQTT connected");
    phone = await watch(broker.url, ["low/#"]);
  });
  after(async () => {
    board?.sim.powerOff();
    await broker?.stop();
  });

  test("the pin is high while the LED is off, low while it is on, and the state says which", async () => {
    assert.equal(await settledRetained(broker.url, "low/state", "off"), "off");
    assert.equal(board.sim.pinValue("D2"), 1);
    const steps: Array<[payload: string, pin: number, state: string]> = [
      ["on", 0, "on"],
      ["toggle", 1, "off"],
      ["off", 1, "off"],
      ["toggle", 0, "on"],
      ["on", 0, "on"],
      ["0", 1, "off"],
    ];
    for (const [payload, pin, state] of steps) {
      const from = phone.seen.length;
      await phone.publish("low", payload);
      await phone.waitFor("low/state", state, from);
      assert.equal(board.sim.pinValue("D2"), pin, payload);
    }
  });
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
    // Full jitter over whole-second ticks: 1, then 1 to 2, then 1 to 4.
    assert.ok(first === 1 && second >= 1 && second <= 2 && third >= 1 && third <= 4, `backoff up to 1, 2, 4 s: ${first}, ${second}, ${third}`);
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
      await obeysOn(board, broker.url);
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
      await obeysOn(wifiBoard, aedes.url);
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
