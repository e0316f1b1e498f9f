// The client library as `npm run size` measures it (scripts/size-entries/client-library.ts, every feature on) is a
// module that works when called by name from code built apart from it: its bundle, loaded as Espruino loads a module
// (an `exports` object), on a simulated board (host-sim: Espruino's sockets, timers and language), with code written
// as a user would write it, against aedes, with MQTT.js as the peer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { buildProfile } from "../scripts/size.mjs";
import { startAedesBroker, type TestBroker } from "./support/brokers.ts";
import { bootBundle, until, type Board } from "./support/board.ts";

/** The user's code: a dial over Espruino's net module, its clock, every option by name; each callback logs a line. */
function userCode(port: number): string {
  return `
var client = exports.createClient(function (listener) {
  var socket = require("net").connect({ host: "127.0.0.1", port: ${port} }, listener);
  socket.on("data", listener);
  socket.on("end", listener);
  return socket;
}, { now: Date.now, after: setTimeout, cancel: clearTimeout }, {
  clientId: "library-board",
  keepalive: 10,
  clean: true,
  will: { topic: "lib/availability", payload: "offline", qos: 1, retain: false },
  maxPacketSize: 1024,
  reconnectMin: 100,
  reconnectMax: 400,
  inflightMax: 2,
  queueLimit: 4,
  onConnect: function (sessionPresent) { console.log("connect " + sessionPresent); },
  onDisconnect: function (reason) { console.log("disconnect " + reason); },
  onMessage: function (topic, payload) { console.log("onMessage " + topic + " " + payload); },
  log: function (message) { console.log("log " + message); }
});
`;
}

describe("the client library bundle, as a module", () => {
  let broker: TestBroker;
  let peer: mqtt.MqttClient;
  /** What the peer received: topic and payload. */
  const seen: string[] = [];
  let board: Board | undefined;

  before(async () => {
    broker = await startAedesBroker();
    peer = await mqtt.connectAsync(broker.url, { clientId: "library-peer", reconnectPeriod: 0 });
    peer.on("message", (topic, payload) => seen.push(`${topic} ${payload.toString("latin1")}`));
    await peer.subscribeAsync("lib/#", { qos: 2 });
  });

  after(async () => {
    board?.sim.powerOff();
    await peer?.endAsync();
    await broker?.stop();
  });

  test("takes its options, Will, clock and handlers by name, and keeps its promises through a drop", async () => {
    board = bootBundle("var exports = {};\n" + (await buildProfile("client library")) + userCode(broker.port), { fileName: "library.js" });
    const { sim } = board;
    const lines = board.lines;
    const count = (line: string) => lines.filter((each) => each == line).length;
    await board.line("connect false", 0, 5000);
    sim.evaluate('client.subscribe("cmd/+", 1, function (topic, payload) { console.log("handler " + topic + " " + payload); })');
    sim.evaluate('client.subscribe("other", 0)');
    sim.evaluate('client.publish("lib/out", "exactly once", false, 2)');
    await until("the QoS 2 publish at the peer", () => seen.includes("lib/out exactly once"), 5000);
    // The SUBSCRIBEs are done once a message on the last filter gets through.
    for (let tries = 0; !lines.includes("onMessage other ping"); tries++) {
      assert.ok(tries < 50, "no message on the second subscription within 5 s");
      await peer.publishAsync("other", "ping");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await peer.publishAsync("cmd/x", "hi", { qos: 1 });
    await board.line("handler cmd/x hi", 0, 5000);

    // The network goes: the broker sends the Will; a publish meanwhile waits in the queue and goes after the reconnect.
    board.sockets.at(-1)?.destroy();
    await board.line("disconnect closed", 0, 5000);
    assert.equal(sim.evaluate("client.isConnected()"), false);
    assert.equal(sim.evaluate('client.publish("lib/queued", "kept", false, 1)'), true, "queued while offline");
    await until("the Will at the peer", () => seen.includes("lib/availability offline"), 5000);
    await until("the reconnect and the queued message", () => count("connect false") == 2 && seen.includes("lib/queued kept"), 5000, () => lines.join("\n"));

    // Subscriptions were made again on the new link; unsubscribe ends one of them.
    sim.evaluate('client.unsubscribe("other")');
    // The broker handles a client's packets in order: once this reaches the peer, the UNSUBSCRIBE has been handled.
    sim.evaluate('client.publish("lib/sync", "after unsubscribe", false, 1)');
    await until("the publish after the UNSUBSCRIBE", () => seen.includes("lib/sync after unsubscribe"), 5000);
    await peer.publishAsync("other", "after unsubscribe");
    await peer.publishAsync("cmd/y", "again", { qos: 1 });
    await board.line("handler cmd/y again", 0, 5000);
    assert.ok(!lines.includes("onMessage other after unsubscribe"), "no message after unsubscribe");
    assert.equal(sim.evaluate("client.dropped()"), 0);

    // stop() disconnects cleanly: no Will, no more reconnects.
    const willsBefore = seen.filter((line) => line == "lib/availability offline").length;
    sim.evaluate("client.stop()");
    assert.equal(sim.evaluate("client.isConnected()"), false);
    await peer.publishAsync("lib/marker", "end", { qos: 1 });
    await until("the marker", () => seen.includes("lib/marker end"), 5000);
    assert.equal(seen.filter((line) => line == "lib/availability offline").length, willsBefore, "no Will after stop()");
    assert.ok(lines.includes("log MQTT: stopped"), lines.join("\n"));
    assert.deepEqual(board.uncaught, []);
    assert.equal(sim.timerCount(), 0, "no timer left after stop()");
  });
});
