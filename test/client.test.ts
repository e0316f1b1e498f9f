// The MQTT session against a scripted broker at the byte level: a fake transport that records every write and lets
// the test play the broker, and a fake clock whose timers fire only when the test advances it. No sockets, no sleeps.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { Client } from "../firmware/mqtt/client.ts";
import {
  CONNECT_PLAIN,
  DEFAULTS,
  DISCONNECT,
  FakeBroker,
  FakeClock,
  FakeConnection,
  FakeTimer,
  Harness,
  PINGREQ,
  PINGRESP,
  accept,
  assertNextDialAfter,
  chr,
  connack,
  createFakeBroker,
  createFakeClock,
  logIncludes,
  onlyPendingDelay,
  publish,
  start,
  suback,
  subscribeLedAndHome,
  u16,
  varint,
} from "./support/client-harness.ts";
describe("CONNECT", () => {
  test("nothing is written until the link opens, then exactly one CONNECT", () => {
    const h = start();
    assert.equal(h.broker.dialTimes.length, 1, "dials at once");
    assert.deepEqual(h.latest().writes, []);
    h.latest().events.opened();
    assert.deepEqual(h.latest().writes, [CONNECT_PLAIN]);
  });

  test("CONNECT carries the Will (topic, payload, retain) and the user name and password", () => {
    const h = start({
      will: { topic: "led/availability", payload: "offline", qos: 0, retain: true },
      username: "user",
      password: "pw",
    });
    h.latest().events.opened();
    const expected =
      "\x10" + // CONNECT (type 1), flags 0
      "\x35" + // remaining length 53 = 10 + 6 (id) + 18 (Will topic) + 9 (Will payload) + 6 (user) + 4 (password)
      "\x00\x04" + // protocol name length 4
      "MQTT" + // protocol name
      "\x04" + // protocol level 4 (3.1.1)
      "\xe6" + // flags: user name 0x80 | password 0x40 | Will retain 0x20 | Will QoS 0 | Will 0x04 | clean 0x02
      "\x00\x0a" + // keepalive 10 s
      "\x00\x04" + // client id length 4
      "led1" + // client id
      "\x00\x10" + // Will topic length 16
      "led/availability" + // Will topic
      "\x00\x07" + // Will payload length 7
      "offline" + // Will payload
      "\x00\x04" + // user name length 4
      "user" + // user name
      "\x00\x02" + // password length 2
      "pw"; // password
    assert.deepEqual(h.latest().writes, [expected]);
  });
});

describe("CONNACK accepted", () => {
  test("onConnect is called, one SUBSCRIBE for every filter (packet id 1) is written first, log says connected", () => {
    const h = start();
    h.client.subscribe("led");
    h.client.subscribe("home/#");
    assert.equal(h.client.isConnected(), false);
    const connection = accept(h, true);
    assert.equal(h.client.isConnected(), true);
    assert.deepEqual(h.connects, [true], "onConnect once, with session present");
    assert.deepEqual(connection.writes, [CONNECT_PLAIN, subscribeLedAndHome(1)]);
    assert.ok(logIncludes(h, "connected"), h.log.join("\n"));
    assert.deepEqual(h.clock.pending().map((t) => t.due), [10000], "only the keepalive timer is left");
  });

  test("no SUBSCRIBE is written when there are no filters", () => {
    const h = start();
    const connection = accept(h);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN]);
    assert.deepEqual(h.connects, [false]);
  });

  test("the SUBSCRIBE goes out before anything onConnect publishes", () => {
    let client: Client | null = null;
    const h = start({
      onConnect() {
        client?.publish("led/state", "on", true);
      },
    });
    client = h.client;
    h.client.subscribe("led");
    const connection = accept(h);
    assert.deepEqual(connection.writes.slice(1), [
      "\x82\x08\x00\x01\x00\x03led\x00", // SUBSCRIBE, length 8, id 1, "led" QoS 0
      "\x31\x0d\x00\x09led/state", // PUBLISH retain, length 13, topic "led/state"
      "on",
    ]);
  });

  test("subscribe() while connected sends a SUBSCRIBE for that filter at once", () => {
    const h = start();
    h.client.subscribe("led");
    const connection = accept(h);
    h.client.subscribe("extra");
    assert.equal(
      connection.writes[2],
      "\x82" + // SUBSCRIBE (type 8), flags 2
        "\x0a" + // remaining length 10 = 2 (id) + 2 + 5 ("extra") + 1 (QoS)
        "\x00\x02" + // packet id 2
        "\x00\x05" + // filter length 5
        "extra" + // filter
        "\x00", // requested QoS 0
    );
    assert.equal(connection.writes.length, 3);
  });

  test("a SUBACK refusal is logged with the filter it refused", () => {
    const h = start();
    h.client.subscribe("led");
    h.client.subscribe("home/#");
    const connection = accept(h);
    connection.events.received(suback(1, [0x00, 0x80]));
    assert.ok(logIncludes(h, "subscription refused: home/#"), h.log.join("\n"));
    assert.ok(!logIncludes(h, "subscription refused: led"), h.log.join("\n"));
    assert.equal(h.client.isConnected(), true);
  });

  test(
    "a SUBACK refusal for a filter subscribed after connecting names that filter",
    () => {
      const h = start();
      h.client.subscribe("led");
      const connection = accept(h);
      h.client.subscribe("extra"); // packet id 2, one filter
      connection.events.received(suback(1, [0x00]));
      connection.events.received(suback(2, [0x80]));
      assert.ok(logIncludes(h, "subscription refused: extra"), h.log.join("\n"));
      assert.ok(!logIncludes(h, "subscription refused: led"), h.log.join("\n"));
    },
  );
});

