// The session's reliability features at the byte level: QoS 1 and 2 both ways, re-sends with DUP after a
// reconnect, the in-flight window, the offline queue and its drop policy, dispatch by topic filter, unsubscribe,
// clean session and session present.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { topicMatches } from "../firmware/mqtt/topic.ts";
import { accept, connack, logIncludes, start, u16, varint, type Harness } from "./support/client-harness.ts";

const chr = String.fromCharCode;

/** A PUBLISH as the broker sends it, with its QoS, packet id and flags. */
function brokerPublish(topic: string, payload: string, qos: number, id: number, dup = false): string {
  const body = u16(topic.length) + topic + (qos ? u16(id) : "") + payload; // topic, packet id (QoS > 0), payload
  return chr(0x30 | (dup ? 8 : 0) | (qos << 1)) + varint(body.length) + body; // PUBLISH with DUP and QoS flags
}

const puback = (id: number) => "\x40\x02" + u16(id); // PUBACK, length 2, packet id
const pubrec = (id: number) => "\x50\x02" + u16(id); // PUBREC, length 2, packet id
const pubrel = (id: number) => "\x62\x02" + u16(id); // PUBREL, flags 0010, length 2, packet id
const pubcomp = (id: number) => "\x70\x02" + u16(id); // PUBCOMP, length 2, packet id

/** The header our client writes for a PUBLISH of `payloadLength` bytes (written separately). */
function publishHeader(topic: string, payloadLength: number, qos: number, id: number, flags: { dup?: boolean; retain?: boolean } = {}): string {
  const variable = u16(topic.length) + topic + (qos ? u16(id) : ""); // topic, packet id
  return chr(0x30 | (flags.dup ? 8 : 0) | (qos << 1) | (flags.retain ? 1 : 0)) + varint(variable.length + payloadLength) + variable;
}

/** What the newest connection wrote after its CONNECT. */
function writesAfterConnect(h: Harness): string[] {
  const writes = h.latest().writes;
  assert.equal(writes[0]?.charCodeAt(0), 0x10, "CONNECT first");
  return writes.slice(1);
}

/** The link drops; the clock moves past the backoff (Math.random mocked to 0) and the broker accepts again. */
function reconnect(h: Harness, sessionPresent = false) {
  h.latest().events.closed();
  h.clock.advance(60000);
  return accept(h, sessionPresent);
}

describe("QoS 1 publish", () => {
  test("is written with a packet id, stays in flight until PUBACK, and is re-sent with DUP after a reconnect", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    const first = accept(h);
    assert.equal(h.client.publish("led/state", "on", true, 1), true);
    assert.deepEqual(writesAfterConnect(h), [publishHeader("led/state", 2, 1, 1, { retain: true }), "on"]);
    reconnect(h);
    assert.deepEqual(writesAfterConnect(h), [publishHeader("led/state", 2, 1, 1, { retain: true, dup: true }), "on"]);
    h.latest().events.received(puback(1));
    reconnect(h);
    assert.deepEqual(writesAfterConnect(h), [], "acknowledged: nothing to re-send");
    assert.equal(first.closeCalls, 1, "the first link was closed by the drop");
  });

  test("a PUBACK for an unknown id changes nothing", () => {
    const h = start();
    accept(h);
    h.client.publish("a", "1", false, 1);
    h.latest().events.received(puback(99));
    assert.equal(h.client.isConnected(), true);
  });

  test("the in-flight window (2 here) holds the third message until a PUBACK frees a place", () => {
    const h = start({ inflightMax: 2, queueLimit: 5 });
    const connection = accept(h);
    h.client.publish("a", "1", false, 1);
    h.client.publish("a", "2", false, 1);
    assert.equal(h.client.publish("a", "3", false, 1), true, "queued");
    assert.deepEqual(connection.writes.slice(1), [publishHeader("a", 1, 1, 1), "1", publishHeader("a", 1, 1, 2), "2"]);
    connection.events.received(puback(1));
    assert.deepEqual(connection.writes.slice(5), [publishHeader("a", 1, 1, 3), "3"]);
  });

  test("with a full window and no queue, publish refuses (returns false)", () => {
    const h = start({ inflightMax: 1 });
    accept(h);
    assert.equal(h.client.publish("a", "1", false, 1), true);
    assert.equal(h.client.publish("a", "2", false, 1), false);
  });
});

