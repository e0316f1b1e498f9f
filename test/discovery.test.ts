// Home Assistant MQTT discovery, end to end: the built bundle on a simulated board against a broker, with an MQTT.js
// client playing Home Assistant. After connecting the device publishes a retained config for a `light` entity, which
// must use only keys the MQTT Light page documents (test/support/ha-mqtt-light.ts), with the right types; then Home
// Assistant's side of that config (its command payloads, its reading of state and availability) must work.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { bootBoard, type Board, until } from "./support/board.ts";
import { Phone } from "./support/phone.ts";
import { useAedesRig } from "./support/rig.ts";
import { checkLightConfig, JSON_STATE_KEYS } from "./support/ha-mqtt-light.ts";

const rig = useAedesRig();

/** What a client that subscribes now reads retained on `topic`. */
async function retained(topic: string): Promise<string> {
  const reader = await Phone.connect(rig.broker.url, [topic]);
  try {
    return (await until(`a retained ${topic}`, () => reader.seen.find((m) => m.topic === topic && m.retain))).payload;
  } finally {
    await reader.end();
  }
}

/** Home Assistant watching the discovery prefix and everything under the base topic, then the board booting. */
async function start(overrides: Record<string, unknown>): Promise<{ board: Board; ha: Phone }> {
  const base = String(overrides.baseTopic ?? "led");
  const ha = await Phone.connect(rig.broker.url, [`${overrides.homeAssistantPrefix ?? "homeassistant"}/#`, `${base}/#`]);
  rig.phones.push(ha);
  const board = await bootBoard({ mqttUrl: rig.broker.url, keepalive: 10, ...overrides });
  rig.boards.push(board);
  await board.line("MQTT connected");
  return { board, ha };
}

describe("Home Assistant discovery (default schema: on/off)", () => {
  let board: Board;
  let ha: Phone;
  let config: Record<string, unknown>;

  before(async () => {
    ({ board, ha } = await start({ homeAssistant: true, clientId: "desk1", baseTopic: "desk/lamp", commandQos: 1 }));
    const message = await ha.waitFor("homeassistant/light/desk1/config");
    config = JSON.parse(message.payload) as Record<string, unknown>;
    assert.equal(await retained("homeassistant/light/desk1/config"), message.payload, "retained, so Home Assistant finds it whenever it starts");
  });

  test("the config uses only documented keys of the MQTT light, with the documented types", () => {
    assert.deepEqual(checkLightConfig(config), []);
  });

  test("it names the device's own topics and payloads, a unique id and the device", () => {
    assert.deepEqual(config, {
      name: null,
      unique_id: "desk1_led",
      command_topic: "desk/lamp",
      state_topic: "desk/lamp/state",
      payload_on: "on",
      payload_off: "off",
      availability_topic: "desk/lamp/availability",
      payload_available: "online",
      payload_not_available: "offline",
      qos: 1,
      device: { identifiers: ["desk1"], name: "Espruino LED", model: "espruino-mqtt-led", sw_version: "0.1.0" },
    });
  });

  test("it comes after connecting and before the device says it is online", () => {
    const topics = ha.seen.map((m) => m.topic);
    const configAt = topics.indexOf("homeassistant/light/desk1/config");
    const onlineAt = ha.seen.findIndex((m) => m.topic === config.availability_topic && m.payload === config.payload_available);
    assert.ok(configAt >= 0 && onlineAt > configAt, topics.join(", "));
  });

  test("Home Assistant's side works: payload_on and payload_off on command_topic switch the LED, state_topic follows", async () => {
    let from = ha.seen.length;
    await ha.publish(config.command_topic as string, config.payload_on as string);
    await until("the LED on", () => board.sim.pinValue("D2") === 1);
    await ha.waitFor(config.state_topic as string, config.payload_on as string, from);
    from = ha.seen.length;
    await ha.publish(config.command_topic as string, config.payload_off as string);
    await until("the LED off", () => board.sim.pinValue("D2") === 0);
    await ha.waitFor(config.state_topic as string, config.payload_off as string, from);
  });
});

