// Reliability under faults, measured: the built bundle on a simulated board (host-sim, in this process) against a
// real Mosquitto, through a fault proxy where the fault is on the wire. Each fault is injected, the board's button is
// pressed during it (QoS 1 state publishes, held in the offline queue or in flight), the fault ends, and the trial
// records whether the LED obeyed a command afterwards, how long that took, how many of the states from the fault
// never arrived, and what the console said. test/faults.test.ts asserts on the same trials; run this file for the
// table:
//   npx tsx scripts/faults.ts              the fault table (npm run test:faults runs the tests, which print it too)
//   npx tsx scripts/faults.ts --soak [N]   the soak: N commands (default 100,000) and connect/drop cycles
//   npx tsx scripts/faults.ts --devices N  a fleet of N boards on one Mosquitto: memory per board, command latency
import { EventEmitter } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { buildFirmware } from "../esbuild.config.mjs";
import { Fleet } from "../host-sim/fleet.ts";
import { EspruinoSim, SimSocket } from "../host-sim/runtime.ts";
import { startMosquitto } from "../test/support/brokers.ts";
import { FaultProxy, packetSize } from "../test/support/fault-proxy.ts";

/** Calls `each` for every whole packet at the front of `buffer`; returns the bytes left over. */
export function eachPacket(buffer: Buffer, each: (packet: Buffer) => void): Buffer {
  for (;;) {
    const size = packetSize(buffer);
    if (size === null || size > buffer.length) return buffer;
    each(buffer.subarray(0, size));
    buffer = buffer.subarray(size);
  }
}

/** Bytes of a packet's fixed header (type byte and remaining-length varint). */
export function headerSize(packet: Buffer): number {
  let at = 1;
  while (packet[at]! & 128) at++;
  return at + 1;
}

/** Settings of every fault build: short keepalive and backoff cap, so that a recovery bound is seconds. */
export const KEEPALIVE_S = 2;
export const BACKOFF_CAP_S = 1;
/** Allowance for connect, CONNACK, SUBSCRIBE and a loaded 2-core machine. */
export const SLACK_S = 2;
/** Recovery bound of a fault the device must detect itself (a silent link): keepalive x 1.5 + backoff cap + slack. */
export const DETECT_BOUND_MS = (KEEPALIVE_S * 1.5 + BACKOFF_CAP_S + SLACK_S) * 1000;
/** Recovery bound once the cause is gone and the device already knows (a cut, WiFi back, broker back). */
export const RECONNECT_BOUND_MS = (BACKOFF_CAP_S + SLACK_S) * 1000;
/** Presses of the button during each fault. */
export const PRESSES = 3;

type Broker = Awaited<ReturnType<typeof startMosquitto>>;

export interface Rig {
  sim: EspruinoSim;
  proxy: FaultProxy | null;
  broker: Broker;
  phone: mqtt.MqttClient;
  lines: string[];
  /** What the phone saw, in order: state and availability messages. */
  stream: Array<{ topic: string; payload: string; dup?: boolean }>;
  uncaught: string[];
  /** Packet ids of the device's QoS 1 publishes not yet acknowledged (read off its sockets). */
  unacked: Set<number>;
  /** State reports the device has sent on led/state (first sends, not DUP re-sends), read off its sockets. */
  reports: { count: number };
  /** Fires on every console line, pin change, socket and message: waits re-check on it. */
  changed: EventEmitter;
  restartBroker(): Promise<void>;
  close(): Promise<void>;
}

/** Resolves once `check()` holds, re-checked on every change the rig sees (and every 100 ms); rejects after `ms`. */
export function until(rig: Pick<Rig, "changed" | "lines">, what: string, check: () => boolean, ms = 10_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const tick = setInterval(test, 100);
    const deadline = setTimeout(() => {
      finish();
      reject(new Error(`no ${what} within ${ms} ms; device console (last 30 lines):\n${rig.lines.slice(-30).join("\n")}`));
    }, ms);
    function finish() {
      clearInterval(tick);
      clearTimeout(deadline);
      rig.changed.off("change", test);
    }
    function test() {
      if (!check()) return;
      finish();
      resolvePromise();
    }
    rig.changed.on("change", test);
  });
}