describe("CONNACK refused", () => {
  const meanings: Array<[code: number, meaning: string]> = [
    [1, "unacceptable protocol version"],
    [2, "identifier rejected"],
    [3, "server unavailable"],
    [4, "bad user name or password"],
    [5, "not authorized"],
  ];
  for (const [code, meaning] of meanings) {
    test(`code ${code}: logs "${meaning}", closes, no onConnect, reconnect scheduled`, () => {
      const h = start();
      const connection = h.latest();
      connection.events.opened();
      connection.events.received(connack(code));
      assert.ok(logIncludes(h, meaning), h.log.join("\n"));
      assert.equal(connection.closeCalls, 1);
      assert.deepEqual(h.connects, []);
      assert.deepEqual(h.disconnects, [], "a connection never accepted is not reported as lost");
      assert.equal(h.client.isConnected(), false);
      assert.equal(h.broker.dialTimes.length, 1, "no immediate redial");
      const delay = onlyPendingDelay(h);
      assert.ok(delay >= 500 && delay <= 1000, `first delay ${delay} within [500, 1000]`);
    });
  }

  test("the next dial comes only after the backoff (Math.random = 0: half the step)", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    h.latest().events.opened();
    h.latest().events.received(connack(4));
    assertNextDialAfter(h, 500);
    assert.equal(h.broker.connections.length, 2);
  });

  test("the next dial comes only after the backoff (Math.random near 1: the whole step)", (t) => {
    t.mock.method(Math, "random", () => 0.9999999);
    const h = start();
    h.latest().events.opened();
    h.latest().events.received(connack(4));
    assertNextDialAfter(h, 1000);
  });

  /** Refuses `count` connections in a row and returns the delay before each next dial. */
  function delaysOverRefusals(h: Harness, count: number): number[] {
    const delays: number[] = [];
    for (let n = 0; n < count; n++) {
      const connection = h.latest();
      connection.events.opened();
      connection.events.received(connack(3));
      assert.equal(connection.closeCalls, 1);
      const delay = onlyPendingDelay(h);
      delays.push(delay);
      assertNextDialAfter(h, delay);
    }
    return delays;
  }

  /** attempt n's delay is within [0.5, 1] x min(reconnectMax, reconnectMin * 2^n). */
  function assertWithinBounds(delays: number[]): void {
    delays.forEach((delay, n) => {
      const step = Math.min(DEFAULTS.reconnectMax, DEFAULTS.reconnectMin * 2 ** n);
      assert.ok(delay >= step / 2 && delay <= step, `attempt ${n}: ${delay} ms within [${step / 2}, ${step}]`);
      assert.ok(delay <= DEFAULTS.reconnectMax, `attempt ${n}: ${delay} ms <= reconnectMax`);
    });
  }

  for (const random of [0, 0.5, 0.9999999]) {
    test(`delays double up to reconnectMax over consecutive refusals (Math.random = ${random})`, (t) => {
      t.mock.method(Math, "random", () => random);
      const h = start();
      const delays = delaysOverRefusals(h, 7);
      assertWithinBounds(delays);
      // Steps 1, 2, 4, 8, 8, 8, 8 s: strictly growing until the cap, then flat at it.
      for (let n = 1; n < 4; n++) assert.ok(delays[n]! > delays[n - 1]!, `delay ${n} grows: ${delays}`);
      assert.equal(new Set(delays.slice(3)).size, 1, `flat at the cap: ${delays}`);
    });
  }

  test("delays stay within bounds with the real Math.random", () => {
    const h = start();
    assertWithinBounds(delaysOverRefusals(h, 10));
  });

  test("a connection that stayed up 10 s resets the backoff", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    delaysOverRefusals(h, 3); // 500, 1000, 2000
    accept(h);
    h.clock.advance(10000);
    h.latest().events.received(PINGRESP);
    h.latest().events.closed();
    assert.equal(onlyPendingDelay(h), 500);
  });

  test("a connection lost right after its CONNACK does not reset the backoff (no storm against a broker that kicks us)", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    delaysOverRefusals(h, 3); // 500, 1000, 2000
    accept(h);
    h.clock.advance(9999);
    h.latest().events.closed();
    assert.equal(onlyPendingDelay(h), 4000);
  });
});

