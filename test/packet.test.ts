// The codec against byte fixtures laid out as in the MQTT 3.1.1 spec (section numbers in brackets), a comment per byte.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  createReader,
  DecodeError,
  decodePacket,
  DISCONNECT,
  encodeConnect,
  encodeLength,
  encodePublishHeader,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeAck,
  Packet,
  PacketType,
  PINGREQ,
} from "../firmware/mqtt/packet.ts";

/** Bytes as a binary string: numbers are bytes, strings are taken as they are (ASCII). */
function bytes(...parts: Array<number | string>): string {
  return parts.map((p) => (typeof p === "number" ? String.fromCharCode(p) : p)).join("");
}

function hex(binary: string): string {
  return Buffer.from(binary, "latin1").toString("hex");
}

function decodeAll(stream: string, maxPacketSize = 1 << 20) {
  const packets: Packet[] = [];
  const errors: Array<[DecodeError, number]> = [];
  const read = createReader(maxPacketSize, (p) => packets.push(p), (e, _first, size) => errors.push([e, size]));
  read(stream);
  return { packets, errors };
}

describe("encoders [3.1-3.14]", () => {
  test("CONNECT, minimal: client id, keepalive, clean session [3.1]", () => {
    const expected = bytes(
      0x10, // CONNECT, flags 0
      15, // remaining length: 10 variable header + 5 payload
      0x00, 0x04, "MQTT", // protocol name
      0x04, // protocol level 4 = 3.1.1
      0x02, // connect flags: clean session
      0x00, 0x3c, // keepalive 60 s
      0x00, 0x03, "abc", // client id
    );
    assert.equal(hex(encodeConnect({ clientId: "abc", keepalive: 60, clean: true })), hex(expected));
  });

  test("CONNECT with Will (retained, QoS 1), user name and password [3.1.2.3]", () => {
    const expected = bytes(
      0x10, // CONNECT
      0x30, // remaining length 48: 10 variable header + 4 + 18 + 9 + 3 + 4 payload
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0xee, // flags: user name (0x80) | password (0x40) | will retain (0x20) | will QoS 1 (0x08) | will (0x04) | clean (0x02)
      0x01, 0x2c, // keepalive 300 s
      0x00, 0x02, "id", // client id
      0x00, 0x10, "led/availability", // will topic
      0x00, 0x07, "offline", // will message
      0x00, 0x01, "u", // user name
      0x00, 0x02, "pw", // password
    );
    const packet = encodeConnect({
      clientId: "id",
      keepalive: 300,
      clean: true,
      will: { topic: "led/availability", payload: "offline", qos: 1, retain: true },
      username: "u",
      password: "pw",
    });
    assert.equal(hex(packet), hex(expected));
  });

  test("CONNECT without clean session and with an empty password", () => {
    const expected = bytes(
      0x10, // CONNECT
      15, // remaining length: 10 variable header + 3 client id + 2 password
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0x40, // flags: password only
      0x00, 0x00, // keepalive off
      0x00, 0x01, "c", // client id
      0x00, 0x00, // password of length 0
    );
    assert.equal(hex(encodeConnect({ clientId: "c", keepalive: 0, clean: false, password: "" })), hex(expected));
  });

  test("PUBLISH QoS 0, retained: header, then the payload written after it [3.3]", () => {
    const header = encodePublishHeader("led/state", 2, 0, true, false, 0);
    const expected = bytes(
      0x31, // PUBLISH, retain
      13, // remaining length: 11 topic + 2 payload
      0x00, 0x09, "led/state", // topic
    );
    assert.equal(hex(header), hex(expected));
    const { packets } = decodeAll(header + "on");
    assert.deepEqual(packets[0], { type: 3, flags: 1, topic: "led/state", payload: "on", qos: 0, retain: true, dup: false });
  });

  test("PUBLISH QoS 1 with DUP carries its packet id [3.3.2.2]", () => {
    const expected = bytes(
      0x3a, // PUBLISH, DUP (0x08) | QoS 1 (0x02)
      5 + 3, // remaining length: 3 topic + 2 id + 3 payload
      0x00, 0x01, "t", // topic
      0x12, 0x34, // packet id 0x1234
    );
    assert.equal(hex(encodePublishHeader("t", 3, 1, false, true, 0x1234)), hex(expected));
  });

  test("PUBLISH topic in UTF-8 is carried as its bytes", () => {
    const topic = Buffer.from("café/€", "utf8").toString("latin1"); // 9 bytes
    const expected = bytes(
      0x30, // PUBLISH
      11, // remaining length: 2 + 9 topic, empty payload
      0x00, 0x09, topic, // topic bytes: c a f 0xc3 0xa9 / 0xe2 0x82 0xac
    );
    assert.equal(hex(encodePublishHeader(topic, 0, 0, false, false, 0)), hex(expected));
  });

  test("SUBSCRIBE with two topic filters in one packet [3.8]", () => {
    const expected = bytes(
      0x82, // SUBSCRIBE, reserved flags 0010
      14, // remaining length
      0x00, 0x01, // packet id 1
      0x00, 0x03, "led", // filter
      0x00, // requested QoS 0
      0x00, 0x03, "a/#", // filter
      0x01, // requested QoS 1
    );
    assert.equal(hex(encodeSubscribe(1, ["led", "a/#"], [0, 1])), hex(expected));
  });

  test("UNSUBSCRIBE with two topic filters [3.10]", () => {
    const expected = bytes(
      0xa2, // UNSUBSCRIBE, reserved flags 0010
      12, // remaining length
      0x00, 0x02, // packet id 2
      0x00, 0x03, "led", // filter
      0x00, 0x03, "a/#", // filter
    );
    assert.equal(hex(encodeUnsubscribe(2, ["led", "a/#"])), hex(expected));
  });

  test("PUBACK, PUBREC, PUBREL, PUBCOMP [3.4-3.7]", () => {
    assert.equal(hex(encodeAck(PacketType.Puback, 0x0102)), hex(bytes(0x40, 0x02, 0x01, 0x02))); // PUBACK, length 2, id 258
    assert.equal(hex(encodeAck(PacketType.Pubrec, 7)), hex(bytes(0x50, 0x02, 0x00, 0x07))); // PUBREC, length 2, id 7
    assert.equal(hex(encodeAck(PacketType.Pubrel, 7)), hex(bytes(0x62, 0x02, 0x00, 0x07))); // PUBREL, flags 0010, id 7
    assert.equal(hex(encodeAck(PacketType.Pubcomp, 7)), hex(bytes(0x70, 0x02, 0x00, 0x07))); // PUBCOMP, length 2, id 7
  });

  test("PINGREQ and DISCONNECT [3.12, 3.14]", () => {
    assert.equal(hex(PINGREQ), "c000"); // PINGREQ, remaining length 0
    assert.equal(hex(DISCONNECT), "e000"); // DISCONNECT, remaining length 0
  });
});

