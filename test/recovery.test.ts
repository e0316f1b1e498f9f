// The session never gives up: Mosquitto is killed (SIGKILL) and restarted on the same port while the built bundle
// runs in host-sim. The device notices, reconnects with backoff without a restart of its own, obeys commands again,
// and every QoS 1 message it published during the outage (button presses, held in its offline queue) arrives.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { buildFirmware } from "../esbuild.config.mjs";
import { EspruinoSim } from "../host-sim/runtime.ts";
import { startAedesBroker, startMosquitto } from "./support/brokers.ts";

const dir = mkdtempSync(join(tmpdir(), "recovery-"));
// Mosquitto started as root runs as the mosquitto user: it must be able to write its persistence file here.
chmodSync(dir, 0o777);
/** Persistence keeps the phone's QoS 1 session across the restart, so nothing depends on who reconnects first. */
const CONFIG = ["persistence true", `persistence_location ${dir}/`, "autosave_interval 1", "autosave_on_changes true"];

let broker: Awaited<ReturnType<typeof startMosquitto>>;
let sim: EspruinoSim;
let phone: mqtt.MqttClient;
const console_: string[] = [];
const states: string[] = [];

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms; device console:\n${console_.join("\n")}\nstates: ${states.join(",")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

before(async () => {
  broker = await startMosquitto(CONFIG, { dir });
  const bundle = join(dir, "firmware.js");
  await buildFirmware({
    outfile: bundle,
    configFile: null,
    env: {},
    overrides: { mqttUrl: broker.url, clientId: "recovery1", stateQos: 1, offlineQueue: 20, buttonPin: "D0", keepalive: 5, reconnectMaxSeconds: 2 },
  });
  sim = new EspruinoSim({ code: readFileSync(bundle, "latin1"), fileName: "firmware.js", wifi: false });
  sim.on("console", (text: string) => console_.push(text));
  phone = await mqtt.connectAsync(broker.url, { clientId: "recoveryphone", clean: false, reconnectPeriod: 200, connectTimeout: 5000 });
  phone.on("message", (topic, payload) => {
    if (topic === "led/state") states.push(payload.toString());
  });
  await phone.subscribeAsync("led/state", { qos: 1 });
  sim.start();
  await until("first state report", () => states.length > 0);
});

after(async () => {
  sim?.powerOff();
  await phone?.endAsync(true);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("after Mosquitto is killed and restarted, the QoS 1 states published during the outage all arrive, in order, and commands work again", async () => {
  const before = console_.length;
  await broker.kill();
  await until("the device noticing the drop", () => console_.slice(before).some((line) => line.startsWith("MQTT: ")));

  // Five presses of the board's button while the broker is down: on, off, on, off, on.
  states.length = 0;
  for (let i = 0; i < 5; i++) {
    sim.press("D0");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(sim.pinValue("D2"), 1, "the LED follows the button without the broker");

  broker = await startMosquitto(CONFIG, { port: broker.port, dir });
  await until("the queued states", () => states.length >= 5);
  assert.deepEqual(states.slice(0, 5), ["on", "off", "on", "off", "on"], "every state from the outage, in order");
  await until("the state re-published on connect", () => states.length >= 6);
  assert.equal(states[5], "on");

  await phone.publishAsync("led", "off");
  await until("the LED obeying again", () => sim.pinValue("D2") === 0);
  await until("the new state", () => states.at(-1) === "off");
  assert.ok(console_.some((line) => /^MQTT: .*; retry in \d+(\.\d)? s$/.test(line)), "the backoff was reported");
});

test("WiFi lost and back: the same reconnect machinery brings the session back, and commands work again", async () => {
  const aedes = await startAedesBroker();
  const bundle = join(dir, "wifi.js");
  await buildFirmware({
    outfile: bundle,
    configFile: null,
    env: {},
    overrides: { mqttUrl: aedes.url, clientId: "wifi1", wifiSsid: "simnet", wifiPassword: "pw", reconnectMaxSeconds: 1 },
  });
  const board = new EspruinoSim({ code: readFileSync(bundle, "latin1"), fileName: "wifi.js", wifi: true });
  const lines: string[] = [];
  board.on("console", (text: string) => lines.push(text));
  const viewer = await mqtt.connectAsync(aedes.url, { reconnectPeriod: 0 });
  const waitLine = async (text: string, from: number) => {
    const deadline = Date.now() + 15_000;
    while (!lines.slice(from).some((line) => line.includes(text))) {
      if (Date.now() > deadline) throw new Error(`no "${text}" on the console:\n${lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    board.start();
    await waitLine("WiFi: joined", 0);
    await waitLine("MQTT connected", 0);
    const dropAt = lines.length;
    board.wifiDrop();
    await waitLine("MQTT: closed", dropAt);
    await waitLine("cannot connect", dropAt); // retried with backoff while the network is gone
    const restoreAt = lines.length;
    board.wifiRestore();
    await waitLine("MQTT connected", restoreAt);
    await viewer.publishAsync("led", "on");
    await until("the LED obeying after the WiFi came back", () => board.pinValue("D2") === 1);
  } finally {
    board.powerOff();
    await viewer.endAsync(true);
    await aedes.stop();
  }
});