describe("keepalive", () => {
  test("with no traffic, exactly one PINGREQ at 10 s, not before", () => {
    const h = start();
    const connection = accept(h);
    h.clock.advance(9999);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN]);
    h.clock.advance(1);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN, PINGREQ]);
  });

  test("a PINGRESP keeps the link, and the next PINGREQ follows 10 s after the first", () => {
    const h = start();
    const connection = accept(h);
    h.clock.advance(10000);
    h.clock.advance(200);
    connection.events.received(PINGRESP);
    h.clock.advance(9799); // t = 19999
    assert.equal(connection.closeCalls, 0);
    assert.equal(h.client.isConnected(), true);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN, PINGREQ]);
    h.clock.advance(1); // t = 20000
    assert.deepEqual(connection.writes, [CONNECT_PLAIN, PINGREQ, PINGREQ]);
  });

  test("no answer within 5 s of the PINGREQ closes the link and schedules a reconnect", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    const connection = accept(h);
    h.clock.advance(10000 + 4999);
    assert.equal(connection.closeCalls, 0, "still waiting at 14.999 s");
    h.clock.advance(1);
    assert.equal(connection.closeCalls, 1, "closed at 15 s");
    assert.ok(logIncludes(h, "MQTT: no PINGRESP; retry in"), h.log.join("\n"));
    assert.equal(h.disconnects.length, 1);
    assert.equal(h.disconnects[0], "no PINGRESP");
    assert.equal(h.client.isConnected(), false);
    assertNextDialAfter(h, 500);
  });

  test("a publish at 6 s delays the PINGREQ to 16 s", () => {
    const h = start();
    const connection = accept(h);
    h.clock.advance(6000);
    assert.equal(h.client.publish("led/state", "on", true), true);
    const afterPublish = connection.writes.length;
    h.clock.advance(9999); // t = 15999
    assert.equal(connection.writes.length, afterPublish, "no PINGREQ at 10 s");
    h.clock.advance(1); // t = 16000
    assert.deepEqual(connection.writes.slice(afterPublish), [PINGREQ]);
  });

  test(
    "a slow CONNACK does not stretch the interval between CONNECT and the first PINGREQ past the keepalive",
    () => {
      const h = start();
      const connection = h.latest();
      connection.events.opened(); // CONNECT written at t = 0
      h.clock.advance(6000);
      connection.events.received(connack(0)); // no filters: nothing else is sent
      h.clock.advance(4000); // t = 10 s: 10 s since the CONNECT
      assert.deepEqual(connection.writes, [CONNECT_PLAIN, PINGREQ]);
    },
  );

  test("keepalive 0 sends no PINGREQ however long the link is idle", () => {
    const h = start({ keepalive: 0 });
    const connection = accept(h);
    h.clock.advance(3_600_000);
    assert.equal(connection.writes.length, 1);
    assert.deepEqual(h.clock.pending(), []);
  });
});