export interface RigOptions {
  name: string;
  /** Put the fault proxy between the board and Mosquitto. */
  proxy?: boolean;
  /** More build settings. */
  overrides?: Record<string, unknown>;
}

/**
 * Mosquitto (with persistence, so the phone's QoS 1 session survives a kill), optionally the proxy, a build of the
 * bundle for it (stateQos 1, offlineQueue 20, button on D0, keepalive 2 s, backoff cap 1 s), the board with WiFi, and
 * the phone subscribed at QoS 1 with a persistent session. Resolves once the board has reported its first state.
 */
export async function startRig(options: RigOptions): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), `faults-${options.name}-`));
  // Mosquitto started as root runs as the mosquitto user: it must be able to write its persistence file here.
  chmodSync(dir, 0o777);
  // set_tcp_nodelay: this machine's loopback was seen holding a delayed ACK for many seconds, and Nagle then held
  // Mosquitto's next packets behind it (the soak stalled with bytes "notsent" in its socket); a board's broker would
  // not see that, and the device's own sockets send at once anyway.
  const config = ["persistence true", `persistence_location ${dir}/`, "autosave_interval 1", "autosave_on_changes true", "set_tcp_nodelay true"];
  let broker = await startMosquitto(config, { dir });
  const proxy = options.proxy ? await FaultProxy.start({ targetPort: broker.port }) : null;
  const bundle = join(dir, "firmware.js");
  await buildFirmware({
    outfile: bundle,
    configFile: null,
    env: {},
    overrides: {
      mqttUrl: proxy ? proxy.url : broker.url,
      clientId: options.name.replace(/[^0-9a-zA-Z]/g, "").slice(0, 23),
      wifiSsid: "simnet",
      wifiPassword: "pw",
      stateQos: 1,
      offlineQueue: 20,
      buttonPin: "D0",
      keepalive: KEEPALIVE_S,
      reconnectMaxSeconds: BACKOFF_CAP_S,
      ...options.overrides,
    },
  });
  const sim = new EspruinoSim({ code: readFileSync(bundle, "latin1"), fileName: "firmware.js", wifi: true });
  const changed = new EventEmitter();
  changed.setMaxListeners(0);
  const change = () => changed.emit("change");
  const lines: string[] = [];
  const uncaught: string[] = [];
  sim.on("console", (text: string) => {
    lines.push(text);
    change();
  });
  sim.on("uncaught", (text: string) => uncaught.push(text));
  sim.on("pin", change);
  // The device's QoS 1 publishes not yet acknowledged, read off its sockets' bytes: a trial starts with none.
  const unacked = new Set<number>();
  const reports = { count: 0 };
  sim.on("socket", (socket: SimSocket) => {
    change();
    let out: Buffer = Buffer.alloc(0);
    let into: Buffer = Buffer.alloc(0);
    socket.on("out", (bytes: Buffer) => {
      out = eachPacket(Buffer.concat([out, bytes]), (packet) => {
        if (packet[0]! >> 4 !== 3) return;
        const at = headerSize(packet);
        const topicLength = packet.readUInt16BE(at);
        if ((packet[0]! & 6) === 2) unacked.add(packet.readUInt16BE(at + 2 + topicLength));
        if (!(packet[0]! & 8) && packet.toString("latin1", at + 2, at + 2 + topicLength) === "led/state") reports.count++;
      });
    });
    socket.on("in", (bytes: Buffer) => {
      into = eachPacket(Buffer.concat([into, bytes]), (packet) => {
        if (packet[0]! >> 4 === 4 && packet.length === 4) unacked.delete(packet.readUInt16BE(2));
      });
      change();
    });
  });
  const phone = await mqtt.connectAsync(broker.url, { clientId: `${options.name}phone`.slice(0, 23), clean: false, reconnectPeriod: 100, connectTimeout: 5000 });
  const stream: Rig["stream"] = [];
  phone.on("message", (topic, payload, packet) => {
    stream.push({ topic, payload: payload.toString(), dup: packet.dup === true });
    change();
  });
  await phone.subscribeAsync(["led/state", "led/availability"], { qos: 1 });
  sim.start();
  const rig: Rig = {
    sim,
    proxy,
    broker,
    phone,
    lines,
    stream,
    uncaught,
    unacked,
    reports,
    changed,
    async restartBroker() {
      broker = await startMosquitto(config, { port: broker.port, dir });
      rig.broker = broker;
    },
    async close() {
      sim.powerOff();
      await phone.endAsync(true);
      await proxy?.close();
      await rig.broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await until(rig, "first state report", () => stream.some((m) => m.topic === "led/state"), 15_000);
  return rig;
}

/** Publishes a command and resolves when the LED shows `level`; returns the milliseconds it took. */
export async function command(rig: Rig, payload: string, level: 0 | 1, ms = 10_000): Promise<number> {
  const started = performance.now();
  await rig.phone.publishAsync("led", payload);
  await until(rig, `LED at ${level} after "${payload}"`, () => rig.sim.pinValue("D2") === level, ms);
  return performance.now() - started;
}

/** Longest common subsequence length: how many of `expected` arrived, in order (duplicates from DUP re-sends do not count twice). */
function lcs(expected: string[], got: string[]): number {
  let previous = new Array<number>(got.length + 1).fill(0);
  for (const want of expected) {
    const row = [0];
    for (let j = 0; j < got.length; j++) row.push(want === got[j] ? previous[j]! + 1 : Math.max(previous[j + 1]!, row[j]!));
    previous = row;
  }
  return previous[got.length]!;
}

/**
 * States the device published since `from`, without the one it re-publishes after each (re)connect (the first
 * state after an `online`), which would otherwise stand in for a lost one.
 */
function statesSince(rig: Rig, from: number): string[] {
  const states: string[] = [];
  let afterOnline = false;
  for (const message of rig.stream.slice(from)) {
    if (message.topic === "led/availability") {
      // A DUP `online` is the broker re-sending an old one (after its own restart), not a new connection's.
      if (message.payload === "online" && !message.dup) afterOnline = true;
    } else if (afterOnline) {
      afterOnline = false;
    } else {
      states.push(message.payload);
    }
  }
  return states;
}

export interface Fault {
  name: string;
  /** Whether the fault costs the connection (then a reconnect is awaited). */
  reconnects: boolean;
  /** Recovery bound in ms, measured from `heal`. */
  bound: number;
  inject(rig: Rig): Promise<void>;
  /** Ends the fault's cause; for a fault the device must notice itself, nothing (the clock runs from the injection). */
  heal(rig: Rig): Promise<void>;
}

export interface TrialResult {
  fault: string;
  recovered: boolean;
  recoverMs: number;
  bound: number;
  lost: number;
  sent: number;
  /** The first reason the device gave for losing the link, or "" if it kept it. */
  said: string;
  error?: string;
}

/**
 * One trial: LED off and settled, the fault, PRESSES presses during it, the fault's end, then "off" must switch the
 * LED off (a reconnect first, where the fault cost the link), and every state published during it must arrive.
 */
export async function trial(rig: Rig, fault: Fault): Promise<TrialResult> {
  const result: TrialResult = { fault: fault.name, recovered: false, recoverMs: NaN, bound: fault.bound, lost: PRESSES, sent: PRESSES, said: "" };
  const lineMark = rig.lines.length;
  try {
    if (rig.sim.pinValue("D2") !== 0) await command(rig, "off", 0);
    await until(rig, "the state off", () => rig.stream.filter((m) => m.topic === "led/state").at(-1)?.payload === "off");
    await until(rig, "no publish in flight", () => rig.unacked.size === 0);
    const streamMark = rig.stream.length;
    const connectedBefore = rig.lines.filter((line) => line.startsWith("MQTT connected")).length;
    await fault.inject(rig);
    const expected: string[] = [];
    for (let i = 0; i < PRESSES; i++) {
      const level = rig.sim.pinValue("D2") === 1 ? 0 : 1;
      rig.sim.press("D0");
      await until(rig, "the LED following the button", () => rig.sim.pinValue("D2") === level);
      expected.push(level ? "on" : "off");
      // Presses a person makes are far apart: let the device report this one before the next (it reports once per
      // burst of commands that arrive together, after a 0 ms timer).
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 20));
    }
    const healed = performance.now();
    await fault.heal(rig);
    if (fault.reconnects) {
      await until(rig, "the reconnect", () => rig.lines.filter((line) => line.startsWith("MQTT connected")).length > connectedBefore, fault.bound + 5000);
      // The device sends SUBSCRIBE, then `online`: once the phone has that, the broker has the subscription too (a
      // command sent sooner could pass the SUBSCRIBE, which goes through the proxy, and find no subscriber).
      const at = rig.stream.length;
      await until(rig, "online after the reconnect", () => rig.stream.slice(at).some((m) => m.topic === "led/availability" && m.payload === "online"), fault.bound + 5000);
    }
    const target = rig.sim.pinValue("D2") === 1 ? "off" : "on";
    await command(rig, target, target === "on" ? 1 : 0, fault.bound + 5000);
    result.recoverMs = performance.now() - healed;
    result.recovered = true;
    expected.push(target);
    // Everything published so far goes out before the command's own state, in order: wait for that, or give up
    // after a while and count what is missing.
    // On a loaded machine (the whole suite runs its files in parallel) delivery can take seconds: a state counts as
    // lost only when it has not come within 10 s.
    await until(rig, "the states from the fault", () => lcs(expected, statesSince(rig, streamMark)) === expected.length, 10_000).catch(() => {});
    result.lost = expected.length - lcs(expected, statesSince(rig, streamMark));
  } catch (error) {
    result.error = (error as Error).message;
  }
  // The first drop's reason: "MQTT: <why>; retry in N s".
  const reason = rig.lines.slice(lineMark).find((line) => line.startsWith("MQTT: "));
  result.said = reason ? reason.slice("MQTT: ".length).replace(/; retry in .*$/, "") : "";
  return result;
}

