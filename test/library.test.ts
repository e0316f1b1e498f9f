// The client library as `npm run size` measures it (scripts/size-entries/client-library.ts, every feature on) is a
// module that works when called by name from code built apart from it: its bundle, loaded as Espruino loads a module
// (an `exports` object), driven through its API against aedes, with MQTT.js as the peer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { runInNewContext } from "node:vm";
import mqtt from "mqtt";
import { buildProfile } from "../scripts/size.mjs";
import { startAedesBroker, type TestBroker } from "./support/brokers.ts";
import { until } from "./support/board.ts";
import type { Client, ClientOptions, Clock, Dial, LinkListener } from "../firmware/mqtt/client.ts";

describe("the client library bundle, as a module", () => {
  let broker: TestBroker;
  let peer: mqtt.MqttClient;
  /** What the peer received: topic and payload. */
  const seen: string[] = [];
  /** The board's side of the current link, to cut it as a dropped network would. */
  let socket: Socket | undefined;
  let createClient: (dial: Dial, clock: Clock, options: ClientOptions) => Client;
  let client: Client | undefined;

  before(async () => {
    const exports = {} as { createClient: typeof createClient };
    runInNewContext(await buildProfile("client library"), { exports, E: {} });
    createClient = exports.createClient;
    broker = await startAedesBroker();
    peer = await mqtt.connectAsync(broker.url, { clientId: "library-peer", reconnectPeriod: 0 });
    peer.on("message", (topic, payload) => seen.push(`${topic} ${payload.toString("latin1")}`));
    await peer.subscribeAsync("lib/#", { qos: 2 });
  });

  after(async () => {
    client?.stop();
    socket?.destroy();
    await peer?.endAsync();
    await broker?.stop();
  });

  /** A link over a loopback socket, reporting as an Espruino socket does: the socket, binary strings, then nothing. */
  const dial: Dial = (listener: LinkListener) => {
    const opened = netConnect(broker.port, "127.0.0.1");
    socket = opened;
    opened.setEncoding("latin1");
    opened.on("connect", () => listener(opened));
    opened.on("data", (chunk: string) => listener(chunk));
    opened.on("close", () => listener());
    opened.on("error", () => {});
    return { write: (bytes: string) => void opened.write(bytes, "latin1"), end: () => void opened.end() };
  };

  test("takes its options, Will, clock and handlers by name, and keeps its promises through a drop", async () => {
    const events: string[] = [];
    const logs: string[] = [];
    client = createClient(dial, { now: Date.now, after: (callback, ms) => setTimeout(callback, ms) as unknown as number, cancel: (id) => clearTimeout(id) }, {
      clientId: "library-board",
      keepalive: 10,
      clean: true,
      will: { topic: "lib/availability", payload: "offline", qos: 1, retain: false },
      maxPacketSize: 1024,
      reconnectMin: 100,
      reconnectMax: 400,
      inflightMax: 2,
      queueLimit: 4,
      onConnect: (sessionPresent) => events.push(`connect ${sessionPresent}`),
      onDisconnect: (reason) => events.push(`disconnect ${reason}`),
      onMessage: (topic, payload) => events.push(`onMessage ${topic} ${payload}`),
      log: (message) => logs.push(message),
    });
    await until("the first CONNACK", () => events.includes("connect false"), 5000, () => logs.join("\n"));
    client.subscribe("cmd/+", 1, (topic, payload) => events.push(`handler ${topic} ${payload}`));
    client.subscribe("other", 0);
    client.publish("lib/out", "exactly once", false, 2);
    await until("the QoS 2 publish at the peer", () => seen.includes("lib/out exactly once"), 5000);
    // The SUBSCRIBEs are done once a message on the last filter gets through.
    for (let tries = 0; !events.includes("onMessage other ping"); tries++) {
      assert.ok(tries < 50, "no message on the second subscription within 5 s");
      await peer.publishAsync("other", "ping");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await peer.publishAsync("cmd/x", "hi", { qos: 1 });
    await until("the subscription's own handler", () => events.includes("handler cmd/x hi"), 5000);

    // The network goes: the broker sends the Will; a publish meanwhile waits in the queue and goes after the reconnect.
    socket?.destroy();
    await until("the drop", () => events.includes("disconnect closed"), 5000, () => logs.join("\n"));
    assert.equal(client.isConnected(), false);
    assert.equal(client.publish("lib/queued", "kept", false, 1), true, "queued while offline");
    await until("the Will at the peer", () => seen.includes("lib/availability offline"), 5000);
    await until("the reconnect and the queued message", () => events.filter((e) => e == "connect false").length == 2 && seen.includes("lib/queued kept"), 5000, () => logs.join("\n"));

    // Subscriptions were made again on the new link; unsubscribe ends one of them.
    client.unsubscribe?.("other");
    // The broker handles a client's packets in order: once this reaches the peer, the UNSUBSCRIBE has been handled.
    client.publish("lib/sync", "after unsubscribe", false, 1);
    await until("the publish after the UNSUBSCRIBE", () => seen.includes("lib/sync after unsubscribe"), 5000);
    await peer.publishAsync("other", "after unsubscribe");
    await peer.publishAsync("cmd/y", "again", { qos: 1 });
    await until("the handler on the new link", () => events.includes("handler cmd/y again"), 5000);
    assert.ok(!events.includes("onMessage other after unsubscribe"), "no message after unsubscribe");
    assert.equal(client.dropped?.(), 0);

    // stop() disconnects cleanly: no Will, no more reconnects.
    const willsBefore = seen.filter((line) => line == "lib/availability offline").length;
    client.stop();
    assert.equal(client.isConnected(), false);
    await peer.publishAsync("lib/marker", "end", { qos: 1 });
    await until("the marker", () => seen.includes("lib/marker end"), 5000);
    assert.equal(seen.filter((line) => line == "lib/availability offline").length, willsBefore, "no Will after stop()");
    assert.ok(logs.includes("MQTT: stopped"), logs.join("\n"));
    client = undefined;
  });
});
