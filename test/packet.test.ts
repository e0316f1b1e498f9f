// The codec against one table of byte fixtures laid out as in the MQTT 3.1.1 spec (section numbers in brackets), a
// comment per byte. Each well-formed fixture yields an encode, a decode and a round-trip test; the device codec does
// each where it has that side (it writes only what a client sends and reads only what a broker sends), and mqtt-packet
// (an independent implementation, tests only) stands in for the other side, and checks every fixture itself.
// Each malformed fixture yields its DecodeError from the reader (which then stays in step, but after BadLength), and
// the explainer must name its first malformed byte.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as mqtt from "mqtt-packet";
import {
  createReader,
  DecodeError,
  decodePacket,
  encodeAck,
  encodeConnect,
  encodeLength,
  encodePublishHeader,
  encodeSubscribe,
  encodeUnsubscribe,
  FixedPacket,
  Packet,
  PacketType,
} from "../firmware/mqtt/packet.ts";
import { describePacket, explainStream } from "../host-sim/trace.ts";

/** Bytes as a binary string: numbers are bytes, strings are taken as they are (one char, one byte). */
function bytes(...parts: Array<number | string>): string {
  return parts.map((p) => (typeof p === "number" ? String.fromCharCode(p) : p)).join("");
}

/** A text's UTF-8 bytes as a binary string. */
function utf8(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

function hex(binary: string): string {
  return Buffer.from(binary, "latin1").toString("hex");
}

/** A whole QoS 0 PUBLISH, as the device writes it (header, then payload). */
function qos0(topic: string, payload: string): string {
  return encodePublishHeader({ topic, payload, qos: 0, retain: false, id: 0 }, false) + payload;
}

function decodeAll(stream: string, maxPacketSize = 1 << 30) {
  const packets: Packet[] = [];
  const errors: Array<[DecodeError, number]> = [];
  const read = createReader(maxPacketSize, (p) => packets.push(p), (e, _first, size) => errors.push([e, size]));
  const held = read(stream);
  return { packets, errors, held };
}

// ---- the fields of a packet, in mqtt-packet's names, every string as its bytes

type Fields =
  | {
      cmd: "connect";
      clientId: string;
      keepalive: number;
      clean: boolean;
      will?: { topic: string; payload: string; qos: number; retain: boolean };
      username?: string;
      password?: string;
    }
  | { cmd: "connack"; sessionPresent: boolean; returnCode: number }
  | { cmd: "publish"; topic: string; payload: string; qos: number; retain: boolean; dup: boolean; messageId?: number }
  | { cmd: "puback" | "pubrec" | "pubrel" | "pubcomp" | "unsuback"; messageId: number }
  | { cmd: "subscribe"; messageId: number; subscriptions: Array<{ topic: string; qos: number }> }
  | { cmd: "suback"; messageId: number; granted: number[] }
  | { cmd: "unsubscribe"; messageId: number; unsubscriptions: string[] }
  | { cmd: "pingreq" | "pingresp" | "disconnect" };

const TYPES: Record<Fields["cmd"], PacketType> = {
  connect: PacketType.Connect,
  connack: PacketType.Connack,
  publish: PacketType.Publish,
  puback: PacketType.Puback,
  pubrec: PacketType.Pubrec,
  pubrel: PacketType.Pubrel,
  pubcomp: PacketType.Pubcomp,
  subscribe: PacketType.Subscribe,
  suback: PacketType.Suback,
  unsubscribe: PacketType.Unsubscribe,
  unsuback: PacketType.Unsuback,
  pingreq: PacketType.Pingreq,
  pingresp: PacketType.Pingresp,
  disconnect: PacketType.Disconnect,
};
const FROM_BROKER = new Set(["connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "pingresp"]);

/** How the device writes a packet with these fields; undefined for a packet a client never sends. */
function deviceEncode(f: Fields): string | undefined {
  switch (f.cmd) {
    case "connect":
      return encodeConnect({
        clientId: f.clientId,
        keepalive: f.keepalive,
        clean: f.clean,
        ...(f.will ? { will: f.will } : {}),
        ...(f.username !== undefined ? { username: f.username } : {}),
        ...(f.password !== undefined ? { password: f.password } : {}),
      });
    case "publish":
      return encodePublishHeader({ topic: f.topic, payload: f.payload, qos: f.qos, retain: f.retain, id: f.messageId ?? 0 }, f.dup) + f.payload;
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return encodeAck(TYPES[f.cmd], f.messageId);
    case "subscribe":
      return encodeSubscribe(f.messageId, f.subscriptions.map((s) => s.topic), f.subscriptions.map((s) => s.qos));
    case "unsubscribe":
      return encodeUnsubscribe(f.messageId, f.unsubscriptions);
    case "pingreq":
      return FixedPacket.Pingreq;
    case "disconnect":
      return FixedPacket.Disconnect;
    default:
      return undefined;
  }
}

/** The Packet the device decodes from a packet with these fields (those a broker sends). */
function devicePacket(f: Fields): Packet {
  const type = TYPES[f.cmd];
  const flags = f.cmd === "publish" ? (f.dup ? 8 : 0) | (f.qos << 1) | (f.retain ? 1 : 0) : f.cmd === "pubrel" ? 2 : 0;
  switch (f.cmd) {
    case "connack":
      return { type, flags, sessionPresent: f.sessionPresent, code: f.returnCode };
    case "publish":
      return { type, flags, topic: f.topic, ...(f.qos ? { id: f.messageId } : {}), payload: f.payload, qos: f.qos, retain: f.retain, dup: f.dup };
    case "suback":
      return { type, flags, id: f.messageId, granted: f.granted };
    case "pingresp":
      return { type, flags };
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
    case "unsuback":
      return { type, flags, id: f.messageId };
    default:
      throw new Error(`the device never decodes ${f.cmd}`);
  }
}

/** The fields of a Packet the device decoded. */
function fieldsOf(p: Packet): Fields {
  switch (p.type) {
    case PacketType.Connack:
      return { cmd: "connack", sessionPresent: p.sessionPresent!, returnCode: p.code! };
    case PacketType.Publish:
      return { cmd: "publish", topic: p.topic!, payload: p.payload!, qos: p.qos!, retain: p.retain!, dup: p.dup!, ...(p.qos ? { messageId: p.id! } : {}) };
    case PacketType.Suback:
      return { cmd: "suback", messageId: p.id!, granted: p.granted! };
    case PacketType.Pingresp:
      return { cmd: "pingresp" };
    default: {
      const cmd = (["puback", "pubrec", "pubrel", "pubcomp"] as const)[p.type - 4] ?? "unsuback";
      return { cmd, messageId: p.id! };
    }
  }
}

// ---- mqtt-packet, the oracle

const fromBytes = (b: string) => Buffer.from(b, "latin1");
const textOf = (b: string) => fromBytes(b).toString("utf8");

/** The fields in mqtt-packet's input form: strings as text, payloads as Buffers. */
function oracleInput(f: Fields): mqtt.Packet {
  switch (f.cmd) {
    case "connect":
      return {
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: textOf(f.clientId),
        keepalive: f.keepalive,
        clean: f.clean,
        ...(f.will ? { will: { topic: textOf(f.will.topic), payload: fromBytes(f.will.payload), qos: f.will.qos as 0, retain: f.will.retain } } : {}),
        ...(f.username !== undefined ? { username: textOf(f.username) } : {}),
        ...(f.password !== undefined ? { password: fromBytes(f.password) } : {}),
      };
    case "publish":
      return { cmd: "publish", topic: textOf(f.topic), payload: fromBytes(f.payload), qos: f.qos as 0, retain: f.retain, dup: f.dup, ...(f.messageId !== undefined ? { messageId: f.messageId } : {}) };
    case "subscribe":
      return { cmd: "subscribe", messageId: f.messageId, subscriptions: f.subscriptions.map((s) => ({ topic: textOf(s.topic), qos: s.qos as 0 })) };
    case "unsubscribe":
      return { cmd: "unsubscribe", messageId: f.messageId, unsubscriptions: f.unsubscriptions.map(textOf) };
    default:
      return f as mqtt.Packet;
  }
}

/** What mqtt-packet makes of a parsed packet, in our normal form. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function oracleFields(p: any): Fields {
  const b = (x: Buffer) => x.toString("latin1");
  switch (p.cmd) {
    case "connect":
      return {
        cmd: "connect",
        clientId: utf8(p.clientId),
        keepalive: p.keepalive,
        clean: p.clean,
        ...(p.will ? { will: { topic: utf8(p.will.topic), payload: b(p.will.payload), qos: p.will.qos, retain: p.will.retain } } : {}),
        ...(p.username !== undefined ? { username: utf8(p.username) } : {}),
        ...(p.password !== undefined ? { password: b(p.password) } : {}),
      };
    case "connack":
      return { cmd: "connack", sessionPresent: p.sessionPresent, returnCode: p.returnCode };
    case "publish":
      return { cmd: "publish", topic: utf8(p.topic), payload: b(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, ...(p.qos ? { messageId: p.messageId } : {}) };
    case "subscribe":
      return { cmd: "subscribe", messageId: p.messageId, subscriptions: p.subscriptions.map((s: { topic: string; qos: number }) => ({ topic: utf8(s.topic), qos: s.qos })) };
    case "unsubscribe":
      return { cmd: "unsubscribe", messageId: p.messageId, unsubscriptions: p.unsubscriptions.map(utf8) };
    case "suback":
      return { cmd: "suback", messageId: p.messageId, granted: p.granted };
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
    case "unsuback":
      return { cmd: p.cmd, messageId: p.messageId };
    default:
      return { cmd: p.cmd };
  }
}

function oracleParse(stream: string): { packets: Fields[]; error?: Error } {
  const parser = mqtt.parser({ protocolVersion: 4 });
  const packets: Fields[] = [];
  let error: Error | undefined;
  parser.on("packet", (p) => packets.push(oracleFields(p)));
  parser.on("error", (e) => (error ??= e));
  parser.parse(fromBytes(stream));
  return { packets, ...(error ? { error } : {}) };
}

function oracleGenerate(f: Fields): string {
  return mqtt.generate(oracleInput(f), { protocolVersion: 4 }).toString("latin1");
}

// ---- the table

interface Fixture {
  name: string;
  bytes: string;
  fields: Fields;
  /** How the device is asked to write it, where not from `fields` as they are. */
  encode?: () => string;
}

/** A PUBLISH of topic "a" whose remaining length is `length`: 3 bytes of topic, the rest payload. */
function boundary(length: number, lengthBytes: number[], comment: string): Fixture {
  const payload = "x".repeat(length - 3);
  return {
    name: `PUBLISH with remaining length ${length}: ${comment} [2.2.3]`,
    bytes: bytes(
      0x30, // PUBLISH, QoS 0
      ...lengthBytes, // remaining length, 7 bits a byte, low first
      0x00, 0x01, "a", // topic
      payload, // payload: length - 3 bytes of "x"
    ),
    fields: { cmd: "publish", topic: "a", payload, qos: 0, retain: false, dup: false },
  };
}

const FIXTURES: Fixture[] = [
  // CONNECT [3.1]
  {
    name: "CONNECT, minimal: client id, keepalive, clean session [3.1]",
    bytes: bytes(
      0x10, // CONNECT, flags 0000
      15, // remaining length: 10 variable header + 5 payload
      0x00, 0x04, "MQTT", // protocol name
      0x04, // protocol level 4 = 3.1.1
      0x02, // connect flags: clean session
      0x00, 0x3c, // keepalive 60 s
      0x00, 0x03, "abc", // client id
    ),
    fields: { cmd: "connect", clientId: "abc", keepalive: 60, clean: true },
  },
  {
    name: "CONNECT of the explainer's example: client id fe [3.1]",
    bytes: bytes(
      0x10, // CONNECT
      0x0e, // remaining length 14
      0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
      0x04, // level 4
      0x02, // flags: clean session
      0x00, 0x3c, // keepalive 60 s
      0x00, 0x02, 0x66, 0x65, // client id "fe"
    ),
    fields: { cmd: "connect", clientId: "fe", keepalive: 60, clean: true },
  },
  {
    name: "CONNECT with Will (retained, QoS 1), user name and password [3.1.2.3]",
    bytes: bytes(
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
    ),
    fields: {
      cmd: "connect",
      clientId: "id",
      keepalive: 300,
      clean: true,
      will: { topic: "led/availability", payload: "offline", qos: 1, retain: true },
      username: "u",
      password: "pw",
    },
  },
  {
    name: "CONNECT with a QoS 2 Will, no clean session, keepalive 65535 [3.1.2.6]",
    bytes: bytes(
      0x10, // CONNECT
      21, // remaining length: 10 + 3 + 5 + 3
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0x14, // flags: will QoS 2 (0x10) | will (0x04)
      0xff, 0xff, // keepalive 65535 s, the largest
      0x00, 0x01, "c", // client id
      0x00, 0x03, "w/t", // will topic
      0x00, 0x01, 0x00, // will message: one zero byte (binary)
    ),
    fields: { cmd: "connect", clientId: "c", keepalive: 65535, clean: false, will: { topic: "w/t", payload: "\0", qos: 2, retain: false } },
  },
  {
    name: "CONNECT with an empty QoS 0 Will message and a user name only [3.1.3]",
    bytes: bytes(
      0x10, // CONNECT
      24, // remaining length: 10 + 3 + 3 + 2 + 6
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0x86, // flags: user name (0x80) | will QoS 0 | will (0x04) | clean (0x02)
      0x00, 0x0a, // keepalive 10 s
      0x00, 0x01, "c", // client id
      0x00, 0x01, "w", // will topic
      0x00, 0x00, // will message: empty
      0x00, 0x04, "user", // user name
    ),
    fields: { cmd: "connect", clientId: "c", keepalive: 10, clean: true, will: { topic: "w", payload: "", qos: 0, retain: false }, username: "user" },
  },
  {
    name: "CONNECT with a password and no user name sends an empty user name [MQTT-3.1.2-22]",
    bytes: bytes(
      0x10, // CONNECT
      19, // remaining length: 10 + 3 client id + 2 user name + 4 password
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0xc0, // flags: user name (0x80) | password (0x40); no clean session
      0x00, 0x00, // keepalive off
      0x00, 0x01, "c", // client id
      0x00, 0x00, // user name: empty
      0x00, 0x02, "pw", // password
    ),
    fields: { cmd: "connect", clientId: "c", keepalive: 0, clean: false, username: "", password: "pw" },
    encode: () => encodeConnect({ clientId: "c", keepalive: 0, clean: false, password: "pw" }),
  },
  {
    name: "CONNECT with an empty client id and a UTF-8 user name [3.1.3.1]",
    bytes: bytes(
      0x10, // CONNECT
      17, // remaining length: 10 + 2 + 5
      0x00, 0x04, "MQTT", // protocol name
      0x04, // level 4
      0x82, // flags: user name | clean session
      0x00, 0x00, // keepalive off
      0x00, 0x00, // client id: empty (the broker assigns one)
      0x00, 0x03, 0x6a, 0xc3, 0xa9, // user name "jé": j, then é as c3 a9
    ),
    fields: { cmd: "connect", clientId: "", keepalive: 0, clean: true, username: utf8("jé") },
  },

  // PUBLISH [3.3]
  {
    name: "PUBLISH QoS 0, retained: the header, then the payload written after it [3.3]",
    bytes: bytes(
      0x31, // PUBLISH, retain
      13, // remaining length: 11 topic + 2 payload
      0x00, 0x09, "led/state", // topic
      "on", // payload
    ),
    fields: { cmd: "publish", topic: "led/state", payload: "on", qos: 0, retain: true, dup: false },
  },
  {
    name: "PUBLISH QoS 1 with DUP carries its packet id [3.3.2.2]",
    bytes: bytes(
      0x3a, // PUBLISH, DUP (0x08) | QoS 1 (0x02)
      8, // remaining length: 3 topic + 2 id + 3 payload
      0x00, 0x01, "t", // topic
      0x12, 0x34, // packet id 0x1234
      "abc", // payload
    ),
    fields: { cmd: "publish", topic: "t", payload: "abc", qos: 1, retain: false, dup: true, messageId: 0x1234 },
  },
  {
    name: "PUBLISH QoS 2, retained, packet id 65535, binary payload [3.3.1.2]",
    bytes: bytes(
      0x35, // PUBLISH, QoS 2 (0x04) | retain (0x01)
      10, // remaining length: 5 topic + 2 id + 3 payload
      0x00, 0x03, "a/b", // topic
      0xff, 0xff, // packet id 65535
      0x00, 0xff, 0x80, // payload: three raw bytes
    ),
    fields: { cmd: "publish", topic: "a/b", payload: bytes(0x00, 0xff, 0x80), qos: 2, retain: true, dup: false, messageId: 65535 },
  },
  {
    name: "PUBLISH QoS 2 with DUP and retain [3.3.1]",
    bytes: bytes(
      0x3d, // PUBLISH, DUP (0x08) | QoS 2 (0x04) | retain (0x01)
      6, // remaining length: 3 topic + 2 id + 1 payload
      0x00, 0x01, "t", // topic
      0x00, 0x01, // packet id 1
      "1", // payload
    ),
    fields: { cmd: "publish", topic: "t", payload: "1", qos: 2, retain: true, dup: true, messageId: 1 },
  },
  {
    name: "PUBLISH QoS 1 retained, from the broker [3.3]",
    bytes: bytes(
      0x33, // PUBLISH QoS 1, retain
      0x07, // remaining length 7
      0x00, 0x01, "t", // topic
      0x00, 0x05, // packet id 5
      "on", // payload
    ),
    fields: { cmd: "publish", topic: "t", payload: "on", qos: 1, retain: true, dup: false, messageId: 5 },
  },
  {
    name: "PUBLISH with a UTF-8 topic carried as its bytes, empty payload [1.5.3]",
    bytes: bytes(
      0x30, // PUBLISH
      11, // remaining length: 2 + 9 topic, empty payload
      0x00, 0x09, // topic length 9
      "caf", 0xc3, 0xa9, // c a f, é as c3 a9
      "/", 0xe2, 0x82, 0xac, // /, € as e2 82 ac
    ),
    fields: { cmd: "publish", topic: utf8("café/€"), payload: "", qos: 0, retain: false, dup: false },
  },
  {
    name: "PUBLISH with a 4-byte UTF-8 character in its topic [1.5.3]",
    bytes: bytes(
      0x30, // PUBLISH
      8, // remaining length: 6 topic + 2 payload
      0x00, 0x04, // topic length 4
      0xf0, 0x9f, 0x92, 0xa1, // U+1F4A1 (light bulb) in 4 bytes
      "on", // payload
    ),
    fields: { cmd: "publish", topic: utf8("\u{1f4a1}"), payload: "on", qos: 0, retain: false, dup: false },
  },
  boundary(127, [0x7f], "the largest 1-byte length"),
  boundary(128, [0x80, 0x01], "the smallest 2-byte length (tinyMQTT's limit)"),
  boundary(16383, [0xff, 0x7f], "the largest 2-byte length"),
  boundary(16384, [0x80, 0x80, 0x01], "the smallest 3-byte length"),
  boundary(2097151, [0xff, 0xff, 0x7f], "the largest 3-byte length"),
  boundary(2097152, [0x80, 0x80, 0x80, 0x01], "the smallest 4-byte length"),

  // PUBACK, PUBREC, PUBREL, PUBCOMP [3.4-3.7]
  {
    name: "PUBACK [3.4]",
    bytes: bytes(0x40, 0x02, 0x01, 0x02), // PUBACK, remaining length 2, packet id 258
    fields: { cmd: "puback", messageId: 258 },
  },
  {
    name: "PUBREC [3.5]",
    bytes: bytes(0x50, 0x02, 0x00, 0x07), // PUBREC, remaining length 2, packet id 7
    fields: { cmd: "pubrec", messageId: 7 },
  },
  {
    name: "PUBREL, fixed-header flags 0010 [3.6.1]",
    bytes: bytes(0x62, 0x02, 0x00, 0x07), // PUBREL with flags 0010, remaining length 2, packet id 7
    fields: { cmd: "pubrel", messageId: 7 },
  },
  {
    name: "PUBCOMP with packet id 65535 [3.7]",
    bytes: bytes(0x70, 0x02, 0xff, 0xff), // PUBCOMP, remaining length 2, packet id 65535
    fields: { cmd: "pubcomp", messageId: 65535 },
  },

  // SUBSCRIBE, UNSUBSCRIBE [3.8, 3.10]
  {
    name: "SUBSCRIBE with one topic filter [3.8]",
    bytes: bytes(
      0x82, // SUBSCRIBE, reserved flags 0010
      8, // remaining length
      0x00, 0x01, // packet id 1
      0x00, 0x03, "led", // filter
      0x00, // requested QoS 0
    ),
    fields: { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "led", qos: 0 }] },
  },
  {
    name: "SUBSCRIBE with three topic filters and QoS 0, 1, 2 in one packet [3.8.3]",
    bytes: bytes(
      0x82, // SUBSCRIBE, reserved flags 0010
      20, // remaining length
      0x01, 0x00, // packet id 256
      0x00, 0x03, "led", // filter
      0x00, // requested QoS 0
      0x00, 0x03, "a/#", // filter
      0x01, // requested QoS 1
      0x00, 0x03, "+/x", // filter
      0x02, // requested QoS 2
    ),
    fields: {
      cmd: "subscribe",
      messageId: 256,
      subscriptions: [
        { topic: "led", qos: 0 },
        { topic: "a/#", qos: 1 },
        { topic: "+/x", qos: 2 },
      ],
    },
  },
  {
    name: "UNSUBSCRIBE with one topic filter [3.10]",
    bytes: bytes(
      0xa2, // UNSUBSCRIBE, reserved flags 0010
      7, // remaining length
      0x00, 0x03, // packet id 3
      0x00, 0x03, "led", // filter
    ),
    fields: { cmd: "unsubscribe", messageId: 3, unsubscriptions: ["led"] },
  },
  {
    name: "UNSUBSCRIBE with two topic filters [3.10]",
    bytes: bytes(
      0xa2, // UNSUBSCRIBE, reserved flags 0010
      12, // remaining length
      0x00, 0x02, // packet id 2
      0x00, 0x03, "led", // filter
      0x00, 0x03, "a/#", // filter
    ),
    fields: { cmd: "unsubscribe", messageId: 2, unsubscriptions: ["led", "a/#"] },
  },

  // PINGREQ, DISCONNECT [3.12, 3.14]
  { name: "PINGREQ [3.12]", bytes: bytes(0xc0, 0x00), fields: { cmd: "pingreq" } }, // PINGREQ, remaining length 0
  { name: "DISCONNECT [3.14]", bytes: bytes(0xe0, 0x00), fields: { cmd: "disconnect" } }, // DISCONNECT, remaining length 0

  // CONNACK [3.2]
  {
    name: "CONNACK accepted, no session [3.2]",
    bytes: bytes(
      0x20, // CONNACK
      0x02, // remaining length 2
      0x00, // acknowledge flags: no session present
      0x00, // return code 0: accepted
    ),
    fields: { cmd: "connack", sessionPresent: false, returnCode: 0 },
  },
  {
    name: "CONNACK accepted, session present [3.2.2.2]",
    bytes: bytes(
      0x20, // CONNACK
      0x02, // remaining length 2
      0x01, // acknowledge flags: session present
      0x00, // return code 0: accepted
    ),
    fields: { cmd: "connack", sessionPresent: true, returnCode: 0 },
  },
  ...[1, 2, 3, 4, 5].map((code): Fixture => ({
    name: `CONNACK refused with return code ${code} [3.2.2.3]`,
    bytes: bytes(0x20, 0x02, 0x00, code), // CONNACK, remaining length 2, no session, return code
    fields: { cmd: "connack", sessionPresent: false, returnCode: code },
  })),

  // SUBACK, UNSUBACK [3.9, 3.11]
  {
    name: "SUBACK granting QoS 1 [3.9]",
    bytes: bytes(
      0x90, // SUBACK
      0x03, // remaining length 3
      0x00, 0x01, // packet id 1
      0x01, // granted QoS 1
    ),
    fields: { cmd: "suback", messageId: 1, granted: [1] },
  },
  {
    name: "SUBACK with every return code: QoS 0, 1, 2 and failure 0x80 [3.9.3]",
    bytes: bytes(
      0x90, // SUBACK
      0x06, // remaining length 6
      0x00, 0x07, // packet id 7
      0x00, // granted QoS 0
      0x01, // granted QoS 1
      0x02, // granted QoS 2
      0x80, // failure
    ),
    fields: { cmd: "suback", messageId: 7, granted: [0, 1, 2, 0x80] },
  },
  {
    name: "UNSUBACK [3.11]",
    bytes: bytes(0xb0, 0x02, 0x00, 0x09), // UNSUBACK, remaining length 2, packet id 9
    fields: { cmd: "unsuback", messageId: 9 },
  },

  // PINGRESP [3.13]
  { name: "PINGRESP [3.13]", bytes: bytes(0xd0, 0x00), fields: { cmd: "pingresp" } }, // PINGRESP, remaining length 0
];

