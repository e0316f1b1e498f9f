// User name and password, end to end: the built bundle on a simulated board against Mosquitto with a password file
// (mosquitto_passwd) and an ACL that lets the device's user read `led` and write `led/#`. The right credentials work;
// wrong ones are refused by CONNACK, said so by meaning on the console, and retried with growing delays, never in a
// hot loop; the password never reaches the console. Run for both firmwares.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMosquitto } from "./support/brokers.ts";
import { startAedes } from "../host-sim/broker.ts";
import { bootBoard, type Board, until } from "./support/board.ts";
import { Phone } from "./support/phone.ts";

const DEVICE_PASSWORD = "dev-Secr3t-pw";
const PHONE_PASSWORD = "phone-pw";

const dir = mkdtempSync(join(tmpdir(), "auth-test-"));
chmodSync(dir, 0o755); // Mosquitto, started as root, reads these files as the user mosquitto.
let broker: Awaited<ReturnType<typeof startMosquitto>>;
const boards: Board[] = [];
const watchers: Phone[] = [];

before(async () => {
  const passwords = join(dir, "passwd");
  execFileSync("mosquitto_passwd", ["-b", "-c", passwords, "device", DEVICE_PASSWORD]);
  execFileSync("mosquitto_passwd", ["-b", passwords, "phone", PHONE_PASSWORD]);
  const acl = join(dir, "acl");
  writeFileSync(acl, ["user device", "topic read led", "topic write led/#", "", "user phone", "topic readwrite #", ""].join("\n"));
  for (const file of [passwords, acl]) chmodSync(file, 0o644);
  broker = await startMosquitto(["allow_anonymous false", `password_file ${passwords}`, `acl_file ${acl}`]);
});