describe("reconnect after the link closes", () => {
  test("redials after the backoff, CONNECTs again and re-sends one SUBSCRIBE for every filter", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    h.client.subscribe("led");
    h.client.subscribe("home/#");
    const first = accept(h);
    first.events.closed();
    assert.equal(h.client.isConnected(), false);
    assert.equal(h.disconnects.length, 1, "onDisconnect once");
    assert.ok(h.disconnects[0]!.length > 0, "with a reason");
    assert.ok(h.log.some((line) => line.startsWith("MQTT: " + h.disconnects[0] + "; retry in ")), "and logged, as the connect is: " + h.log.join("\n"));
    assertNextDialAfter(h, 500);
    const second = h.latest();
    assert.notEqual(second, first);
    second.events.opened();
    assert.deepEqual(second.writes, [CONNECT_PLAIN]);
    second.events.received(connack(0));
    // Packet ids keep counting across connections: this is the second SUBSCRIBE.
    assert.deepEqual(second.writes, [CONNECT_PLAIN, subscribeLedAndHome(2)]);
    assert.deepEqual(h.connects, [false, false]);
    assert.equal(h.disconnects.length, 1);
  });

  test("no CONNACK within 10 s of opening drops the link and schedules a reconnect", () => {
    const h = start();
    const connection = h.latest();
    connection.events.opened();
    h.clock.advance(9999);
    assert.equal(connection.closeCalls, 0);
    h.clock.advance(1);
    assert.equal(connection.closeCalls, 1);
    assert.ok(logIncludes(h, "no CONNACK"), h.log.join("\n"));
    assert.equal(h.clock.pending().length, 1);
  });
});

describe("a dial that throws", () => {
  test("is caught, logged as cannot connect, and retried after the backoff", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start({}, 2); // createClient dials at once: that dial throws inside it
    assert.equal(h.broker.dialTimes.length, 1);
    assert.ok(logIncludes(h, "cannot connect: Unable to create socket"), h.log.join("\n"));
    assert.equal(h.broker.connections.length, 0);
    assertNextDialAfter(h, 500); // throws again
    assertNextDialAfter(h, 1000); // backoff grew; this one connects
    accept(h);
    assert.equal(h.client.isConnected(), true);
    assert.deepEqual(h.disconnects, []);
  });
});

describe("incoming PUBLISH", () => {
  const BINARY_PUBLISH =
    "\x30" + // PUBLISH (type 3), QoS 0, no retain, no DUP
    "\x09" + // remaining length 9 = 2 + 3 (topic) + 4 (payload)
    "\x00\x03" + // topic length 3
    "led" + // topic
    "\x00\xff\x80a"; // payload: 0x00, 0xff, 0x80, "a"

  test("QoS 0 reaches onMessage with a binary-safe payload", () => {
    const h = start();
    accept(h).events.received(BINARY_PUBLISH);
    assert.deepEqual(h.messages, [["led", "\x00\xff\x80a"]]);
  });

  test("a PUBLISH split over several reads, down to one byte each, is delivered once", () => {
    const h = start();
    const connection = accept(h);
    for (const byte of BINARY_PUBLISH) connection.events.received(byte);
    connection.events.received(BINARY_PUBLISH.slice(0, 4));
    connection.events.received(BINARY_PUBLISH.slice(4));
    assert.deepEqual(h.messages, [
      ["led", "\x00\xff\x80a"],
      ["led", "\x00\xff\x80a"],
    ]);
  });

  test("several packets in one read are all handled, in order", () => {
    const h = start();
    const connection = accept(h);
    connection.events.received(publish("led", "on") + PINGRESP + BINARY_PUBLISH + publish("led/x", ""));
    assert.deepEqual(h.messages, [
      ["led", "on"],
      ["led", "\x00\xff\x80a"],
      ["led/x", ""],
    ]);
    assert.equal(connection.closeCalls, 0);
  });

  test("the CONNACK and a PUBLISH in the same read are both handled", () => {
    const h = start();
    const connection = h.latest();
    connection.events.opened();
    connection.events.received(connack(0) + publish("led", "off"));
    assert.deepEqual(h.events, ["connect", "message"]);
    assert.deepEqual(h.messages, [["led", "off"]]);
  });
});