describe("QoS 2 publish", () => {
  test("PUBLISH, PUBREC -> PUBREL, PUBCOMP ends it; after a reconnect mid-way PUBREL (not the PUBLISH) is re-sent", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    const connection = accept(h);
    h.client.publish("t", "x", false, 2);
    assert.deepEqual(connection.writes.slice(1), [publishHeader("t", 1, 2, 1), "x"]);
    connection.events.received(pubrec(1));
    assert.deepEqual(connection.writes.slice(3), [pubrel(1)]);
    reconnect(h);
    assert.deepEqual(writesAfterConnect(h), [pubrel(1)], "PUBREL again, never the message twice");
    h.latest().events.received(pubcomp(1));
    reconnect(h);
    assert.deepEqual(writesAfterConnect(h), []);
  });

  test("dropped before PUBREC: the PUBLISH is re-sent with DUP", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    accept(h);
    h.client.publish("t", "x", false, 2);
    reconnect(h);
    assert.deepEqual(writesAfterConnect(h), [publishHeader("t", 1, 2, 1, { dup: true }), "x"]);
  });

  test("a PUBREC for an unknown id is still answered with PUBREL", () => {
    const h = start();
    const connection = accept(h);
    connection.events.received(pubrec(77));
    assert.deepEqual(connection.writes.slice(1), [pubrel(77)]);
  });
});