const DROPPED = (rig: Rig, from: number) => rig.lines.slice(from).some((line) => line.startsWith("MQTT: "));

/** The faults of the table, in order; each one's `rig` option says whether it runs through the proxy. */
export const FAULTS: Array<Fault & { proxy: boolean }> = [
  {
    name: "every byte its own read",
    proxy: true,
    reconnects: false,
    bound: SLACK_S * 1000,
    async inject(rig) {
      rig.proxy!.mode.split = true;
    },
    async heal() {},
  },
  {
    name: "packets joined (100 ms)",
    proxy: true,
    reconnects: false,
    bound: SLACK_S * 1000,
    async inject(rig) {
      rig.proxy!.mode.join = 100;
    },
    async heal() {},
  },
  {
    name: "delay 300 ms each way",
    proxy: true,
    reconnects: false,
    bound: SLACK_S * 1000 + 600,
    async inject(rig) {
      rig.proxy!.mode.delay = 300;
    },
    async heal() {},
  },
  {
    name: "silent stall (half-open)",
    proxy: true,
    reconnects: true,
    bound: DETECT_BOUND_MS,
    async inject(rig) {
      if (rig.proxy!.stall() !== 1) throw new Error("no link to stall");
    },
    async heal() {},
  },
  {
    name: "cut mid-PUBLISH to device",
    proxy: true,
    reconnects: true,
    bound: RECONNECT_BOUND_MS,
    async inject(rig) {
      const from = rig.lines.length;
      const cut = rig.proxy!.cutNext("toDevice", 3);
      await rig.phone.publishAsync("led", "toggle");
      await cut;
      await until(rig, "the drop", () => DROPPED(rig, from));
    },
    async heal() {},
  },
  {
    name: "cut mid-PUBLISH to broker",
    proxy: true,
    reconnects: true,
    bound: RECONNECT_BOUND_MS,
    async inject(rig) {
      // The first press's state PUBLISH is the packet cut: it is in flight, and must be re-sent with DUP.
      void rig.proxy!.cutNext("toBroker", 3);
    },
    async heal(rig) {
      await until(rig, "the cut", () => rig.proxy!.stats.cuts > 0);
    },
  },
  {
    name: "WiFi drop and rejoin",
    proxy: false,
    reconnects: true,
    bound: RECONNECT_BOUND_MS,
    async inject(rig) {
      const from = rig.lines.length;
      rig.sim.wifiDrop();
      await until(rig, "connects failing without WiFi", () => rig.lines.slice(from).some((line) => line.startsWith("MQTT: cannot connect")));
    },
    async heal(rig) {
      rig.sim.wifiRestore();
    },
  },
  {
    name: "Mosquitto killed, restarted",
    proxy: false,
    reconnects: true,
    bound: RECONNECT_BOUND_MS,
    async inject(rig) {
      const from = rig.lines.length;
      await rig.broker.kill();
      await until(rig, "the drop", () => DROPPED(rig, from));
    },
    async heal(rig) {
      await rig.restartBroker();
    },
  },
];