describe("malformed and oversize packets", () => {
  test("a remaining length with 5 continuation bytes drops the link and schedules a reconnect", () => {
    const h = start();
    const connection = accept(h);
    assert.doesNotThrow(() =>
      connection.events.received(
        "\x30" + // PUBLISH
          "\xff\xff\xff\xff\xff" + // five length bytes, each saying "more follows": more than the 4 allowed
          "\x01",
      ),
    );
    assert.equal(connection.closeCalls, 1);
    assert.equal(h.client.isConnected(), false);
    assert.equal(h.disconnects.length, 1);
    assert.ok(logIncludes(h, "bad packet"), h.log.join("\n"));
    assert.equal(h.clock.pending().length, 1, "reconnect scheduled");
    h.clock.advance(1000);
    assert.equal(h.broker.dialTimes.length, 2);
  });

  test("a CONNACK of the wrong length drops the link and schedules a reconnect", () => {
    const h = start();
    const connection = h.latest();
    connection.events.opened();
    assert.doesNotThrow(() =>
      connection.events.received(
        "\x20" + // CONNACK
          "\x03" + // remaining length 3: a CONNACK has exactly 2
          "\x00\x00\x00",
      ),
    );
    assert.equal(connection.closeCalls, 1);
    assert.deepEqual(h.connects, []);
    assert.ok(logIncludes(h, "bad packet"), h.log.join("\n"));
    h.clock.advance(1000);
    assert.equal(h.broker.dialTimes.length, 2);
  });

  test("packets after a malformed one in the same read are not acted on", () => {
    const h = start();
    const connection = accept(h);
    connection.events.received("\x20\x03\x00\x00\x00" + publish("led", "on"));
    assert.equal(connection.closeCalls, 1);
    assert.deepEqual(h.messages, []);
  });

  test("a packet over maxPacketSize is skipped and logged; the packet after it in the same read is delivered", () => {
    const h = start({ maxPacketSize: 64 });
    const connection = accept(h);
    const big = publish("led", "x".repeat(100)); // 2 + 105 = 107 bytes
    connection.events.received(big + publish("led", "on"));
    assert.deepEqual(h.messages, [["led", "on"]]);
    assert.ok(logIncludes(h, "skipped a packet of 107 bytes"), h.log.join("\n"));
    assert.equal(connection.closeCalls, 0);
    assert.equal(h.client.isConnected(), true);
  });

  test("an oversize packet arriving over several reads is skipped; the next one is delivered", () => {
    const h = start({ maxPacketSize: 64 });
    const connection = accept(h);
    const big = publish("led", "\x30\x05".repeat(50)); // payload that looks like headers must not confuse it
    connection.events.received(big.slice(0, 10));
    connection.events.received(big.slice(10, 60));
    connection.events.received(big.slice(60) + publish("led", "off"));
    assert.deepEqual(h.messages, [["led", "off"]]);
    assert.equal(h.log.filter((line) => line.includes("skipped")).length, 1);
    assert.equal(connection.closeCalls, 0);
  });
});