describe("inbound QoS 1 and 2", () => {
  test("QoS 1 is acknowledged with PUBACK and delivered", () => {
    const h = start();
    const connection = accept(h);
    connection.events.received(brokerPublish("led", "on", 1, 0x1234));
    assert.deepEqual(connection.writes.slice(1), [puback(0x1234)]);
    assert.deepEqual(h.messages, [["led", "on"]]);
  });

  test("QoS 2 is delivered exactly once even when the broker re-sends it before PUBREL", () => {
    const h = start();
    const connection = accept(h);
    connection.events.received(brokerPublish("led", "toggle", 2, 5));
    connection.events.received(brokerPublish("led", "toggle", 2, 5, true)); // re-sent with DUP
    assert.deepEqual(h.messages, [["led", "toggle"]], "one toggle, not two");
    connection.events.received(pubrel(5));
    assert.deepEqual(connection.writes.slice(1), [pubrec(5), pubrec(5), pubcomp(5)]);
    connection.events.received(brokerPublish("led", "toggle", 2, 5)); // id 5 reused for a new message
    assert.deepEqual(h.messages, [["led", "toggle"], ["led", "toggle"]]);
  });

  test("after a reconnect with the session kept, a re-sent QoS 2 message is still not delivered twice", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start({ clean: false });
    accept(h);
    h.latest().events.received(brokerPublish("led", "toggle", 2, 9));
    reconnect(h, true);
    h.latest().events.received(brokerPublish("led", "toggle", 2, 9, true));
    assert.equal(h.messages.length, 1);
    assert.deepEqual(writesAfterConnect(h), [pubrec(9)]);
  });

  // The ids awaiting PUBREL are held as a run of consecutive ids plus any others apart: these check that it answers
  // as the plain set of ids it stands for, whatever the order of the ids and of their PUBRELs.
  test("hundreds of QoS 2 messages ahead of their PUBRELs (numbered in turn, as Mosquitto does): each delivered once, released in order", () => {
    const h = start();
    const connection = accept(h);
    for (let id = 1000; id < 1600; id++) connection.events.received(brokerPublish("led", "m" + id, 2, id));
    for (let id = 1000; id < 1600; id += 7) connection.events.received(brokerPublish("led", "again", 2, id, true));
    assert.equal(h.messages.length, 600, "600 delivered, no re-send among them");
    for (let id = 1000; id < 1300; id++) connection.events.received(pubrel(id));
    connection.events.received(brokerPublish("led", "new", 2, 1299)); // released: a new message
    connection.events.received(brokerPublish("led", "again", 2, 1300, true)); // not released yet: the same one
    connection.events.received(brokerPublish("led", "again", 2, 1599, true));
    assert.deepEqual(h.messages.slice(600), [["led", "new"]]);
    for (let id = 1300; id < 1600; id++) connection.events.received(pubrel(id));
    for (const id of [1000, 1300, 1599]) connection.events.received(brokerPublish("led", "new " + id, 2, id));
    assert.deepEqual(h.messages.slice(601), [["led", "new 1000"], ["led", "new 1300"], ["led", "new 1599"]]);
    assert.equal(connection.writes.filter((w) => w.startsWith("\x70")).length, 600, "a PUBCOMP for each PUBREL");
  });

  test("a PUBREL out of order, a gap in the ids and their wrap past 65,535 release exactly the ids they name", () => {
    const h = start();
    const connection = accept(h);
    const send = (id: number, dup = false) => connection.events.received(brokerPublish("led", String(id), 2, id, dup));
    for (const id of [10, 11, 12, 13, 14, 20, 21, 65534, 65535, 1, 2]) send(id);
    assert.equal(h.messages.length, 11);
    connection.events.received(pubrel(12)); // the middle of the run 10-14
    connection.events.received(pubrel(65535));
    for (const id of [10, 11, 13, 14, 20, 21, 65534, 1, 2]) send(id, true); // all still awaited: none delivered
    assert.equal(h.messages.length, 11);
    send(12);
    send(65535);
    assert.deepEqual(h.messages.slice(11), [["led", "12"], ["led", "65535"]], "the released ids are new messages");
    for (const id of [12, 65535, 10, 11, 13, 14, 20, 21, 65534, 1, 2]) connection.events.received(pubrel(id));
    for (const id of [10, 11, 13, 14, 20, 21, 65534, 1, 2]) send(id);
    assert.equal(h.messages.length, 22, "every id released");
  });

  test("a new clean session forgets the ids awaited, run and others; a kept session keeps them", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start({ clean: false });
    accept(h);
    for (const id of [1, 2, 3, 7]) h.latest().events.received(brokerPublish("led", "x", 2, id));
    reconnect(h, true); // the broker kept the session: re-sends are still the same messages
    for (const id of [1, 2, 3, 7]) h.latest().events.received(brokerPublish("led", "x", 2, id, true));
    assert.equal(h.messages.length, 4);
    reconnect(h, false); // the broker lost it: the same ids are new messages
    for (const id of [1, 2, 3, 7]) h.latest().events.received(brokerPublish("led", "y", 2, id));
    assert.equal(h.messages.length, 8);
  });

  test("against a plain set of ids, over random PUBLISHes (new or re-sent) and PUBRELs: delivered exactly when not awaited", () => {
    // A fixed pseudo-random sequence (no seed to pick): ids mostly in turn, as brokers number them, with jumps.
    let seed = 20240614;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const h = start();
    const connection = accept(h);
    const awaited = new Set<number>();
    let next = 65500;
    let expected = 0;
    for (let step = 0; step < 20000; step++) {
      const roll = random(10);
      if (roll < 5) {
        // A new PUBLISH: the next id in turn, sometimes after a jump; ids still awaited are never reused by a broker.
        next = random(8) ? next % 65535 + 1 : random(65535) + 1;
        if (awaited.has(next)) continue;
        awaited.add(next);
        expected++;
        connection.events.received(brokerPublish("led", "n", 2, next));
      } else if (roll < 7 && awaited.size) {
        // A re-sent PUBLISH of an id still awaited: never delivered again.
        const ids = [...awaited];
        connection.events.received(brokerPublish("led", "d", 2, ids[random(ids.length)]!, true));
      } else if (awaited.size) {
        // A PUBREL, mostly for the oldest id awaited, sometimes for another, now and then for one never seen.
        const ids = [...awaited];
        const id = random(4) ? ids[0]! : random(10) ? ids[random(ids.length)]! : random(65535) + 1;
        awaited.delete(id);
        connection.events.received(pubrel(id));
      }
      assert.equal(h.messages.length, expected, `step ${step}`);
    }
  });
});