/** How many trials of each fault the table and the tests run. */
export function trialsOf(fault: Fault): number {
  return fault.reconnects ? 2 : 1;
}

/** Runs `trials` trials of each fault on a rig of its own. */
export async function runFault(fault: Fault & { proxy: boolean }, trials = trialsOf(fault)): Promise<{ results: TrialResult[]; uncaught: string[]; proxy?: FaultProxy["stats"]; reads: number[] }> {
  const rig = await startRig({ name: fault.name.replace(/[^a-z]/gi, "").slice(0, 12) + "f", proxy: fault.proxy });
  const results: TrialResult[] = [];
  // Sizes of the board's socket reads (Node reads, before host-sim cuts them to its read size).
  const reads: number[] = [];
  const onIn = (bytes: Buffer) => reads.push(bytes.length);
  for (const socket of rig.sim.sockets) socket.on("in", onIn);
  rig.sim.on("socket", (socket: SimSocket) => socket.on("in", onIn));
  try {
    for (let i = 0; i < trials; i++) results.push(await trial(rig, fault));
    rig.proxy?.clear();
    return { results, uncaught: rig.uncaught.slice(), proxy: rig.proxy?.stats, reads };
  } finally {
    await rig.close();
  }
}

/** The table: fault, trials, recovered, time to recover (max), bound, messages lost, what the console said. */
export function formatTable(rows: Array<{ fault: string; results: TrialResult[] }>): string {
  const out = [
    "| fault | trials | recovered | time to recover (max) | bound | messages lost | console said |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const results = row.results;
    const recovered = results.filter((r) => r.recovered).length;
    const max = Math.max(...results.map((r) => (r.recovered ? r.recoverMs : Infinity)));
    const lost = results.reduce((sum, r) => sum + r.lost, 0);
    const sent = results.reduce((sum, r) => sum + r.sent + 1, 0);
    const said = [...new Set(results.map((r) => r.said || "(kept the link)"))].join("; ");
    out.push(`| ${row.fault} | ${results.length} | ${recovered}/${results.length} | ${Number.isFinite(max) ? (max / 1000).toFixed(2) + " s" : "-"} | ${(results[0]!.bound / 1000).toFixed(1)} s | ${lost} of ${sent} | ${said} |`);
  }
  return out.join("\n");
}

