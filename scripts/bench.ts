// `npm run bench`: speed figures from one run, each beside a peer measured in the same process and run, as ratios.
// 1. The codec: packets per second encoded and decoded, ours against mqtt-packet.
// 2. End to end through Mosquitto: MQTT.js publish on `led` -> pin change in host-sim, p50/p99 over 1,000 commands,
//    beside the same round trip between two MQTT.js clients.
// 3. Bytes on the wire for connect + subscribe + one command, against the minimum the protocol allows.
// 2 and 3 run for the full firmware and then for the tiny one, each with its own Mosquitto and peer measurement.
// Figures vary with the machine's load: compare the ratios, not the absolute numbers.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { buildFirmware } from "../esbuild.config.mjs";
import { EspruinoSim, SimSocket } from "../host-sim/runtime.ts";
import { startMosquitto } from "../test/support/brokers.ts";
import { createReader, encodeConnect, encodePublishHeader, encodeSubscribe } from "../firmware/mqtt/packet.ts";
import { ensureSystemPackages } from "./system-deps.mjs";

const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 1000);
if (!Number.isInteger(COMMANDS) || COMMANDS < 10) throw new Error("BENCH_COMMANDS: a whole number of at least 10");

/** Operations per second of `run`, timed over about `ms` milliseconds after a warm-up. */
function rate(run: () => void, ms = 300): number {
  for (let i = 0; i < 2000; i++) run();
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 500; i++) run();
    count += 500;
    elapsed = performance.now() - start;
  }
  return (count / elapsed) * 1000;
}

function formatRate(value: number): string {
  return `${Math.round(value).toLocaleString("en-US")}/s`.padStart(13);
}

function toBytes(binary: string): Buffer {
  return Buffer.from(binary, "latin1");
}