describe("offline queue", () => {
  test("publishes made while disconnected are sent after the reconnect, in order", () => {
    const h = start({ queueLimit: 10 });
    h.client.publish("q", "1", false, 0);
    h.client.publish("q", "2", false, 1);
    h.client.publish("q", "3", false, 0);
    const connection = accept(h);
    assert.deepEqual(connection.writes.slice(1), [publishHeader("q", 1, 0, 0), "1", publishHeader("q", 1, 1, 1), "2", publishHeader("q", 1, 0, 0), "3"]);
  });

  test("when full, the oldest QoS 0 message is dropped first; with none left to drop the new one is refused; each drop logged and counted", () => {
    const h = start({ queueLimit: 3 });
    h.client.publish("q", "a0", false, 0);
    h.client.publish("q", "b1", false, 1);
    h.client.publish("q", "c0", false, 0);
    assert.equal(h.client.publish("q", "d1", false, 1), true); // drops a0
    assert.equal(h.client.publish("q", "e1", false, 1), true); // drops c0
    assert.equal(h.client.publish("q", "f1", false, 1), false); // all QoS 1: refused
    assert.equal(h.client.dropped!(), 3);
    assert.ok(logIncludes(h, "dropped the oldest QoS 0 publish"), h.log.join("\n"));
    assert.ok(logIncludes(h, "refused a publish to q (3 dropped so far)"), h.log.join("\n"));
    const connection = accept(h);
    const payloads = connection.writes.filter((w, i) => i > 0 && !w.startsWith("\x32"));
    assert.deepEqual(payloads, ["b1", "d1", "e1"]);
  });

  test("without a queue, a publish while disconnected returns false and nothing is sent later", () => {
    const h = start();
    assert.equal(h.client.publish("q", "1", false, 1), false);
    const connection = accept(h);
    assert.deepEqual(connection.writes.slice(1), []);
  });
});