export interface SoakOptions {
  /** Commands to `led`, each a toggle; at most `window` unanswered at a time. */
  commands: number;
  window?: number;
  /** Commands sent in one burst with no window, to see the offline queue's drop policy under load. */
  burst?: number;
  /** Connect/drop cycles (the proxy resets the link), with a button press while the link is down. */
  cycles: number;
  log?: (line: string) => void;
}

export interface Resources {
  timers: number;
  sockets: number;
  /** Listeners on the objects that live across connections (Wifi module, E) and on the open sockets. */
  listeners: number;
  /** Node handles and requests of the whole process (sockets, timers), for leaks outside the sim. */
  handles: number;
}

export interface SoakResult {
  commands: number;
  applied: number;
  /** State reports the device sent, and those the phone received (a burst of commands costs one report). */
  reports: number;
  states: number;
  /** The last state the phone received, and the LED's own state at the end. */
  lastState: string;
  ledState: string;
  commandsPerSecond: number;
  burst: { sent: number; applied: number; refused: number; reports: number; states: number };
  cycles: number;
  cyclePresses: number;
  cycleStatesLost: number;
  reconnectMaxMs: number;
  before: Resources;
  after: Resources;
  perCycle: Resources[];
  heapGrowth: number;
  uncaught: number;
}

function countListeners(object: unknown): number {
  if (!object || typeof object !== "object") return 0;
  let n = 0;
  for (const [key, value] of Object.entries(object)) if (key.startsWith("#on") && Array.isArray(value)) n += value.length;
  return n;
}