describe("remaining length [2.2.3]", () => {
  const boundaries: Array<[number, number[]]> = [
    [0, [0x00]],
    [127, [0x7f]], // largest 1-byte length
    [128, [0x80, 0x01]], // smallest 2-byte length (tinyMQTT's limit)
    [16383, [0xff, 0x7f]], // largest 2-byte length
    [16384, [0x80, 0x80, 0x01]], // smallest 3-byte length
    [2097151, [0xff, 0xff, 0x7f]], // largest 3-byte length
    [2097152, [0x80, 0x80, 0x80, 0x01]], // smallest 4-byte length
    [268435455, [0xff, 0xff, 0xff, 0x7f]], // largest length MQTT allows
  ];
  for (const [length, encoded] of boundaries) {
    test(`${length} is ${encoded.length} byte(s)`, () => {
      assert.equal(hex(encodeLength(length)), hex(bytes(...encoded)));
    });
  }

  test("PUBLISH headers across the 127/128 and 16383/16384 boundaries decode back", () => {
    for (const payloadLength of [122, 123, 16378, 16379]) {
      const header = encodePublishHeader("abc", payloadLength, 0, false, false, 0);
      const payload = "x".repeat(payloadLength);
      const { packets } = decodeAll(header + payload);
      assert.equal(packets.length, 1);
      assert.equal(packets[0]?.payload?.length, payloadLength);
    }
  });

  test("a fifth length byte is malformed and stops the stream", () => {
    const { packets, errors } = decodeAll(bytes(0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0xd0, 0x00));
    assert.deepEqual(packets, []);
    assert.deepEqual(errors, [[DecodeError.BadLength, 0]]);
  });
});

describe("decoders [3.2, 3.3, 3.9, 3.13]", () => {
  test("CONNACK accepted, session present [3.2]", () => {
    const { packets } = decodeAll(bytes(
      0x20, // CONNACK
      0x02, // remaining length 2
      0x01, // session present
      0x00, // return code 0: accepted
    ));
    assert.deepEqual(packets, [{ type: 2, flags: 0, sessionPresent: true, code: 0 }]);
  });

  test("CONNACK refused: bad user name or password [3.2.2.3]", () => {
    const { packets } = decodeAll(bytes(0x20, 0x02, 0x00, 0x04)); // CONNACK, length 2, no session, code 4
    assert.deepEqual(packets, [{ type: 2, flags: 0, sessionPresent: false, code: 4 }]);
  });

  test("SUBACK with a granted QoS 0 and a failure 0x80 [3.9]", () => {
    const { packets } = decodeAll(bytes(
      0x90, // SUBACK
      0x04, // remaining length 4
      0x00, 0x07, // packet id 7
      0x00, // granted QoS 0
      0x80, // failure
    ));
    assert.deepEqual(packets, [{ type: 9, flags: 0, id: 7, granted: [0, 0x80] }]);
  });

  test("PUBLISH QoS 0 with a binary payload [3.3]", () => {
    const { packets } = decodeAll(bytes(
      0x30, // PUBLISH QoS 0
      0x08, // remaining length 8
      0x00, 0x03, "led", // topic
      0x00, 0xff, 0x80, // payload: three raw bytes
    ));
    assert.deepEqual(packets, [{ type: 3, flags: 0, topic: "led", payload: bytes(0x00, 0xff, 0x80), qos: 0, retain: false, dup: false }]);
  });

  test("PUBLISH QoS 1 retained with packet id", () => {
    const { packets } = decodeAll(bytes(
      0x33, // PUBLISH QoS 1, retain
      0x07, // remaining length 7
      0x00, 0x01, "t", // topic
      0x00, 0x05, // packet id 5
      "on", // payload
    ));
    assert.deepEqual(packets, [{ type: 3, flags: 3, topic: "t", id: 5, payload: "on", qos: 1, retain: true, dup: false }]);
  });

  test("PINGRESP [3.13] and PUBACK [3.4]", () => {
    const { packets } = decodeAll(bytes(
      0xd0, 0x00, // PINGRESP, length 0
      0x40, 0x02, 0x00, 0x09, // PUBACK, length 2, packet id 9
    ));
    assert.deepEqual(packets, [{ type: 13, flags: 0 }, { type: 4, flags: 0, id: 9 }]);
  });
});

