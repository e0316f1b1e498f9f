// The tiny firmware's timing and restarts on a simulated board: the connect and PINGRESP deadlines, the backoff and
// when it starts afresh, and save() (while running, and while the board is still joining WiFi; both firmwares).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startAedesBroker } from "./support/brokers.ts";
import { bootBoard, until } from "./support/board.ts";
import { HostileBroker } from "./support/hostile-broker.ts";
import { close, consoleOf, mute, tinyFixtures } from "./support/tiny.ts";

const { boards, boot, watch, obeysOn } = tinyFixtures();

describe("save() while the board is still joining WiFi", () => {
  // save() keeps the first start's WiFi listener and rejoin timer, and the start after it asks again: one join, one
  // connection, for either firmware.
  for (const [name, overrides] of [["the tiny firmware", {}], ["the full firmware", { stateQos: 1 }]] as const) {
    test(`${name}: once the network is back, one connection, no second CONNECT`, async () => {
      const aedes = await startAedesBroker();
      try {
        const board = await bootBoard({ ...overrides, mqttUrl: aedes.url, clientId: "savewifi", wifiSsid: "simnet", wifiPassword: "pw", reconnectMaxSeconds: 1 }, { wifi: true });
        boards.push(board);
        board.sim.wifiDrop();
        await board.line("rejoining in 10 s");
        board.sim.saveImage();
        // 'init' comes on the next turn of the event loop: the start after the save has run once this has.
        await new Promise((resolve) => setTimeout(resolve, 50));
        board.sim.wifiRestore();
        await board.line("MQTT connected", 0, 15_000);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(board.sockets.length, 1, `one connection:\n${board.lines.join("\n")}`);
        assert.equal(board.lines.filter((line) => line === "WiFi: joined").length, 1, board.lines.join("\n"));
        assert.ok(!board.lines.some((line) => line.startsWith("MQTT: bad packet")), board.lines.join("\n"));
        await obeysOn(board, aedes.url);
        assert.deepEqual(board.uncaught, []);
      } finally {
        await aedes.stop();
      }
    });
  }
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

describe("the tiny firmware's deadlines", () => {
  test("the backoff starts afresh after 10 s connected, keepalive 0 too; shorter connections keep it growing", async () => {
    const broker = await HostileBroker.start();
    try {
      const board = await boot({ mqttUrl: broker.url, clientId: "tinystable", keepalive: 0, reconnectMaxSeconds: 60 });
      // The most of each jitter range: 1 tick for a backoff of 1 s, 2 for 2 s, 4 for 4 s.
      board.sim.evaluate("Math.random = function () { return 0.99; }");
      const retries = (from: number) => board.lines.slice(from).map((line) => line.match(/^MQTT: closed; retry in (\d+) s$/)?.[1]).filter(Boolean).map(Number);
      for (const expected of [1, 2]) {
        await until("a subscribed connection", () => broker.current?.subscribed === true && !broker.current.socket.destroyed, 10_000, consoleOf(board));
        const mark = board.lines.length;
        broker.hangUp();
        await until("the drop", () => retries(mark).length > 0, 5000, consoleOf(board));
        assert.deepEqual(retries(mark), [expected], "a connection under 10 s doubles the backoff");
      }
      await until("a subscribed connection", () => broker.current?.subscribed === true && !broker.current.socket.destroyed, 10_000, consoleOf(board));
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      const mark = board.lines.length;
      broker.hangUp();
      await until("the drop", () => retries(mark).length > 0, 5000, consoleOf(board));
      assert.deepEqual(retries(mark), [1], "after 11 s connected the backoff is back to 1 s");
    } finally {
      await broker.close();
    }
  });

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