/** What the board holds that could leak: timers, sockets, listeners (read off the sim's internals), process handles. */
export function resources(sim: EspruinoSim): Resources {
  const internals = sim as unknown as { wifiModule: unknown; eHandlers: Record<string, unknown[]> };
  let listeners = countListeners(internals.wifiModule);
  for (const list of Object.values(internals.eHandlers)) listeners += list.length;
  for (const socket of sim.sockets) listeners += countListeners(socket.espruinoFace);
  return { timers: sim.timerCount(), sockets: sim.sockets.size, listeners, handles: process.getActiveResourcesInfo().length };
}

let gcFunction: (() => void) | null = null;
/** Heap in use after a full collection, in bytes. */
export async function heapAfterGc(): Promise<number> {
  if (!gcFunction) {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    gcFunction = runInNewContext("gc") as () => void;
  }
  gcFunction();
  gcFunction();
  return process.memoryUsage().heapUsed;
}

/**
 * The soak: `commands` toggles to `led` through Mosquitto as fast as the board answers them (a window of
 * unanswered commands), every state report counted; a burst with no window; then `cycles` link resets with a press
 * during each. Measures timers, sockets, listeners and heap before and after.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const window = options.window ?? 16;
  const rig = await startRig({ name: "soak", proxy: true, overrides: { keepalive: 10 } });
  try {
    let states = 0;
    let applied = 0;
    let refused = 0;
    rig.phone.on("message", (topic) => {
      if (topic === "led/state") states++;
    });
    rig.sim.on("pin", (change: { pin: string }) => {
      if (change.pin === "D2") applied++;
    });
    rig.sim.on("console", (text: string) => {
      if (text.startsWith("queue full")) refused++;
    });
    await until(rig, "no publish in flight", () => rig.unacked.size === 0);
    const heapBefore = await heapAfterGc();
    const before = resources(rig.sim);

    // Closed loop: at most `window` toggles not yet applied (the LED's pin changes: the device reports the state once
    // per burst of commands it reads together, so reports cannot pace the loop).
    const base = states;
    const reportsBase = rig.reports.count;
    const appliedBase = applied;
    const started = performance.now();
    let sent = 0;
    await new Promise<void>((resolvePromise, reject) => {
      const stall = setInterval(() => reject(new Error(`soak stalled at ${sent} sent, ${states - base} states, ${applied - appliedBase} applied, ${rig.unacked.size} unacked (${[...rig.unacked].join(",")}); console:\n${rig.lines.slice(-10).join("\n")}`)), 20_000);
      let lastProgress = 0;
      const topUp = () => {
        while (sent < options.commands && sent - (applied - appliedBase) < window) {
          rig.phone.publish("led", "toggle");
          sent++;
        }
        if (applied - appliedBase >= options.commands) {
          clearInterval(stall);
          rig.sim.off("pin", onPin);
          resolvePromise();
        } else if (applied - appliedBase - lastProgress >= 10_000) {
          lastProgress = applied - appliedBase;
          stall.refresh();
          log(`  ${lastProgress} commands applied`);
        }
      };
      // After the counting listener above has seen the change.
      const onPin = () => setImmediate(topUp);
      rig.sim.on("pin", onPin);
      topUp();
    });
    const seconds = (performance.now() - started) / 1000;
    const soakApplied = applied - appliedBase;
    // Every report the device sent must arrive, the last one (sent just after the last command) saying what the LED
    // shows: wait for the broker's acknowledgements and the phone's copies.
    const lastReported = () => rig.stream.filter((m) => m.topic === "led/state").at(-1)?.payload ?? "";
    const ledNow = () => (rig.sim.pinValue("D2") === 1 ? "on" : "off");
    await until(rig, "the soak's state reports", () => rig.unacked.size === 0 && states - base >= rig.reports.count - reportsBase && lastReported() === ledNow(), 30_000).catch(() => {});
    const soakReports = rig.reports.count - reportsBase;
    const soakStates = states - base;
    const lastState = lastReported();
    const ledState = ledNow();
    log(`  ${options.commands} commands in ${seconds.toFixed(1)} s`);

    // Open loop: a burst the board cannot answer as fast as it comes; refused publishes are logged and counted.
    const burst = { sent: options.burst ?? 0, applied: 0, refused: 0, reports: 0, states: 0 };
    if (burst.sent) {
      await until(rig, "no publish in flight", () => rig.unacked.size === 0);
      const [s0, a0, r0, p0] = [states, applied, refused, rig.reports.count];
      for (let i = 0; i < burst.sent; i++) rig.phone.publish("led", "toggle");
      await until(rig, "the burst applied", () => applied - a0 === burst.sent, 30_000);
      await until(rig, "the burst's states", () => states - s0 >= rig.reports.count - p0 && rig.unacked.size === 0, 30_000).catch((error: Error) => {
        throw new Error(`burst: ${states - s0} states of ${rig.reports.count - p0} reports, ${applied - a0} applied, ${refused - r0} refused, unacked ${[...rig.unacked].join(",")}: ${error.message.split("\n")[0]}`);
      });
      Object.assign(burst, { applied: applied - a0, refused: refused - r0, reports: rig.reports.count - p0, states: states - s0 });
    }

    // Connect/drop cycles, a button press while the link is down each time.
    const perCycle: Resources[] = [];
    let reconnectMaxMs = 0;
    const streamMark = rig.stream.length;
    const expected: string[] = [];
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const connected = rig.lines.filter((line) => line.startsWith("MQTT connected")).length;
      const from = rig.lines.length;
      const t0 = performance.now();
      rig.proxy!.dropAll();
      await until(rig, "the drop", () => DROPPED(rig, from));
      const level = rig.sim.pinValue("D2") === 1 ? 0 : 1;
      rig.sim.press("D0");
      expected.push(level ? "on" : "off");
      const at = rig.stream.length;
      await until(rig, "the reconnect", () => rig.lines.filter((line) => line.startsWith("MQTT connected")).length > connected, RECONNECT_BOUND_MS + 5000);
      await until(rig, "online", () => rig.stream.slice(at).some((m) => m.topic === "led/availability" && m.payload === "online"));
      reconnectMaxMs = Math.max(reconnectMaxMs, performance.now() - t0);
      await until(rig, "no publish in flight", () => rig.unacked.size === 0);
      perCycle.push(resources(rig.sim));
      if ((cycle + 1) % 50 === 0) log(`  ${cycle + 1} cycles`);
    }
    await until(rig, "the presses' states", () => lcs(expected, statesSince(rig, streamMark)) === expected.length, 5000).catch(() => {});
    const after = resources(rig.sim);
    const heapGrowth = (await heapAfterGc()) - heapBefore;
    return {
      commands: options.commands,
      applied: soakApplied,
      reports: soakReports,
      states: soakStates,
      lastState,
      ledState,
      commandsPerSecond: options.commands / seconds,
      burst,
      cycles: options.cycles,
      cyclePresses: expected.length,
      cycleStatesLost: expected.length - lcs(expected, statesSince(rig, streamMark)),
      reconnectMaxMs,
      before,
      after,
      perCycle,
      heapGrowth,
      uncaught: rig.uncaught.length,
    };
  } finally {
    await rig.close();
  }
}

export function formatSoak(r: SoakResult): string {
  const res = (x: Resources) => `timers ${x.timers}, sockets ${x.sockets}, listeners ${x.listeners}, process handles ${x.handles}`;
  return [
    `soak: ${r.commands} toggles to led through Mosquitto: ${r.applied} applied, ${r.reports} QoS 1 state reports sent (one per burst read together), ${r.states} received (${r.reports - r.states} lost), last state ${r.lastState} with the LED ${r.ledState}, ${Math.round(r.commandsPerSecond)} commands/s`,
    r.burst.sent ? `burst: ${r.burst.sent} toggles at once: ${r.burst.applied} applied, ${r.burst.reports} state reports sent, ${r.burst.states} received, ${r.burst.refused} refused by the full queue (logged, counted)` : "",
    `cycles: ${r.cycles} link resets, a press in each: ${r.cyclePresses - r.cycleStatesLost}/${r.cyclePresses} states delivered, reconnect (max) ${(r.reconnectMaxMs / 1000).toFixed(2)} s`,
    `board before: ${res(r.before)}`,
    `board after:  ${res(r.after)}`,
    `heap growth (whole process, after GC): ${(r.heapGrowth / 1024).toFixed(0)} KB; uncaught: ${r.uncaught}`,
  ].filter(Boolean).join("\n");
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/**
 * Runs N boards against a fresh Mosquitto and measures memory per board (heap and RSS growth over N, after GC) and
 * command latency: the time from a phone's publish on `led` to each board's LED changing, over `rounds` commands.
 * Returns a printable report.
 */