describe("publish()", () => {
  test("returns false and writes nothing before the link opens and before the CONNACK", () => {
    const h = start();
    const connection = h.latest();
    assert.equal(h.client.publish("led/state", "on", true), false);
    connection.events.opened();
    assert.equal(h.client.publish("led/state", "on", true), false);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN]);
  });

  test("returns false and writes nothing after the link is lost", () => {
    const h = start();
    const connection = accept(h);
    connection.events.closed();
    assert.equal(h.client.publish("led/state", "on", true), false);
    assert.deepEqual(connection.writes, [CONNECT_PLAIN]);
  });

  test("when connected writes the header then the payload, with the retain flag", () => {
    const h = start();
    const connection = accept(h);
    assert.equal(h.client.publish("led/state", "on", true), true);
    assert.equal(h.client.publish("led/state", "\x00\xff", false), true);
    assert.deepEqual(connection.writes.slice(1), [
      "\x31" + // PUBLISH, QoS 0, retain
        "\x0d" + // remaining length 13 = 2 + 9 (topic) + 2 (payload)
        "\x00\x09" + // topic length 9
        "led/state", // topic
      "on", // payload
      "\x30" + // PUBLISH, QoS 0, no retain
        "\x0d" + // remaining length 13
        "\x00\x09" + // topic length 9
        "led/state", // topic
      "\x00\xff", // payload, binary
    ]);
  });

  test("an empty payload writes the header alone", () => {
    const h = start();
    const connection = accept(h);
    h.client.publish("led/state", "", true);
    assert.deepEqual(connection.writes.slice(1), [
      "\x31" + // PUBLISH, QoS 0, retain
        "\x0b" + // remaining length 11 = 2 + 9 (topic), no payload
        "\x00\x09" + // topic length 9
        "led/state", // topic
    ]);
  });

  test("a QoS out of range is brought into 0-2, a fraction down to a whole number (publish and subscribe)", () => {
    const h = start();
    const connection = accept(h);
    h.client.publish("t", "a", false, -1);
    h.client.publish("t", "b", false, 7);
    h.client.publish("t", "c", false, 1.5);
    h.client.subscribe("s", 3);
    h.client.subscribe("u", -2);
    assert.deepEqual(connection.writes.slice(1), [
      "\x30\x04\x00\x01t", // PUBLISH, QoS 0 (from -1), remaining length 4, topic "t"
      "a",
      "\x34\x06\x00\x01t\x00\x01", // PUBLISH, QoS 2 (from 7), packet id 1
      "b",
      "\x32\x06\x00\x01t\x00\x02", // PUBLISH, QoS 1 (from 1.5), packet id 2
      "c",
      "\x82\x06\x00\x03\x00\x01s\x02", // SUBSCRIBE id 3: "s" at QoS 2 (from 3)
      "\x82\x06\x00\x04\x00\x01u\x00", // SUBSCRIBE id 4: "u" at QoS 0 (from -2)
    ]);
  });

  test("a QoS of 2 ** 32 or Infinity is 2, as 7 is (a truncation to 32 bits made them 0)", () => {
    const h = start();
    const connection = accept(h);
    h.client.publish("t", "a", false, 2 ** 32);
    h.client.publish("t", "b", false, Infinity);
    assert.deepEqual(connection.writes.slice(1), [
      "\x34\x06\x00\x01t\x00\x01", // PUBLISH, QoS 2, packet id 1
      "a",
      "\x34\x06\x00\x01t\x00\x02", // PUBLISH, QoS 2, packet id 2
      "b",
    ]);
  });

  describe("remaining length at the varint boundaries (topic \"t\": 3 bytes before the payload)", () => {
    const cases: Array<[remaining: number, lengthBytes: string]> = [
      [127, "\x7f"], // the largest one-byte length
      [128, "\x80\x01"], // 0 + 1 x 128
      [16383, "\xff\x7f"], // 127 + 127 x 128: the largest two-byte length
      [16384, "\x80\x80\x01"], // 0 + 0 x 128 + 1 x 16384
    ];
    for (const [remaining, lengthBytes] of cases) {
      test(`remaining length ${remaining}`, () => {
        const h = start();
        const connection = accept(h);
        const payload = "p".repeat(remaining - 3);
        h.client.publish("t", payload, false);
        assert.equal(
          connection.writes[1],
          "\x30" + // PUBLISH, QoS 0, no retain
            lengthBytes + // remaining length
            "\x00\x01" + // topic length 1
            "t", // topic
        );
        assert.equal(connection.writes[2], payload);
      });
    }
  });
});

