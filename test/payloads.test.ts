// The LED's payloads end to end: the built bundle on a simulated board against a broker (aedes), an MQTT.js client
// as the phone. Plain words and, where configured, JSON commands and a brightness drive the pin; everything else is
// refused, reported on the console and on the error topic, and changes neither the LED nor its state.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { bootBoard, type Board, until } from "./support/board.ts";
import { Phone } from "./support/phone.ts";
import { useAedesRig } from "./support/rig.ts";

const rig = useAedesRig();

async function start(overrides: Record<string, unknown>): Promise<{ board: Board; phone: Phone }> {
  const base = String(overrides.baseTopic ?? "led");
  const phone = await Phone.connect(rig.broker.url, [`${base}/#`, base]);
  rig.phones.push(phone);
  const board = await bootBoard({ mqttUrl: rig.broker.url, keepalive: 10, ...overrides });
  rig.boards.push(board);
  await board.line("MQTT connected");
  await phone.waitFor(`${base}/state`, "off");
  return { board, phone };
}

/** Sends `payload` and waits for the state it must cause. */
async function command(phone: Phone, base: string, payload: string, state: "on" | "off"): Promise<void> {
  const from = phone.seen.length;
  await phone.publish(base, payload);
  await phone.waitFor(`${base}/state`, state, from);
}

const REFUSED: Array<[payload: string | Buffer, why: string]> = [
  ["blink", "an unknown word"],
  ["x".repeat(200), "too long"],
  [Buffer.from([0x00, 0xff, 0xfe, 0x80]), "binary bytes"],
  ["", "empty"],
  ["[1,]", "a JSON array with a trailing comma"],
  ['{"a":1}x', "JSON with trailing garbage"],
  ['{"state":"on"}x', "a good command with trailing garbage"],
  ['{"state":"on",}', "a trailing comma"],
  ['{"state":"dim"}', "an unknown state"],
  ['{"brightness":128}', "a brightness where none is configured"],
  ["{}", "an empty object"],
];

describe("with JSON commands and an error topic", () => {
  let board: Board;
  let phone: Phone;

  before(async () => {
    ({ board, phone } = await start({ clientId: "payload1", baseTopic: "desk", jsonCommands: true, errorTopic: "desk/error" }));
  });

  test("true/false (any case) and JSON states switch the pin, and the state follows", async () => {
    await command(phone, "desk", "TRUE", "on");
    assert.equal(board.sim.pinValue("D2"), 1);
    await command(phone, "desk", "false", "off");
    await command(phone, "desk", '{"state":"ON"}', "on");
    await command(phone, "desk", ' { "state" : "toggle" } ', "off");
    await command(phone, "desk", '{"state":"true"}', "on");
    assert.equal(board.sim.pinValue("D2"), 1);
  });

  test("everything else is refused on the console and on the error topic, and the LED and its state stay", async () => {
    const fromLine = board.lines.length;
    const fromSeen = phone.seen.length;
    const fromPin = board.pins.length;
    for (const [payload] of REFUSED) await phone.publish("desk", payload);
    // A command after them: handled in order, so every refusal above came before it.
    await command(phone, "desk", "off", "off");
    const refusals = board.lines.slice(fromLine).filter((line) => line.startsWith("refused ") && line.includes(" on desk (expected "));
    assert.equal(refusals.length, REFUSED.length, board.lines.slice(fromLine).join("\n"));
    for (const line of refusals) assert.match(line, /\(expected on\/off\/toggle\/1\/0\/true\/false or JSON \{"state":"on"\}\)$/);
    assert.ok(refusals.includes('refused "\\u0000\\u00FF\\u00FE\\u0080" on desk (expected on/off/toggle/1/0/true/false or JSON {"state":"on"})'), "binary bytes quoted as escapes");
    const errors = phone.seen.slice(fromSeen).filter((m) => m.topic === "desk/error");
    assert.deepEqual(errors.map((m) => m.payload), refusals, "each refusal, as printed, on the error topic");
    assert.ok(errors.every((m) => !m.retain));
    assert.deepEqual(board.pins.slice(fromPin).map((change) => change.value), [0], "only the final off moved the pin");
    assert.deepEqual(phone.seen.slice(fromSeen).filter((m) => m.topic === "desk/state").map((m) => m.payload), ["off"]);
  });

  test("a long payload is quoted only in part", async () => {
    const line = board.lines.find((l) => l.includes("xxxxxxxx"))!;
    assert.ok(line.length < 140, line);
    assert.ok(line.includes('"' + "x".repeat(16) + '"...'));
  });
});