export async function measureFleet(count: number, rounds = 5): Promise<string> {
  const memory = async () => {
    const heap = await heapAfterGc();
    return { heap, rss: process.memoryUsage().rss };
  };
  const broker = await startMosquitto(["set_tcp_nodelay true", "max_connections -1"]);
  let fleet: Fleet | null = null;
  let phone: mqtt.MqttClient | null = null;
  try {
    const { code } = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { mqttUrl: broker.url, keepalive: 60 } });
    const base = await memory();
    const startedAt = performance.now();
    const changes: Array<number | null> = new Array(count).fill(null);
    let uncaught = 0;
    fleet = new Fleet({
      code,
      count,
      onPin: (i, change) => {
        if (change.pin === "D2" && changes[i] === null) changes[i] = performance.now();
      },
      onUncaught: () => uncaught++,
    });
    const built = performance.now();
    await fleet.start();
    const deadline = Date.now() + 60_000 + count * 100;
    while (fleet.connectedCount() < count) {
      if (Date.now() > deadline) throw new Error(`only ${fleet.connectedCount()} of ${count} boards connected`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const allConnected = performance.now();
    // Let the boards' SUBSCRIBEs reach the broker: wait for each board's state report.
    phone = await mqtt.connectAsync(broker.url, { clientId: "fleetphone" });
    const after = await memory();
    const latencies: number[] = [];
    let level = 0;
    for (let round = 0; round < rounds; round++) {
      level = level ? 0 : 1;
      changes.fill(null);
      const target = level;
      const sent = performance.now();
      await phone.publishAsync("led", target ? "on" : "off");
      const roundDeadline = Date.now() + 30_000;
      while (fleet.boards.some((sim) => sim.pinValue("D2") !== target)) {
        if (Date.now() > roundDeadline) throw new Error(`round ${round}: ${fleet.boards.filter((sim) => sim.pinValue("D2") !== target).length} boards did not follow`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (const t of changes) if (t !== null) latencies.push(t - sent);
    }
    latencies.sort((a, b) => a - b);
    const ms = (x: number) => x.toFixed(1) + " ms";
    return [
      `fleet of ${count} on Mosquitto: constructed in ${((built - startedAt) / 1000).toFixed(1)} s, all connected ${((allConnected - built) / 1000).toFixed(1)} s after start`,
      `  memory per board: heap ${((after.heap - base.heap) / count / 1024).toFixed(0)} KB, RSS ${((after.rss - base.rss) / count / 1024).toFixed(0)} KB (growth over ${count} boards, after GC)`,
      `  command latency (publish on led -> each board's LED), ${rounds} commands x ${count} boards: p50 ${ms(quantile(latencies, 0.5))}, p95 ${ms(quantile(latencies, 0.95))}, max ${ms(latencies.at(-1) ?? NaN)}; uncaught: ${uncaught}`,
    ].join("\n");
  } finally {
    fleet?.powerOff();
    await phone?.endAsync(true);
    await broker.stop();
  }
}

async function main(args: string[]) {
  if (args.includes("--soak")) {
    const at = args.indexOf("--soak");
    const commands = Number(args[at + 1]) > 0 ? Number(args[at + 1]) : 100_000;
    const cycles = args.includes("--cycles") ? Number(args[args.indexOf("--cycles") + 1]) : 200;
    console.log(formatSoak(await runSoak({ commands, cycles, burst: 2000, log: (line) => console.log(line) })));
    return;
  }
  if (args.includes("--devices")) {
    const counts = args.slice(args.indexOf("--devices") + 1).filter((a) => /^\d+$/.test(a)).map(Number);
    for (const n of counts.length ? counts : [100]) console.log(await measureFleet(n));
    return;
  }
  const rows: Array<{ fault: string; results: TrialResult[] }> = [];
  let failed = false;
  for (const fault of FAULTS) {
    const { results, uncaught } = await runFault(fault);
    rows.push({ fault: fault.name, results });
    for (const r of results) if (r.error) console.error(`${fault.name}: ${r.error}`);
    if (uncaught.length || results.some((r) => !r.recovered || r.lost || r.recoverMs > r.bound)) failed = true;
  }
  console.log(formatTable(rows));
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