describe("malformed input gives an error code, never an exception", () => {
  const cases: Array<[string, string, DecodeError]> = [
    ["packet type 0", bytes(0x00, 0x00), DecodeError.BadType],
    ["packet type 15", bytes(0xf0, 0x00), DecodeError.BadType],
    ["CONNECT sent to a client", bytes(0x10, 0x00), DecodeError.BadType],
    ["PUBLISH with QoS 3", bytes(0x36, 0x03, 0x00, 0x01, "t"), DecodeError.BadFlags],
    ["CONNACK with flags", bytes(0x21, 0x02, 0x00, 0x00), DecodeError.BadFlags],
    ["CONNACK of 3 bytes", bytes(0x20, 0x03, 0x00, 0x00, 0x00), DecodeError.BadSize],
    ["PUBLISH topic past the end", bytes(0x30, 0x03, 0x00, 0x05, "t"), DecodeError.BadSize],
    ["PUBLISH QoS 1 without room for the id", bytes(0x32, 0x03, 0x00, 0x01, "t"), DecodeError.BadSize],
    ["PINGRESP with a body", bytes(0xd0, 0x01, 0x00), DecodeError.BadSize],
    ["SUBACK without a return code", bytes(0x90, 0x02, 0x00, 0x01), DecodeError.BadSize],
  ];
  for (const [name, stream, error] of cases) {
    test(name, () => {
      const { packets, errors } = decodeAll(stream);
      assert.deepEqual(packets, []);
      assert.deepEqual(errors, [[error, stream.length]]);
    });
  }

  test("decodePacket of a framed bad packet returns its code", () => {
    assert.equal(decodePacket(0x36, bytes(0x00, 0x01, "t")), DecodeError.BadFlags);
  });
});

describe("the incremental reader", () => {
  const connack = bytes(0x20, 0x02, 0x00, 0x00); // CONNACK accepted
  const publish = bytes(0x30, 0x07, 0x00, 0x03, "led", "on"); // PUBLISH led "on"
  const pingresp = bytes(0xd0, 0x00); // PINGRESP

  test("a packet split into single bytes", () => {
    const packets: Packet[] = [];
    const read = createReader(1024, (p) => packets.push(p), () => assert.fail("no error expected"));
    for (const byte of connack + publish) read(byte);
    assert.deepEqual(packets.map((p) => p.type), [2, 3]);
    assert.equal(packets[1]?.payload, "on");
  });

  test("several packets in one read", () => {
    const { packets } = decodeAll(connack + publish + pingresp + publish);
    assert.deepEqual(packets.map((p) => p.type), [2, 3, 13, 3]);
  });

  test("every split of a stream of three packets gives the same packets", () => {
    const stream = connack + publish + pingresp;
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const packets: Packet[] = [];
        const read = createReader(1024, (p) => packets.push(p), () => assert.fail("no error expected"));
        read(stream.slice(0, a));
        read(stream.slice(a, b));
        read(stream.slice(b));
        assert.deepEqual(packets.map((p) => p.type), [2, 3, 13], `split at ${a},${b}`);
      }
    }
  });

  test("an oversized packet is skipped as it arrives and the stream stays in step", () => {
    const big = encodePublishHeader("led", 5000, 0, false, false, 0) + "x".repeat(5000);
    const packets: Packet[] = [];
    const errors: Array<[DecodeError, number]> = [];
    const read = createReader(1024, (p) => packets.push(p), (e, _first, size) => errors.push([e, size]));
    const stream = big + publish;
    for (let at = 0; at < stream.length; at += 536) read(stream.slice(at, at + 536));
    assert.deepEqual(errors, [[DecodeError.TooLarge, big.length]]);
    assert.deepEqual(packets.map((p) => p.payload), ["on"]);
  });

  test("a packet exactly at the cap is accepted", () => {
    const header = encodePublishHeader("led", 0, 0, false, false, 0);
    const payload = "y".repeat(100 - header.length - 1);
    const exact = encodePublishHeader("led", payload.length, 0, false, false, 0) + payload;
    const { packets, errors } = decodeAll(exact, exact.length);
    assert.equal(errors.length, 0);
    assert.equal(packets.length, 1);
  });
});