describe("fixtures: encode, decode, round trip", () => {
  for (const f of FIXTURES) {
    const fromBroker = FROM_BROKER.has(f.fields.cmd);
    const written = f.encode?.() ?? deviceEncode(f.fields);
    describe(f.name, () => {
      test("encode", () => {
        if (written !== undefined) assert.equal(hex(written), hex(f.bytes), "the device's encoder");
        // The fixture is right: mqtt-packet writes the same bytes.
        assert.equal(hex(oracleGenerate(f.fields)), hex(f.bytes), "mqtt-packet");
      });
      test("decode", () => {
        if (fromBroker) {
          const { packets, errors, held } = decodeAll(f.bytes);
          assert.deepEqual(errors, []);
          assert.deepEqual(packets, [devicePacket(f.fields)], "the device's reader");
          assert.equal(held, 0);
        }
        // The fixture is right: mqtt-packet reads the same fields.
        const oracle = oracleParse(f.bytes);
        assert.equal(oracle.error, undefined);
        assert.deepEqual(oracle.packets, [f.fields], "mqtt-packet");
      });
      test("round trip: bytes to fields to bytes", () => {
        // The device does both sides where it has them; mqtt-packet stands in for the side it lacks.
        const decoded = fromBroker ? fieldsOf(decodePacket(f.bytes.charCodeAt(0), f.bytes.slice(f.bytes.length - bodyLength(f.bytes))) as Packet) : oracleParse(f.bytes).packets[0]!;
        const again = written !== undefined ? (f.encode ? f.encode() : deviceEncode(decoded)!) : oracleGenerate(decoded);
        assert.equal(hex(again), hex(f.bytes));
      });
      test("explain", () => {
        const [explained, ...rest] = explainStream(f.bytes);
        assert.equal(rest.length, 0);
        assert.equal(explained!.error, undefined, explained!.error?.text);
        assert.equal(explained!.disagreement, undefined);
        assert.equal(explained!.incomplete, undefined);
        assert.equal(explained!.type, TYPES[f.fields.cmd]);
        if (!fromBroker || f.fields.cmd === "publish" || f.fields.cmd.startsWith("pub")) {
          if (written !== undefined) assert.match(explained!.codec.join("\n"), /writes exactly these bytes/);
        }
      });
    });
  }
});

