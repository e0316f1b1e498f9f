// End to end: the built bundle runs on a simulated board (host-sim, its own process) against a real broker, and
// MQTT.js plays the phone. Run on Mosquitto and on aedes, for both firmwares.
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { startAedesBroker, startMosquitto, TestBroker } from "./support/brokers.ts";
import { Phone, settledRetained } from "./support/phone.ts";
import { SimProcess } from "./support/sim-process.ts";

const workDir = mkdtempSync(join(tmpdir(), "e2e-"));
after(() => rmSync(workDir, { recursive: true, force: true }));

/**
 * Builds the bundle exactly as `npm run build` does, with this broker baked in, ignoring any local config: the
 * firmware the defaults pick (the tiny one), or the one from `entry`.
 */
async function buildFor(broker: TestBroker, clientId: string, entry?: string): Promise<string> {
  const outfile = join(workDir, `${clientId}.js`);
  await buildFirmware({ outfile, configFile: null, env: {}, overrides: { mqttUrl: broker.url, clientId }, entry });
  return outfile;
}

const FIRMWARES = [
  { name: "the tiny firmware (the defaults)", entry: undefined },
  { name: "the full firmware", entry: "firmware/main.ts" },
];

for (const startBroker of [startMosquitto, startAedesBroker]) for (const firmware of FIRMWARES) {
  describe(`the LED through ${startBroker === startMosquitto ? "Mosquitto" : "aedes"}, ${firmware.name}`, () => {
    let broker: TestBroker;
    let sim: SimProcess;
    let phone: Phone;

    before(async () => {
      broker = await startBroker();
      const bundle = await buildFor(broker, `e2e${broker.name}${firmware.entry ? "full" : "tiny"}`, firmware.entry);
      // The bundle has this broker baked in; --broker keeps the sim from starting an embedded one it would not use.
      sim = new SimProcess(["--bundle", bundle, "--broker", broker.url, "--http-port", "0"]);
      // A generous limit: the sim process compiles its TypeScript at start, slow on a loaded machine.
      await sim.waitFor((e) => e.event === "mqtt" && e.state === "connected", "MQTT connection", 0, 30_000);
      phone = await Phone.connect(broker.url, ["led/#"]);
    });

    after(async () => {
      await sim?.kill();
      await phone?.end();
      await broker?.stop();
    });

    test("the device says it is online and reports its state, both retained", async () => {
      await phone.waitFor("led/availability", "online");
      await phone.waitFor("led/state", "off");
      // Retained: what a client subscribing now reads (the phone subscribed while these may have been on their way,
      // and a message forwarded live to a subscriber carries no retain flag, so its copy cannot tell).
      assert.equal(await settledRetained(broker.url, "led/availability", "online"), "online");
      assert.equal(await settledRetained(broker.url, "led/state", "off"), "off");
    });

    /** Sends a command and waits for the pin and the state report it must cause. */
    async function command(payload: string, pin: number, state: "on" | "off") {
      const fromEvent = sim.events.length;
      const fromSeen = phone.seen.length;
      await phone.publish("led", payload);
      await sim.waitFor((e) => e.event === "pin" && e.pin === "D2" && e.value === pin, `pin D2=${pin} after "${payload}"`, fromEvent);
      await phone.waitFor("led/state", state, fromSeen);
    }

    test("on, off and toggle switch the pin and the retained state follows", async () => {
      await command("on", 1, "on");
      await command("off", 0, "off");
      await command("toggle", 1, "on");
      await command("TOGGLE", 0, "off");
      await command("1", 1, "on");
      assert.equal(await settledRetained(broker.url, "led/state", "on"), "on");
    });

    test("a bad payload is refused and reported, and the LED and state do not change", async () => {
      const fromEvent = sim.events.length;
      const fromSeen = phone.seen.length;
      await phone.publish("led", "blink");
      await sim.waitFor((e) => e.event === "console" && /^refused "blink" on led/.test(String(e.text)), "refusal on the console", fromEvent);
      // A command after it proves the bad one was handled first: the only changes are the ones "off" made.
      await command("off", 0, "off");
      assert.deepEqual(sim.pinEvents(fromEvent).map((e) => e.value), [0]);
      assert.deepEqual(phone.seen.slice(fromSeen).filter((m) => m.topic === "led/state").map((m) => m.payload), ["off"]);
    });

    test("killing the device without DISCONNECT makes availability read offline (the Will), retained", async () => {
      const fromSeen = phone.seen.length;
      await sim.kill();
      await phone.waitFor("led/availability", "offline", fromSeen);
      assert.equal(await settledRetained(broker.url, "led/availability", "offline"), "offline");
    });
  });
}

test("npm run sim -- --devices 3: a fleet of boards, each with its own client id, all obeying one command", async () => {
  const broker = await startAedesBroker();
  // Subscribed first: each board says online after its SUBSCRIBE, so three onlines mean three subscriptions.
  const phone = await Phone.connect(broker.url, ["led/availability"]);
  const fleet = new SimProcess(["--devices", "3", "--broker", broker.url, "--http-port", "0"]);
  try {
    for (const board of [0, 1, 2]) await fleet.waitFor((e) => e.event === "mqtt" && e.board === board && e.state === "connected", `board ${board} connected`, 0, 30_000);
    const started = await fleet.waitFor((e) => e.event === "fleet", "the fleet event");
    assert.deepEqual(started.clientIds, ["led5ccf7f0000000001", "led5ccf7f0000000003"]);
    const deadline = Date.now() + 10_000;
    while (phone.seen.filter((m) => m.payload === "online").length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(phone.seen.filter((m) => m.payload === "online").length, 3, "every board online");
    const from = fleet.events.length;
    await phone.publish("led", "on");
    for (const board of [0, 1, 2]) await fleet.waitFor((e) => e.event === "pin" && e.board === board && e.value === 1, `board ${board} on`, from);
  } finally {
    await phone.end();
    await fleet.kill();
    await broker.stop();
  }
});

test("--devices refuses a shared client id", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "host-sim/cli.ts", "--devices", "2", "--client-id", "same", "--broker", "mqtt://127.0.0.1:1"], { encoding: "utf8" });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--devices with --client-id/);
});
