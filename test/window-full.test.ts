// A state report the client refuses is not lost. At QoS 1 with no offline queue, the client keeps at most 4 publishes
// in flight (their PUBACKs not yet in); a report past that is refused, and the LED app publishes again, with the state
// as it is then, once the window has room. Here a proxy between the device and aedes holds the broker's PUBACKs
// while commands keep coming, then lets them go: the state the broker keeps must be the LED's.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { startAedes, type RunningBroker } from "../host-sim/broker.ts";
import { bootBoard, until, type Board } from "./support/board.ts";
import { FaultProxy } from "./support/fault-proxy.ts";

const PUBACK = 4;

let broker: RunningBroker;
let proxy: FaultProxy;
let board: Board;
let phone: mqtt.MqttClient;
/** Every state the phone saw on led/state, in order. */
const states: string[] = [];

before(async () => {
  broker = await startAedes(0);
  proxy = await FaultProxy.start({ targetPort: broker.port });
  phone = await mqtt.connectAsync(broker.url, { clientId: "windowfullphone", reconnectPeriod: 0 });
  phone.on("message", (topic, payload) => topic === "led/state" && states.push(payload.toString()));
  await phone.subscribeAsync("led/state", { qos: 1 });
  board = await bootBoard({ mqttUrl: proxy.url, clientId: "windowfull1", stateQos: 1, offlineQueue: 0, keepalive: 60 });
  await board.line("MQTT connected");
  await until("the state report after the connect", () => states.length > 0);
  // Its PUBACK, and online's, reach the device: the window is empty when the test starts holding.
  await new Promise((resolve) => setTimeout(resolve, 300));
});

after(async () => {
  board?.sim.powerOff();
  await phone?.endAsync(true);
  await proxy?.close();
  await broker?.close();
});

const ledOn = () => board.sim.pinValue("D2") === 1;

test("reports refused while 4 are in flight go out once the PUBACKs come, and the broker ends with the LED's state", async () => {
  assert.deepEqual(states, ["off"]);
  proxy.hold("toDevice", PUBACK);
  // Seven toggles, each once the last one's report (if any) reached the broker: off -> on, off, on, off, on, off, on.
  // The first four reports fill the window (no PUBACK reaches the device); it refuses the next ones and tries again.
  for (let toggle = 1; toggle <= 7; toggle++) {
    await phone.publishAsync("led", "toggle");
    await until(`the LED after toggle ${toggle}`, () => ledOn() === (toggle % 2 === 1));
    if (toggle <= 4) await until(`report ${toggle} at the broker`, () => states.length === toggle + 1 && proxy.heldCount === toggle, 10_000, () => `; states ${states.join(",")}, held ${proxy.heldCount}; console:\n${board.lines.join("\n")}`);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(ledOn(), true);
  assert.deepEqual(states, ["off", "on", "off", "on", "off"], "only the window's 4 reports went out while no PUBACK came");
  assert.equal(proxy.heldCount, 4);

  assert.equal(proxy.release(), 4);
  await until("the refused report, sent again once the window had room", () => states.length >= 6, 5_000, () => `; states: ${states.join(",")}`);
  // Settle: nothing else should follow the report of the final state.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(states, ["off", "on", "off", "on", "off", "on"], "one more report, with the LED's state");

  // A new subscriber gets the retained state: the LED's, not the last of the four.
  const late = await mqtt.connectAsync(broker.url, { clientId: "windowfulllate", reconnectPeriod: 0 });
  try {
    const retained = new Promise<string>((resolve) => late.on("message", (topic, payload) => topic === "led/state" && resolve(payload.toString())));
    await late.subscribeAsync("led/state", { qos: 1 });
    assert.equal(await retained, "on");
  } finally {
    await late.endAsync(true);
  }
  assert.deepEqual(board.uncaught, []);
  assert.deepEqual(board.lines.filter((line) => line.startsWith("MQTT: ")), [], "the link was never dropped");
});