function codecBench() {
  const rows: Array<[string, number, number, number, number]> = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let parsed = 0;
  parser.on("packet", () => parsed++);
  for (const size of [10, 100, 1000]) {
    const payload = "x".repeat(size);
    const packet = { cmd: "publish" as const, topic: "led/state", payload: Buffer.from(payload), qos: 0 as const, retain: false, dup: false };
    const message = { topic: "led/state", payload, qos: 0, retain: false, id: 0 };
    const oursBytes = encodePublishHeader(message, false) + payload;
    const theirBytes = mqttPacket.generate(packet);
    let delivered = 0;
    // Decoding from the binary string a socket hands over; reading the payload's last byte makes V8 flatten it.
    const read = createReader(1 << 20, (p) => (delivered += p.payload ? (p.payload.charCodeAt(p.payload.length - 1) & 1) + 1 : 1), () => undefined);
    rows.push([
      `PUBLISH ${size} B`,
      // To bytes ready for the socket: V8 joins strings lazily, so without the copy only a rope would be timed.
      rate(() => toBytes(encodePublishHeader(message, false) + payload)),
      rate(() => mqttPacket.generate(packet)),
      rate(() => read(oursBytes)),
      rate(() => parser.parse(theirBytes)),
    ]);
    if (!delivered || !parsed) throw new Error("bench: a decoder delivered nothing");
  }
  const connect = { clientId: "led1", keepalive: 60, clean: true, will: { topic: "led/availability", payload: "offline", qos: 0, retain: true } };
  const connectPacket = {
    cmd: "connect" as const, protocolId: "MQTT" as const, protocolVersion: 4 as const, clientId: "led1", keepalive: 60, clean: true,
    will: { topic: "led/availability", payload: Buffer.from("offline"), qos: 0 as const, retain: true },
  };
  rows.push(["CONNECT", rate(() => toBytes(encodeConnect(connect))), rate(() => mqttPacket.generate(connectPacket)), NaN, NaN]);
  const subscribePacket = { cmd: "subscribe" as const, messageId: 1, subscriptions: [{ topic: "led", qos: 0 as const }] };
  rows.push(["SUBSCRIBE", rate(() => toBytes(encodeSubscribe(1, ["led"], [0]))), rate(() => mqttPacket.generate(subscribePacket)), NaN, NaN]);
  console.log("\n1. Codec (packets per second in this process; ratio = ours / mqtt-packet)");
  console.log("packet            encode: ours   mqtt-packet  ratio   decode: ours   mqtt-packet  ratio");
  for (const [name, encodeOurs, encodeTheirs, decodeOurs, decodeTheirs] of rows) {
    const decode = Number.isNaN(decodeOurs) ? "  (a client never decodes it)" : `${formatRate(decodeOurs)} ${formatRate(decodeTheirs)}  ${(decodeOurs / decodeTheirs).toFixed(2)}`;
    console.log(`${name.padEnd(15)} ${formatRate(encodeOurs)} ${formatRate(encodeTheirs)}  ${(encodeOurs / encodeTheirs).toFixed(2)}  ${decode}`);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Sections 2 and 3 for one firmware, built with the defaults from `entry` (undefined: the one the defaults pick, the tiny one). */
async function endToEndBench(label: string, entry?: string) {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  const broker = await startMosquitto();
  const sim = await (async () => {
    const bundle = join(dir, "firmware.js");
    const built = await buildFirmware({ outfile: bundle, env: {}, configFile: null, overrides: { mqttUrl: broker.url, clientId: "bench1" }, entry });
    entry = built.entry;
    return new EspruinoSim({ code: readFileSync(bundle, "latin1"), fileName: "firmware.js", wifi: false });
  })();
  let wire = { in: 0, out: 0 };
  sim.on("socket", (socket: SimSocket) => {
    socket.on("in", (data: Buffer) => (wire.in += data.length));
    socket.on("out", (data: Buffer) => (wire.out += data.length));
  });
  const phone = await mqtt.connectAsync(broker.url, { clientId: "benchphone" });
  const echo = await mqtt.connectAsync(broker.url, { clientId: "benchecho" });
  // Nagle off, as on the device's and Mosquitto's sockets: otherwise a command waits in the phone's socket for the
  // ACK of the one before, which the broker holds back to ride on the state report (about 1 ms later, as the device
  // reports once per burst after a 0 ms timer), and the figure measures that, not the path.
  for (const client of [phone, echo]) (client.stream as unknown as Socket).setNoDelay(true);
  try {
    const states: string[] = [];
    phone.on("message", (topic, payload) => topic === "led/state" && states.push(payload.toString()));
    await phone.subscribeAsync("led/state");
    sim.start();
    while (states.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    // 3. The wire: from power-up to the first command's state report.
    const stateSeen = states.length;
    await phone.publishAsync("led", "on");
    while (states.length === stateSeen) await new Promise((resolve) => setTimeout(resolve, 5));
    const ours = { ...wire };

    // 2. Latency: publish -> pin change, one command at a time.
    const latencies: number[] = [];
    const began = performance.now();
    for (let i = 0; i < COMMANDS; i++) {
      const want = i % 2;
      const changed = new Promise<void>((resolve) => {
        const onPin = (change: { pin: string; value: number }) => {
          if (change.pin === "D2" && change.value === want) {
            sim.off("pin", onPin);
            resolve();
          }
        };
        sim.on("pin", onPin);
      });
      const start = performance.now();
      phone.publish("led", want ? "on" : "off");
      await changed;
      latencies.push(performance.now() - start);
    }
    const deviceTotal = performance.now() - began;
    const peer: number[] = [];
    await echo.subscribeAsync("bench/echo");
    for (let i = 0; i < COMMANDS; i++) {
      const arrived = new Promise<void>((resolve) => echo.once("message", () => resolve()));
      const start = performance.now();
      phone.publish("bench/echo", i % 2 ? "on" : "off");
      await arrived;
      peer.push(performance.now() - start);
    }
    if (latencies.length !== COMMANDS) throw new Error("bench: commands lost");
    latencies.sort((a, b) => a - b);
    console.log(`(all ${COMMANDS} commands obeyed, in ${deviceTotal.toFixed(0)} ms)`);
    peer.sort((a, b) => a - b);
    console.log(`\n2. End to end through Mosquitto, ${label} (${entry}), ${COMMANDS} commands one at a time (ms; ratio = device / peer)`);
    console.log("path                                          p50     p99");
    console.log(`MQTT.js publish -> pin change in host-sim  ${percentile(latencies, 50).toFixed(2).padStart(6)}  ${percentile(latencies, 99).toFixed(2).padStart(6)}`);
    console.log(`MQTT.js publish -> MQTT.js message          ${percentile(peer, 50).toFixed(2).padStart(6)}  ${percentile(peer, 99).toFixed(2).padStart(6)}`);
    console.log(`ratio                                       ${(percentile(latencies, 50) / percentile(peer, 50)).toFixed(2).padStart(6)}  ${(percentile(latencies, 99) / percentile(peer, 99)).toFixed(2).padStart(6)}`);

    // The protocol's minimum for the same exchange: CONNECT with this client id and Will, CONNACK, SUBSCRIBE to
    // `led`, SUBACK, the two retained reports after connecting, the command in, and the state report out.
    const clientId = "bench1";
    const minimumOut =
      2 + 10 + 2 + clientId.length + 2 + "led/availability".length + 2 + "offline".length + // CONNECT
      2 + 2 + 2 + "led".length + 1 + // SUBSCRIBE
      2 + 2 + "led/availability".length + "online".length + // PUBLISH online
      2 + 2 + "led/state".length + "off".length + // PUBLISH state off
      2 + 2 + "led/state".length + "on".length; // PUBLISH state on
    const minimumIn = 4 + 5 + (2 + 2 + "led".length + "on".length); // CONNACK, SUBACK, PUBLISH on
    console.log(`\n3. Bytes on the wire, ${label}: connect + subscribe + one command (and the state reports it causes)`);
    console.log(`device sent ${ours.out} bytes (protocol minimum ${minimumOut}), received ${ours.in} bytes (minimum ${minimumIn})`);
  } finally {
    sim.powerOff();
    await phone.endAsync(true);
    await echo.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

ensureSystemPackages();
console.log(`npm run bench, ${new Date().toISOString()}, node ${process.version}`);
codecBench();
await endToEndBench("the tiny firmware (the defaults build it)");
await endToEndBench("the full firmware", "firmware/main.ts");