after(async () => {
  for (const board of boards) board.sim.powerOff();
  for (const watcher of watchers) await watcher.end();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function boot(overrides: Record<string, unknown>): Promise<Board> {
  const board = await bootBoard({ mqttUrl: broker.url, keepalive: 10, ...overrides });
  boards.push(board);
  return board;
}

/**
 * Both firmwares: the tiny one the defaults build, and the full one (QoS 1 reports bring it). Each says a refusal
 * its own way: the tiny one gives CONNACK's code and a whole-second delay (its clock ticks once a second: the
 * attempt comes 1 to N s later), the full one names codes 4 and 5 and gives the delay to a tenth.
 */
const FIRMWARES = [
  {
    name: "the tiny firmware",
    overrides: {},
    tag: "t",
    refusal: (code: number) => new RegExp(`^MQTT: refused, code ${code}; retry in (\\d+) s$`),
    /** The first two delays: 1, then 1 or 2 (full jitter over 1 then 2 s). */
    backoff: (first: number, second: number) => first === 1 && second >= 1 && second <= 2,
  },
  {
    name: "the full firmware",
    overrides: { stateQos: 1 },
    tag: "f",
    refusal: (code: number) => new RegExp(`^MQTT: refused, code ${code} \\(${code == 4 ? "bad user name or password" : "not authorized"}\\); retry in (\\d+\\.\\d) s$`),
    /** 0.5 to 1 s, then up to 2 s. */
    backoff: (first: number, second: number) => first >= 0.5 && first <= 1 && second >= first && second <= 2,
  },
];

/** The reconnect delays a board reported after refusals with CONNACK `code`, in seconds, in order. */
function refusalDelays(board: Board, firmware: (typeof FIRMWARES)[number], code: number): number[] {
  return board.matching(firmware.refusal(code)).map((match) => Number(match[1]));
}

for (const firmware of FIRMWARES) {
  describe(`Mosquitto with a password file and an ACL, ${firmware.name}`, () => {
    test("the right user name and password: the device connects, obeys the phone and reports its state", async () => {
      const board = await boot({ ...firmware.overrides, mqttUsername: "device", mqttPassword: DEVICE_PASSWORD, clientId: "authgood" + firmware.tag });
      await board.line("MQTT connected");
      const phone = await Phone.connect(broker.url, ["led/#"], { username: "phone", password: PHONE_PASSWORD });
      watchers.push(phone);
      assert.equal((await phone.waitFor("led/availability", "online")).retain, true);
      const from = phone.seen.length;
      await phone.publish("led", "on");
      await until("the LED on", () => board.sim.pinValue("D2") === 1);
      await phone.waitFor("led/state", "on", from);
      assert.ok(!board.lines.some((line) => line.includes("refused")), board.lines.join("\n"));
      assert.ok(!board.lines.some((line) => line.includes(DEVICE_PASSWORD)), "the password never reaches the console");
    });

    test("the credentials in the broker URL work too", async () => {
      const board = await boot({ ...firmware.overrides, mqttUrl: broker.url.replace("mqtt://", `mqtt://device:${encodeURIComponent(DEVICE_PASSWORD)}@`), clientId: "authurl" + firmware.tag });
      await board.line("MQTT connected");
    });

    test("a wrong password: refused as 'not authorized' (CONNACK 5), retried with growing delays, no hot loop", async () => {
      const board = await boot({ ...firmware.overrides, mqttUsername: "device", mqttPassword: "wrong-password", clientId: "authbad" + firmware.tag });
      await until("two refusals", () => refusalDelays(board, firmware, 5).length >= 2, 10_000, () => `; console:\n${board.lines.join("\n")}`);
      const [first, second] = refusalDelays(board, firmware, 5) as [number, number];
      assert.ok(firmware.backoff(first, second), `backoff 1 s then 2 s, with jitter: ${first}, ${second}`);
      assert.ok(!board.lines.some((line) => line.startsWith("MQTT connected")));
      const times = board.sockets.map((socket) => socket.dialedAt);
      assert.ok(times.length >= 2 && times.length <= 4, `${times.length} attempts in a few seconds`);
      for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 0.45, `attempts ${times.join(", ")} s apart enough`);
      assert.ok(!board.lines.some((line) => line.includes("wrong-password")));
    });

    test("an unknown user is refused the same way", async () => {
      const board = await boot({ ...firmware.overrides, mqttUsername: "intruder", mqttPassword: DEVICE_PASSWORD, clientId: "authwho" + firmware.tag });
      await board.line(firmware.refusal(5));
    });

    test("the ACL holds: a device whose base topic it does not cover gets no commands, and its reports go nowhere", async () => {
      const board = await boot({ ...firmware.overrides, mqttUsername: "device", mqttPassword: DEVICE_PASSWORD, clientId: "authacl" + firmware.tag, baseTopic: "kitchen" });
      await board.line("MQTT connected");
      const phone = await Phone.connect(broker.url, ["kitchen/#", "kitchen"], { username: "phone", password: PHONE_PASSWORD });
      watchers.push(phone);
      await phone.publish("kitchen", "on");
      // The phone's own command coming back shows the broker has handled it; the device, which may not read it, got nothing.
      await phone.waitFor("kitchen", "on");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.notEqual(board.sim.pinValue("D2"), 1);
      assert.deepEqual(phone.seen.map((m) => m.topic), ["kitchen"], "no availability or state: the device may not write there");
    });
  });

  describe(`a broker that answers 'bad user name or password' (CONNACK 4), ${firmware.name}`, () => {
    test("aedes with users: the refusal is named and retried", async () => {
      const aedes = await startAedes(0, "127.0.0.1", { users: [{ username: "device", password: DEVICE_PASSWORD }] });
      try {
        const board = await bootBoard({ ...firmware.overrides, mqttUrl: aedes.url, mqttUsername: "device", mqttPassword: "nope", clientId: "authaedes" + firmware.tag });
        boards.push(board);
        await until("two refusals", () => refusalDelays(board, firmware, 4).length >= 2, 10_000, () => `; console:\n${board.lines.join("\n")}`);
        board.sim.powerOff();
      } finally {
        await aedes.close();
      }
    });
  });
}