/** The body's length: the bytes after the remaining length field. */
function bodyLength(packet: string): number {
  let at = 1;
  while (packet.charCodeAt(at) & 128) at++;
  return packet.length - at - 1;
}

// ---- malformed input

interface Malformed {
  name: string;
  bytes: string;
  error: DecodeError;
  /** The first malformed byte the explainer names; null where the bytes are a well-formed packet a client sends. */
  at: number | null;
}

/** A PUBLISH QoS 0 whose topic is these bytes, with payload "x": for the UTF-8 cases. */
function topicCase(name: string, topic: number[], at: number): Malformed {
  return {
    name: `PUBLISH topic with ${name} [MQTT-1.5.3-1]`,
    bytes: bytes(
      0x30, // PUBLISH
      topic.length + 3, // remaining length: topic length, topic, payload "x"
      0x00, topic.length, // topic length
      ...topic, // topic bytes
      "x", // payload
    ),
    error: DecodeError.BadTopic,
    at,
  };
}

const MALFORMED: Malformed[] = [
  {
    name: "a fifth remaining-length byte [2.2.3]",
    bytes: bytes(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), // PUBLISH, then 4 length bytes that all say "one more"
    error: DecodeError.BadLength,
    at: 4,
  },
  {
    name: "a fifth remaining-length byte still to come",
    bytes: bytes(0x20, 0x80, 0x80, 0x80, 0x80), // CONNACK, 4 length bytes with the continuation bit
    error: DecodeError.BadLength,
    at: 4,
  },
  { name: "packet type 0 [2.2.1]", bytes: bytes(0x00, 0x00), error: DecodeError.BadType, at: 0 }, // reserved type 0, length 0
  { name: "packet type 0 with flags", bytes: bytes(0x0f, 0x00), error: DecodeError.BadType, at: 0 }, // reserved type 0, flags 1111
  { name: "packet type 15 [2.2.1]", bytes: bytes(0xf0, 0x00), error: DecodeError.BadType, at: 0 }, // reserved type 15
  {
    name: "a CONNECT sent to a client",
    bytes: bytes(0x10, 0x0c, 0x00, 0x04, "MQTT", 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00), // a well-formed CONNECT, empty client id
    error: DecodeError.BadType,
    at: null,
  },
  {
    name: "a SUBSCRIBE sent to a client",
    bytes: bytes(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, "a", 0x00), // a well-formed SUBSCRIBE to "a"
    error: DecodeError.BadType,
    at: null,
  },
  {
    name: "a SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]",
    bytes: bytes(0x80, 0x06, 0x00, 0x01, 0x00, 0x01, "a", 0x00), // SUBSCRIBE whose reserved flags are 0000, not 0010
    error: DecodeError.BadType, // to a client it is the wrong type first
    at: 0,
  },
  {
    name: "an UNSUBSCRIBE sent to a client",
    bytes: bytes(0xa2, 0x05, 0x00, 0x01, 0x00, 0x01, "a"), // a well-formed UNSUBSCRIBE of "a"
    error: DecodeError.BadType,
    at: null,
  },
  { name: "a PINGREQ sent to a client", bytes: bytes(0xc0, 0x00), error: DecodeError.BadType, at: null }, // PINGREQ
  { name: "a DISCONNECT sent to a client", bytes: bytes(0xe0, 0x00), error: DecodeError.BadType, at: null }, // DISCONNECT
  { name: "PUBREL with flags 0000 [MQTT-3.6.1-1]", bytes: bytes(0x60, 0x02, 0x00, 0x01), error: DecodeError.BadFlags, at: 0 }, // PUBREL must carry 0010
  { name: "PUBACK with flags 0010 [2.2.2]", bytes: bytes(0x42, 0x02, 0x00, 0x01), error: DecodeError.BadFlags, at: 0 }, // PUBACK must carry 0000
  { name: "PUBCOMP with flags 0001", bytes: bytes(0x71, 0x02, 0x00, 0x01), error: DecodeError.BadFlags, at: 0 }, // PUBCOMP, flags 0001
  { name: "CONNACK with flags 0001", bytes: bytes(0x21, 0x02, 0x00, 0x00), error: DecodeError.BadFlags, at: 0 }, // CONNACK, flags 0001
  { name: "SUBACK with flags 0010", bytes: bytes(0x92, 0x03, 0x00, 0x01, 0x00), error: DecodeError.BadFlags, at: 0 }, // SUBACK, flags 0010
  { name: "UNSUBACK with flags 0100", bytes: bytes(0xb4, 0x02, 0x00, 0x01), error: DecodeError.BadFlags, at: 0 }, // UNSUBACK, flags 0100
  { name: "PINGRESP with flags 1000", bytes: bytes(0xd8, 0x00), error: DecodeError.BadFlags, at: 0 }, // PINGRESP, flags 1000
  {
    name: "PUBLISH with QoS 3 [MQTT-3.3.1-4]",
    bytes: bytes(0x36, 0x03, 0x00, 0x01, "t"), // PUBLISH, QoS bits 11; topic "t"
    error: DecodeError.BadFlags,
    at: 0,
  },
  {
    name: "PUBLISH with QoS 3 and a topic past the end: the flags come first",
    bytes: bytes(0x3f, 0x02, 0x00, 0x09), // PUBLISH, DUP | QoS 3 | retain; topic length 9 in a 2-byte body
    error: DecodeError.BadFlags,
    at: 0,
  },
  { name: "CONNACK of 3 bytes [3.2]", bytes: bytes(0x20, 0x03, 0x00, 0x00, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 3
  { name: "CONNACK of 1 byte", bytes: bytes(0x20, 0x01, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 1
  { name: "CONNACK of 0 bytes", bytes: bytes(0x20, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 0
  { name: "PUBACK of 3 bytes", bytes: bytes(0x40, 0x03, 0x00, 0x01, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 3
  { name: "PUBCOMP of 1 byte", bytes: bytes(0x70, 0x01, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 1
  { name: "UNSUBACK of 0 bytes", bytes: bytes(0xb0, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 0
  { name: "SUBACK without a return code [3.9.3]", bytes: bytes(0x90, 0x02, 0x00, 0x01), error: DecodeError.BadSize, at: 1 }, // id only
  { name: "PINGRESP with a body", bytes: bytes(0xd0, 0x01, 0x00), error: DecodeError.BadSize, at: 1 }, // remaining length 1
  { name: "PUBLISH of 0 bytes", bytes: bytes(0x30, 0x00), error: DecodeError.BadSize, at: 1 }, // no room for the topic length
  { name: "PUBLISH of 1 byte", bytes: bytes(0x30, 0x01, 0x00), error: DecodeError.BadSize, at: 1 }, // half a topic length
  {
    name: "PUBLISH topic length past the end [3.3.2.1]",
    bytes: bytes(0x30, 0x03, 0x00, 0x05, "t"), // PUBLISH, length 3, topic length 5 but 1 byte left
    error: DecodeError.BadSize,
    at: 2,
  },
  {
    name: "PUBLISH topic length one past the end",
    bytes: bytes(0x30, 0x04, 0x00, 0x03, "ab"), // PUBLISH, length 4, topic length 3 but 2 bytes left
    error: DecodeError.BadSize,
    at: 2,
  },
  {
    name: "PUBLISH QoS 1 without room for the packet id [3.3.2.2]",
    bytes: bytes(0x32, 0x03, 0x00, 0x01, "t"), // PUBLISH QoS 1, length 3: topic "t", no id
    error: DecodeError.BadSize,
    at: 1,
  },
  {
    name: "PUBLISH QoS 2 with one byte of packet id",
    bytes: bytes(0x34, 0x04, 0x00, 0x01, "t", 0x00), // PUBLISH QoS 2, length 4: topic "t", half an id
    error: DecodeError.BadSize,
    at: 1,
  },
  {
    name: "PUBLISH with an empty topic [MQTT-4.7.3-1]",
    bytes: bytes(0x30, 0x04, 0x00, 0x00, "on"), // PUBLISH, topic length 0, payload "on"
    error: DecodeError.BadTopic,
    at: 2,
  },
  topicCase("U+0000", [0x61, 0x00, 0x62], 5), // a, NUL, b
  topicCase("a stray continuation byte", [0x61, 0x80, 0x62], 5), // a, 80 with no lead, b
  topicCase("a lead byte without its continuation", [0xc3, 0x28, 0x61], 5), // c3 wants 80-bf, gets "("
  topicCase("a sequence cut by the topic's end", [0x61, 0xe2, 0x82], 5), // a, then 2 of the 3 bytes of €
  topicCase("an overlong 2-byte form", [0xc0, 0xaf], 4), // c0 af: "/" in 2 bytes
  topicCase("an overlong U+0000", [0xc0, 0x80], 4), // c0 80: NUL in 2 bytes (Java's modified UTF-8)
  topicCase("an overlong 3-byte form", [0xe0, 0x80, 0xaf], 5), // e0 80 af: "/" in 3 bytes
  topicCase("an overlong 4-byte form", [0xf0, 0x8f, 0xbf, 0xbf], 5), // f0 8f bf bf: U+FFFF in 4 bytes
  topicCase("a UTF-16 surrogate [MQTT-1.5.3-1]", [0xed, 0xa0, 0x80], 5), // ed a0 80: U+D800
  topicCase("a code point past U+10FFFF", [0xf4, 0x90, 0x80, 0x80], 5), // f4 90 80 80: U+110000
  topicCase("byte f5", [0xf5, 0x80, 0x80, 0x80], 4), // f5 never appears in UTF-8
  topicCase("byte ff", [0x61, 0xff], 5), // a, then ff
  {
    name: "CONNACK with reserved flag bits [3.2.2.1]",
    bytes: bytes(0x20, 0x02, 0x02, 0x00), // CONNACK, acknowledge flags 0000 0010: bit 1 is reserved
    error: DecodeError.BadValue,
    at: 2,
  },
  {
    name: "SUBACK with return code 3 [3.9.3]",
    bytes: bytes(0x90, 0x03, 0x00, 0x01, 0x03), // SUBACK, id 1, return code 3
    error: DecodeError.BadValue,
    at: 4,
  },
  {
    name: "SUBACK with return code 0x81 after a good one",
    bytes: bytes(0x90, 0x04, 0x00, 0x01, 0x01, 0x81), // SUBACK, id 1, QoS 1, then 0x81
    error: DecodeError.BadValue,
    at: 5,
  },
];

const PINGRESP_BYTES = bytes(0xd0, 0x00);

describe("malformed input gives an error code, never an exception", () => {
  for (const m of MALFORMED) {
    test(m.name, () => {
      // The reader reports it once, with its size, and goes on with the next packet (but after BadLength).
      const follow = m.error == DecodeError.BadLength ? "" : PINGRESP_BYTES;
      const { packets, errors, held } = decodeAll(m.bytes + follow);
      assert.deepEqual(errors, [[m.error, m.error == DecodeError.BadLength ? 0 : m.bytes.length]]);
      assert.deepEqual(packets, follow ? [{ type: PacketType.Pingresp, flags: 0 }] : []);
      assert.equal(held, 0);
      if (m.error != DecodeError.BadLength) {
        assert.equal(decodePacket(m.bytes.charCodeAt(0), m.bytes.slice(m.bytes.length - bodyLength(m.bytes))), m.error);
      }
      // The explainer names the first malformed byte, and agrees with the device.
      const explained = explainStream(m.bytes)[0]!;
      assert.equal(explained.disagreement, undefined);
      if (m.at === null) {
        assert.equal(explained.error, undefined, explained.error?.text);
      } else {
        assert.equal(explained.error?.at, m.at, explained.error?.text);
        if (m.error != DecodeError.BadType || m.at === 0) assert.match(describePacket(m.bytes), new RegExp(`MALFORMED at byte ${m.at}`));
      }
    });
  }
});

describe("remaining length [2.2.3]", () => {
  const boundaries: Array<[number, number[]]> = [
    [0, [0x00]],
    [127, [0x7f]], // largest 1-byte length
    [128, [0x80, 0x01]], // smallest 2-byte length
    [16383, [0xff, 0x7f]], // largest 2-byte length
    [16384, [0x80, 0x80, 0x01]], // smallest 3-byte length
    [2097151, [0xff, 0xff, 0x7f]], // largest 3-byte length
    [2097152, [0x80, 0x80, 0x80, 0x01]], // smallest 4-byte length
    [268435455, [0xff, 0xff, 0xff, 0x7f]], // largest length MQTT allows
  ];
  for (const [length, encoded] of boundaries) {
    test(`${length} is ${encoded.length} byte(s), and is read back`, () => {
      assert.equal(hex(encodeLength(length)), hex(bytes(...encoded)));
      // The reader takes the length from the header alone: a PUBLISH of this length, capped below it, is skipped.
      const errors: Array<[DecodeError, number]> = [];
      const read = createReader(64, () => assert.fail("no packet"), (e, _f, size) => errors.push([e, size]));
      read(bytes(0x30, ...encoded));
      if (length + 1 + encoded.length > 64) assert.deepEqual(errors, [[DecodeError.TooLarge, length + 1 + encoded.length]]);
    });
  }

  test("a longer than needed length (0x80 0x00 for 0) is read as 0", () => {
    const { packets } = decodeAll(bytes(0xd0, 0x80, 0x00)); // PINGRESP, remaining length 0 in 2 bytes
    assert.deepEqual(packets, [{ type: PacketType.Pingresp, flags: 0 }]);
  });
});

describe("the incremental reader", () => {
  const connack = bytes(0x20, 0x02, 0x00, 0x00); // CONNACK accepted
  const publish = bytes(0x30, 0x07, 0x00, 0x03, "led", "on"); // PUBLISH led "on"
  const pingresp = bytes(0xd0, 0x00); // PINGRESP

  test("a packet split into single bytes", () => {
    const packets: Packet[] = [];
    const read = createReader(1024, (p) => packets.push(p), () => assert.fail("no error expected"));
    const held: number[] = [];
    for (const byte of connack + publish) held.push(read(byte));
    assert.deepEqual(packets.map((p) => p.type), [2, 3]);
    assert.equal(packets[1]?.payload, "on");
    assert.deepEqual(held, [1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
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
    const big = qos0("led", "x".repeat(5000));
    const packets: Packet[] = [];
    const errors: Array<[DecodeError, number]> = [];
    const read = createReader(1024, (p) => packets.push(p), (e, _first, size) => errors.push([e, size]));
    const stream = big + publish;
    let most = 0;
    for (let at = 0; at < stream.length; at += 536) most = Math.max(most, read(stream.slice(at, at + 536)));
    assert.deepEqual(errors, [[DecodeError.TooLarge, big.length]]);
    assert.deepEqual(packets.map((p) => p.payload), ["on"]);
    assert.ok(most < 1024, `held ${most} bytes`);
  });

  test("an oversized packet inside one read is skipped too", () => {
    const big = qos0("led", "x".repeat(300));
    const { packets, errors, held } = decodeAll(connack + big + pingresp, 100);
    assert.deepEqual(errors, [[DecodeError.TooLarge, big.length]]);
    assert.deepEqual(packets.map((p) => p.type), [2, 13]);
    assert.equal(held, 0);
  });

  test("an oversized packet ending inside a read, with the next packet in the same read", () => {
    const big = qos0("led", "x".repeat(300));
    const packets: Packet[] = [];
    const errors: DecodeError[] = [];
    const read = createReader(100, (p) => packets.push(p), (e) => errors.push(e));
    read(big.slice(0, 50));
    read(big.slice(50, 200));
    read(big.slice(200) + pingresp + connack.slice(0, 1));
    assert.equal(read(connack.slice(1)), 0);
    assert.deepEqual(errors, [DecodeError.TooLarge]);
    assert.deepEqual(packets.map((p) => p.type), [13, 2]);
  });

  test("a packet exactly at the cap is accepted, one byte more is not", () => {
    const header = qos0("led", "");
    const payload = "y".repeat(100 - header.length);
    const exact = qos0("led", payload);
    assert.equal(exact.length, 100);
    assert.deepEqual(decodeAll(exact, 100).errors, []);
    assert.deepEqual(decodeAll(exact, 99).errors, [[DecodeError.TooLarge, 100]]);
  });

  test("a callback may feed the reader again: packets stay in order", () => {
    const types: number[] = [];
    let fed = false;
    const read = createReader(
      1024,
      (p) => {
        types.push(p.type);
        if (!fed) {
          fed = true;
          read(connack);
        }
      },
      () => assert.fail("no error expected"),
    );
    read(pingresp + publish);
    assert.deepEqual(types, [13, 3, 2]);
  });

  test("after BadLength the reader drops what it held", () => {
    const errors: DecodeError[] = [];
    const read = createReader(1024, () => undefined, (e) => errors.push(e));
    assert.equal(read(bytes(0x30, 0x80, 0x80, 0x80, 0x80, 0x01, 0x02, 0x03)), 0);
    assert.deepEqual(errors, [DecodeError.BadLength]);
  });
});