describe("Home Assistant discovery with brightness (JSON schema)", () => {
  let board: Board;
  let ha: Phone;
  let config: Record<string, unknown>;

  before(async () => {
    ({ board, ha } = await start({ homeAssistant: true, ledBrightness: true, clientId: "dimmer1", homeAssistantName: "Desk lamp" }));
    const configSeen = await ha.waitFor("homeassistant/light/dimmer1/config");
    config = JSON.parse(configSeen.payload) as Record<string, unknown>;
    // The report that follows the connect (after the config), so that a command's report is not mistaken for it.
    await ha.waitFor(config.state_topic as string, undefined, ha.seen.indexOf(configSeen));
  });

  test("the config uses only documented keys of the JSON schema, with brightness as its only color mode", () => {
    assert.deepEqual(checkLightConfig(config), []);
    assert.equal(config.schema, "json");
    assert.equal(config.command_topic, "led");
    assert.equal(config.state_topic, "led/state/json");
    assert.equal(config.brightness, true);
    assert.deepEqual(config.supported_color_modes, ["brightness"]);
    assert.deepEqual(config.device, { identifiers: ["dimmer1"], name: "Desk lamp", model: "espruino-mqtt-led", sw_version: "0.1.0" });
    assert.equal(config.qos, undefined, "QoS 0, the default, is left out");
  });

  /** Sends what Home Assistant sends and returns the JSON state the device answers with. */
  async function command(payload: string): Promise<Record<string, unknown>> {
    const from = ha.seen.length;
    await ha.publish(config.command_topic as string, payload);
    const state = JSON.parse((await ha.waitFor(config.state_topic as string, undefined, from)).payload) as Record<string, unknown>;
    for (const key of Object.keys(state)) assert.ok(JSON_STATE_KEYS.includes(key), `state key ${key} is documented`);
    return state;
  }

  test('turn_on with a brightness ({"state":"ON","brightness":128}) dims the LED and the state says so', async () => {
    assert.deepEqual(await command('{"state":"ON","brightness":128}'), { state: "ON", brightness: 128 });
    assert.equal(board.sim.pwmValue("D2"), 128 / 255);
  });

  test("turn_off and turn_on (with a transition, which the LED skips) keep the brightness", async () => {
    assert.deepEqual(await command('{"state":"OFF"}'), { state: "OFF", brightness: 128 });
    assert.equal(board.sim.pwmValue("D2"), 0);
    assert.deepEqual(await command('{"state":"ON","transition":2.0}'), { state: "ON", brightness: 128 });
    assert.equal(board.sim.pwmValue("D2"), 128 / 255);
  });

  test("plain clients still read on/off on <base>/state", async () => {
    await ha.waitFor("led/state", "on");
    assert.deepEqual(board.pins, [], "a dimmed LED is driven by PWM only");
  });
});

describe("discovery settings", () => {
  test("with the default client id the node id comes from the board's serial number", async () => {
    const { ha } = await start({ homeAssistant: true, homeAssistantPrefix: "ha", baseTopic: "serial" });
    const config = JSON.parse((await ha.waitFor("ha/light/led5ccf7f0000000001/config")).payload) as Record<string, unknown>;
    assert.equal(config.unique_id, "led5ccf7f0000000001_led");
    assert.deepEqual((config.device as Record<string, unknown>).identifiers, ["led5ccf7f0000000001"]);
  });

  test("off by default: nothing is announced, and the bundle carries none of it", async () => {
    const { board, ha } = await start({ clientId: "plain1", baseTopic: "plain" });
    await ha.waitFor("plain/state", "off");
    assert.ok(!ha.seen.some((m) => m.topic.includes("plain1")), "no config of its own (the others' are retained from earlier tests)");
    assert.doesNotMatch(board.code, /homeassistant|unique_id/);
  });

  test("a client id that cannot name a node is refused at build time", async () => {
    await assert.rejects(
      bootBoard({ homeAssistant: true, clientId: "desk.lamp", allowLongClientId: true }),
      /homeAssistant \(env HOME_ASSISTANT.*"desk\.lamp" names the device in Home Assistant's discovery topic/,
    );
  });
});