describe("without an error topic and with JSON commands turned off", () => {
  test("a refusal goes to the console only, and JSON is refused like any other word", async () => {
    const { board, phone } = await start({ clientId: "payload2", baseTopic: "plain", jsonCommands: false });
    const fromSeen = phone.seen.length;
    await phone.publish("plain", '{"state":"on"}');
    await command(phone, "plain", "on", "on");
    assert.ok(board.lines.some((line) => line === 'refused "{\\"state\\":\\"on\\"}" on plain'), board.lines.join("\n"));
    assert.deepEqual(phone.seen.slice(fromSeen).map((m) => m.topic), ["plain", "plain", "plain/state"], "no error topic");
    assert.doesNotMatch(board.code, /brightness|state\/json/);
  });
});

describe("with brightness", () => {
  let board: Board;
  let phone: Phone;

  before(async () => {
    ({ board, phone } = await start({ clientId: "dim1", baseTopic: "dim", ledBrightness: true, ledPin: "D4", errorTopic: "dim/error" }));
  });

  /** Sends `payload` and waits for the JSON state it must cause. */
  async function dim(payload: string, state: string): Promise<void> {
    const from = phone.seen.length;
    await phone.publish("dim", payload);
    await phone.waitFor("dim/state/json", state, from);
  }

  test("the pin is driven by PWM (analogWrite, 0 to 1), off at boot", () => {
    assert.equal(board.sim.pwmValue("D4"), 0);
    assert.deepEqual(board.pins, [], "no digital writes to a dimmed LED");
  });

  test('{"brightness":N} dims the LED to N/255 and switches it on; the state is on/off and JSON', async () => {
    await dim('{"brightness":128}', '{"state":"ON","brightness":128}');
    assert.equal(board.sim.pwmValue("D4"), 128 / 255);
    await phone.waitFor("dim/state", "on");
    await dim('{"state":"on","brightness":255}', '{"state":"ON","brightness":255}');
    assert.equal(board.sim.pwmValue("D4"), 1);
    await dim('{"brightness":1}', '{"state":"ON","brightness":1}');
    assert.equal(board.sim.pwmValue("D4"), 1 / 255);
  });

  test("brightness 0 and off switch it off; on brings the last brightness back", async () => {
    await dim('{"brightness":64}', '{"state":"ON","brightness":64}');
    await dim('{"brightness":0}', '{"state":"OFF","brightness":64}');
    assert.equal(board.sim.pwmValue("D4"), 0);
    await dim("on", '{"state":"ON","brightness":64}');
    assert.equal(board.sim.pwmValue("D4"), 64 / 255);
    await dim("off", '{"state":"OFF","brightness":64}');
    await dim("toggle", '{"state":"ON","brightness":64}');
    assert.equal(board.sim.pwmValue("D4"), 64 / 255);
  });

  test("out of range, fractional or mistyped brightness is refused and reported, and the LED stays", async () => {
    const fromPwm = board.pwm.length;
    const fromSeen = phone.seen.length;
    const bad = ['{"brightness":256}', '{"brightness":-1}', '{"brightness":12.5}', '{"brightness":"9"}', '{"brightness":1000}', '{"brightness":128'];
    for (const payload of bad) await phone.publish("dim", payload);
    await dim('{"brightness":200}', '{"state":"ON","brightness":200}');
    const errors = phone.seen.slice(fromSeen).filter((m) => m.topic === "dim/error");
    assert.equal(errors.length, bad.length);
    for (const error of errors) assert.match(error.payload, /^refused .* on dim \(expected .*or JSON \{"state":"on","brightness":0-255\}\)$/);
    assert.deepEqual(board.pwm.slice(fromPwm).map((change) => change.value), [200 / 255]);
  });

  test("an active-low LED gets the inverted duty cycle", async () => {
    const { board: low, phone: lowPhone } = await start({ clientId: "dim2", baseTopic: "low", ledBrightness: true, ledActiveLow: true });
    assert.equal(low.sim.pwmValue("D2"), 1, "off is high");
    const from = lowPhone.seen.length;
    await lowPhone.publish("low", '{"brightness":51}');
    await lowPhone.waitFor("low/state/json", '{"state":"ON","brightness":51}', from);
    assert.equal(low.sim.pwmValue("D2"), 1 - 51 / 255);
  });
});

describe("host-sim's analogWrite", () => {
  test("clamps to 0..1 and reports changes as 'pwm' events, not 'pin' events", async () => {
    const { EspruinoSim } = await import("../host-sim/runtime.ts");
    const sim = new EspruinoSim({ code: "analogWrite(D5, 0.25); analogWrite('D5', 0.25); analogWrite(5, 7); analogWrite(D6, -1);" });
    const events: Array<[string, number]> = [];
    sim.on("pwm", (change: { pin: string; value: number }) => events.push([change.pin, change.value]));
    sim.on("pin", () => assert.fail("no digital pin event"));
    sim.start();
    await until("the writes", () => events.length === 3);
    assert.deepEqual(events, [
      ["D5", 0.25],
      ["D5", 1],
      ["D6", 0],
    ]);
    assert.equal(sim.pinValue("D5"), undefined);
    sim.powerOff();
  });
});