describe("stop()", () => {
  test("when connected writes DISCONNECT, closes, and never dials again", () => {
    const h = start();
    const connection = accept(h);
    h.client.stop();
    assert.equal(connection.writes[connection.writes.length - 1], DISCONNECT);
    assert.equal(connection.closeCalls, 1);
    assert.equal(h.client.isConnected(), false);
    assert.deepEqual(h.clock.pending(), [], "no timer left");
    h.clock.advance(24 * 3_600_000);
    assert.equal(h.broker.dialTimes.length, 1);
  });

  test("while waiting to reconnect cancels the reconnect", () => {
    const h = start();
    accept(h).events.closed();
    assert.equal(h.clock.pending().length, 1);
    h.client.stop();
    assert.deepEqual(h.clock.pending(), []);
    h.clock.advance(24 * 3_600_000);
    assert.equal(h.broker.dialTimes.length, 1);
  });

  test("before the CONNACK closes without a DISCONNECT", () => {
    const h = start();
    const connection = h.latest();
    connection.events.opened();
    h.client.stop();
    assert.deepEqual(connection.writes, [CONNECT_PLAIN]);
    assert.equal(connection.closeCalls, 1);
    assert.deepEqual(h.clock.pending(), []);
    connection.events.received(connack(0));
    assert.deepEqual(h.connects, [], "a late CONNACK is ignored");
  });
});

describe("events from an old connection", () => {
  test("a late received() or closed() on a previous link does not touch the current one", (t) => {
    t.mock.method(Math, "random", () => 0);
    const h = start();
    h.client.subscribe("led");
    const old = accept(h);
    old.events.closed();
    h.clock.advance(500);
    const current = accept(h);
    const currentWrites = current.writes.length;

    old.events.received(publish("led", "on"));
    old.events.received(connack(0));
    old.events.received("\x30\xff\xff\xff\xff\xff"); // malformed
    old.events.closed();
    old.events.opened();

    assert.deepEqual(h.messages, []);
    assert.deepEqual(h.connects, [false, false]);
    assert.deepEqual(h.disconnects.length, 1);
    assert.equal(h.client.isConnected(), true);
    assert.equal(current.closeCalls, 0);
    assert.equal(current.writes.length, currentWrites);
    assert.deepEqual(old.writes.slice(2), [], "nothing more written on the old link");
    current.events.received(publish("led", "off"));
    assert.deepEqual(h.messages, [["led", "off"]]);
  });

  test("closed() from a link the client dropped itself does not schedule a second reconnect", () => {
    const h = start();
    const connection = accept(h);
    h.clock.advance(15000); // PINGREQ unanswered: the client closes the link
    assert.equal(connection.closeCalls, 1);
    const pending = h.clock.pending();
    assert.equal(pending.length, 1);
    connection.events.closed(); // the socket reports the close the client asked for
    assert.deepEqual(h.clock.pending(), pending);
    assert.equal(h.disconnects.length, 1);
  });
});

describe("a write that throws (the far end is gone)", () => {
  test(
    "while sending CONNECT: the reconnect comes after the backoff",
    (t) => {
      t.mock.method(Math, "random", () => 0);
      const h = start();
      const connection = h.latest();
      connection.failWrites = true;
      assert.doesNotThrow(() => connection.events.opened());
      assert.equal(connection.closeCalls, 1);
      assertNextDialAfter(h, 500);
    },
  );

  test(
    "while sending the SUBSCRIBE after CONNACK: onConnect is not called after onDisconnect, reconnect after backoff",
    (t) => {
      t.mock.method(Math, "random", () => 0);
      const h = start();
      h.client.subscribe("led");
      const connection = h.latest();
      connection.events.opened();
      connection.failWrites = true;
      assert.doesNotThrow(() => connection.events.received(connack(0)));
      assert.equal(connection.closeCalls, 1);
      assert.equal(h.client.isConnected(), false);
      assert.equal(h.events[h.events.length - 1], "disconnect: write failed", `events: ${h.events}`);
      assertNextDialAfter(h, 500);
    },
  );

  test("while publishing: the link is dropped, nothing escapes, a reconnect is scheduled", () => {
    const h = start();
    const connection = accept(h);
    connection.failWrites = true;
    assert.doesNotThrow(() => h.client.publish("led/state", "on", true));
    assert.equal(connection.closeCalls, 1);
    assert.equal(h.client.isConnected(), false);
    assert.deepEqual(h.disconnects, ["write failed"]);
    assert.equal(h.clock.pending().length, 1);
  });
});