describe("subscriptions", () => {
  test("each filter's handler gets what matches it; the rest goes to onMessage", () => {
    const h = start();
    const seen: string[] = [];
    h.client.subscribe("home/+/light", 0, (topic, payload) => seen.push(`plus ${topic}=${payload}`));
    h.client.subscribe("home/#", 0, (topic) => seen.push(`hash ${topic}`));
    h.client.subscribe("other", 0);
    const connection = accept(h);
    connection.events.received(brokerPublish("home/desk/light", "on", 0, 0) + brokerPublish("home", "x", 0, 0) + brokerPublish("other", "y", 0, 0));
    assert.deepEqual(seen, ["plus home/desk/light=on", "hash home/desk/light", "hash home"]);
    assert.deepEqual(h.messages, [["other", "y"]]);
  });

  test("in a build without MQTT_LIBRARY (the LED firmware), every message goes to onMessage", (t) => {
    const switches = globalThis as unknown as { MQTT_LIBRARY: boolean };
    switches.MQTT_LIBRARY = false;
    t.after(() => (switches.MQTT_LIBRARY = true));
    const h = start({ reconnectMin: 200, inflightMax: 1 });
    const seen: string[] = [];
    h.client.subscribe("led", 0, (topic) => seen.push(topic));
    const connection = accept(h);
    connection.events.received(brokerPublish("led", "on", 0, 0) + brokerPublish("other", "y", 0, 0));
    assert.deepEqual(seen, [], "the handler is not read");
    assert.deepEqual(h.messages, [["led", "on"], ["other", "y"]]);
    // Nor are the other options only the library's callers use: inflightMax (the default window, 4, here)...
    assert.equal(h.client.publish("a", "x", false, 1), true);
    assert.equal(h.client.publish("b", "x", false, 1), true, "a second QoS 1 message goes out: the window is 4, not 1");
    assert.equal(connection.writes.filter((bytes) => bytes.charCodeAt(0) == 0x32).length, 2, "two QoS 1 PUBLISH headers");
    // ...onDisconnect and reconnectMin (the default first step, 1 s, with the jitter at its top).
    t.mock.method(Math, "random", () => 1);
    connection.events.closed();
    assert.deepEqual(h.disconnects, [], "onDisconnect is not called");
    assert.ok(logIncludes(h, "MQTT: closed; retry in 1.0 s"), h.log.join("\n"));
    assert.equal(h.client.unsubscribe, undefined);
    assert.equal(h.client.dropped, undefined);
  });

  test("filters are subscribed with their QoS, and re-sent in one SUBSCRIBE after every reconnect", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    h.client.subscribe("led", 1);
    h.client.subscribe("cfg/#", 2);
    const expected = (id: number) =>
      "\x82\x10" + u16(id) + // SUBSCRIBE, length 16, packet id
      "\x00\x03led\x01" + // "led" at QoS 1
      "\x00\x05cfg/#\x02"; // "cfg/#" at QoS 2
    assert.deepEqual(writesAfterConnect({ ...h, latest: () => accept(h) }), [expected(1)]);
    assert.deepEqual(writesAfterConnect({ ...h, latest: () => reconnect(h) }), [expected(2)]);
  });

  test("clean session off and a session present: no SUBSCRIBE (the broker kept them); no session present: SUBSCRIBE", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start({ clean: false });
    h.client.subscribe("led");
    const first = h.latest();
    first.events.opened();
    assert.equal(first.writes[0]?.charCodeAt(9), 0x00, "CONNECT flags: clean session off");
    first.events.received(connack(0, false));
    assert.equal(first.writes.length, 2, "no session: SUBSCRIBE sent");
    const second = reconnect(h, true);
    assert.equal(second.writes.length, 1, "session present: only CONNECT");
    assert.deepEqual(h.connects, [false, true]);
    assert.ok(logIncludes(h, "MQTT connected (session present)"));
  });

  test("unsubscribe sends UNSUBSCRIBE, and the filter is not re-subscribed after a reconnect", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    h.client.subscribe("a");
    h.client.subscribe("b");
    const connection = accept(h);
    h.client.unsubscribe!("a");
    assert.equal(connection.writes[2], "\xa2\x05" + u16(2) + "\x00\x01a"); // UNSUBSCRIBE, length 5, id 2, "a"
    h.client.unsubscribe!("not subscribed");
    assert.equal(connection.writes.length, 3);
    assert.deepEqual(writesAfterConnect({ ...h, latest: () => reconnect(h) }), ["\x82\x06" + u16(3) + "\x00\x01b\x00"]);
  });
});

describe("topic filters [4.7]", () => {
  const cases: Array<[string, string, boolean]> = [
    ["led", "led", true],
    ["led", "led/state", false],
    ["led/+", "led/state", true],
    ["led/+", "led", false],
    ["+/+", "a/b", true],
    ["+", "", true],
    ["a/#", "a", true], // # also matches the parent level
    ["a/#", "a/b/c", true],
    ["#", "anything/at/all", true],
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a/b/d", false],
    ["#", "$SYS/broker", false], // wildcards at the start do not match $ topics
    ["+/broker", "$SYS/broker", false],
    ["$SYS/#", "$SYS/broker", true],
    ["a/+", "a/b/c", false],
    ["a/b", "a", false],
    ["a/+/+", "a/b", false],
    ["a/b/#", "a", false],
    ["a", "a/", false],
    ["a/", "a/", true],
    ["a/+", "a/", true], // an empty level is a level
    ["+/#", "$a/b", false],
  ];
  for (const [filter, topic, expected] of cases) {
    test(`${JSON.stringify(filter)} ${expected ? "matches" : "does not match"} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});
