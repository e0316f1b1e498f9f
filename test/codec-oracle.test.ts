// The device codec against an independent implementation, mqtt-packet (tests only, never in the bundle), with
// fast-check properties on fixed seeds (set CODEC_SEED to try another; a failure prints its seed and path):
// - every packet our encoders write, mqtt-packet parses to the same fields;
// - every packet mqtt-packet writes (of the types a client receives), our decoder reads to the same fields;
// - any split of a stream of packets into reads of any sizes gives the same packets and errors;
// - whatever our decoder accepts from mutated packets, mqtt-packet reads to the same fields.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as mqtt from "mqtt-packet";
import {
  createReader,
  DecodeError,
  encodeAck,
  encodeConnect,
  encodePublishHeader,
  encodeSubscribe,
  encodeUnsubscribe,
  FixedPacket,
  Packet,
  PacketType,
} from "../firmware/mqtt/packet.ts";

const SEED = Number(process.env.CODEC_SEED ?? 20240614);
/** Runs per property and packet kind; the totals are printed at the end. */
const RUNS = 1000;
let totalRuns = 0;
let differentialAccepted = 0;

function check<T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns = RUNS): void {
  totalRuns += numRuns;
  fc.assert(fc.property(arbitrary, predicate), { seed: SEED, numRuns });
}

// ---- bytes and text

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
const utf8Bytes = (text: string) => Buffer.from(text, "utf8").toString("latin1");
const asBuffer = (bytes: string) => Buffer.from(bytes, "latin1");

/** A topic or filter as text: 1 to 40 characters of all Unicode (no U+0000), mostly ASCII. */
const topicText = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }) },
  )
  .filter((t) => t.length > 0 && !t.includes("\0"));
/** Any text, UTF-8 without U+0000 (client ids, user names). */
const text = fc.string({ unit: "binary", maxLength: 23 }).filter((t) => !t.includes("\0"));
/** Payload bytes: mostly short, sometimes across the 127/128 and 16383/16384 length boundaries. */
const payload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }).map(latin1) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 17000 }).map((n) => "\xa5".repeat(n)) },
);
const qos = fc.integer({ min: 0, max: 2 });
const id = fc.integer({ min: 1, max: 65535 });

// ---- mqtt-packet

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function oracleParse(stream: string): { packets: any[]; error?: Error } {
  const parser = mqtt.parser({ protocolVersion: 4 });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const packets: any[] = [];
  let error: Error | undefined;
  parser.on("packet", (p) => packets.push(p));
  parser.on("error", (e) => (error ??= e));
  parser.parse(asBuffer(stream));
  return { packets, ...(error ? { error } : {}) };
}

function generate(packet: mqtt.Packet): string {
  return mqtt.generate(packet, { protocolVersion: 4 }).toString("latin1");
}

/** Our reader over one stream: what it calls back, in order, and then "held" if it keeps bytes of a packet to come. */
function readAll(stream: string, max = 1 << 30): Array<Packet | [DecodeError, number] | "held"> {
  const out: Array<Packet | [DecodeError, number] | "held"> = [];
  if (createReader(max, (p) => out.push(p), (e, _first, size) => out.push([e, size]))(stream)) out.push("held");
  return out;
}

describe("our encoders, read by mqtt-packet", () => {
  test("CONNECT: client id, keepalive, clean session, Will, user name, password", () => {
    const connect = fc.record(
      {
        clientId: text,
        keepalive: fc.integer({ min: 0, max: 65535 }),
        clean: fc.boolean(),
        will: fc.option(fc.record({ topic: topicText, payload, qos, retain: fc.boolean() }), { nil: undefined }),
        username: fc.option(text, { nil: undefined }),
        password: fc.option(fc.uint8Array({ maxLength: 40 }).map(latin1), { nil: undefined }),
      },
      { requiredKeys: ["clientId", "keepalive", "clean"] },
    );
    check(connect, (c) => {
      const will = c.will ? { topic: utf8Bytes(c.will.topic), payload: c.will.payload, qos: c.will.qos, retain: c.will.retain } : undefined;
      const bytes = encodeConnect({
        clientId: utf8Bytes(c.clientId),
        keepalive: c.keepalive,
        clean: c.clean,
        ...(will ? { will } : {}),
        ...(c.username !== undefined ? { username: utf8Bytes(c.username) } : {}),
        ...(c.password !== undefined ? { password: c.password } : {}),
      });
      const { packets, error } = oracleParse(bytes);
      assert.equal(error, undefined);
      assert.equal(packets.length, 1);
      const p = packets[0];
      assert.equal(p.cmd, "connect");
      assert.equal(p.length, bytes.length - (bytes.length - 2 > 127 ? (bytes.length - 3 > 16383 ? 4 : 3) : 2));
      assert.equal(p.protocolId, "MQTT");
      assert.equal(p.protocolVersion, 4);
      assert.equal(p.clientId, c.clientId);
      assert.equal(p.keepalive, c.keepalive);
      assert.equal(p.clean, c.clean);
      if (c.will) {
        assert.equal(p.will.topic, c.will.topic);
        assert.equal(p.will.payload.toString("latin1"), c.will.payload);
        assert.equal(p.will.qos, c.will.qos);
        assert.equal(p.will.retain, c.will.retain);
      } else assert.equal(p.will, undefined);
      // A password without a user name goes with an empty user name [MQTT-3.1.2-22].
      assert.equal(p.username, c.username ?? (c.password !== undefined ? "" : undefined));
      assert.equal(p.password?.toString("latin1"), c.password);
    });
  });

  test("PUBLISH: topic, payload written after the header, QoS 0/1/2, retain, DUP, packet id", () => {
    check(fc.record({ topic: topicText, payload, qos, retain: fc.boolean(), dup: fc.boolean(), id }), (m) => {
      const header = encodePublishHeader({ topic: utf8Bytes(m.topic), payload: m.payload, qos: m.qos, retain: m.retain, id: m.id }, m.dup);
      const { packets, error } = oracleParse(header + m.payload);
      assert.equal(error, undefined);
      assert.equal(packets.length, 1);
      const p = packets[0];
      assert.deepEqual(
        { cmd: p.cmd, topic: p.topic, payload: p.payload.toString("latin1"), qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.messageId },
        { cmd: "publish", topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: m.dup, messageId: m.qos ? m.id : undefined },
      );
    });
  });

  test("PUBACK, PUBREC, PUBREL, PUBCOMP", () => {
    const kinds = ["puback", "pubrec", "pubrel", "pubcomp"] as const;
    check(fc.record({ kind: fc.integer({ min: 0, max: 3 }), id: fc.integer({ min: 0, max: 65535 }) }), (a) => {
      const { packets, error } = oracleParse(encodeAck((PacketType.Puback + a.kind) as PacketType, a.id));
      assert.equal(error, undefined);
      assert.deepEqual(packets.map((p) => [p.cmd, p.messageId]), [[kinds[a.kind], a.id]]);
    });
  });

  test("SUBSCRIBE with several topic filters and their QoS", () => {
    check(fc.record({ id, filters: fc.array(fc.record({ topic: topicText, qos }), { minLength: 1, maxLength: 8 }) }), (s) => {
      const bytes = encodeSubscribe(s.id, s.filters.map((f) => utf8Bytes(f.topic)), s.filters.map((f) => f.qos));
      const { packets, error } = oracleParse(bytes);
      assert.equal(error, undefined);
      assert.equal(packets.length, 1);
      assert.equal(packets[0].cmd, "subscribe");
      assert.equal(packets[0].messageId, s.id);
      assert.deepEqual(packets[0].subscriptions, s.filters.map((f) => ({ topic: f.topic, qos: f.qos })));
    });
  });

  test("UNSUBSCRIBE with several topic filters", () => {
    check(fc.record({ id, filters: fc.array(topicText, { minLength: 1, maxLength: 8 }) }), (u) => {
      const { packets, error } = oracleParse(encodeUnsubscribe(u.id, u.filters.map(utf8Bytes)));
      assert.equal(error, undefined);
      assert.deepEqual(packets.map((p) => [p.cmd, p.messageId, p.unsubscriptions]), [["unsubscribe", u.id, u.filters]]);
    });
  });

  test("PINGREQ and DISCONNECT", () => {
    assert.deepEqual(oracleParse(FixedPacket.Pingreq + FixedPacket.Disconnect).packets.map((p) => p.cmd), ["pingreq", "disconnect"]);
  });
});

// ---- packets a broker sends, written by mqtt-packet

/** A packet a broker may send, as mqtt-packet's input, with the Packet our decoder must make of it. */
const brokerPacket: fc.Arbitrary<{ packet: mqtt.Packet; expected: Packet }> = fc.oneof(
  fc.record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 255 }) }).map((c) => ({
    packet: { cmd: "connack" as const, ...c },
    expected: { type: PacketType.Connack, flags: 0, sessionPresent: c.sessionPresent, code: c.returnCode },
  })),
  fc.record({ topic: topicText, payload, qos, retain: fc.boolean(), dup: fc.boolean(), id }).map((m) => ({
    packet: { cmd: "publish" as const, topic: m.topic, payload: asBuffer(m.payload), qos: m.qos as 0, retain: m.retain, dup: m.dup, messageId: m.id },
    expected: {
      type: PacketType.Publish,
      flags: (m.dup ? 8 : 0) | (m.qos << 1) | (m.retain ? 1 : 0),
      topic: utf8Bytes(m.topic),
      ...(m.qos ? { id: m.id } : {}),
      payload: m.payload,
      qos: m.qos,
      retain: m.retain,
      dup: m.dup,
    },
  })),
  fc.record({ kind: fc.constantFrom("puback", "pubrec", "pubrel", "pubcomp", "unsuback"), id: fc.integer({ min: 0, max: 65535 }) }).map((a) => {
    const type = { puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7, unsuback: 11 }[a.kind] as PacketType;
    return { packet: { cmd: a.kind, messageId: a.id } as mqtt.Packet, expected: { type, flags: type == PacketType.Pubrel ? 2 : 0, id: a.id } };
  }),
  fc.record({ id: fc.integer({ min: 0, max: 65535 }), granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 20 }) }).map((s) => ({
    packet: { cmd: "suback" as const, messageId: s.id, granted: s.granted },
    expected: { type: PacketType.Suback, flags: 0, id: s.id, granted: s.granted },
  })),
  fc.constant({ packet: { cmd: "pingresp" } as mqtt.Packet, expected: { type: PacketType.Pingresp, flags: 0 } }),
);

describe("mqtt-packet's packets, read by our decoder", () => {
  test("CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP", () => {
    check(brokerPacket, (b) => {
      assert.deepEqual(readAll(generate(b.packet)), [b.expected]);
    }, RUNS * 6);
  });
});

describe("chunking", () => {
  test("any split of a stream into reads of any sizes gives the same packets and errors", () => {
    const scenario = fc.record({
      packets: fc.array(brokerPacket, { minLength: 1, maxLength: 10 }),
      cuts: fc.array(fc.nat(), { maxLength: 12 }),
      max: fc.oneof(fc.constant(1 << 30), fc.integer({ min: 2, max: 300 })),
    });
    check(scenario, (s) => {
      const stream = s.packets.map((p) => generate(p.packet)).join("");
      const whole = readAll(stream, s.max);
      if (s.max == 1 << 30) assert.deepEqual(whole, s.packets.map((p) => p.expected));
      const cuts = [...new Set(s.cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const events: Array<Packet | [DecodeError, number] | "held"> = [];
      const read = createReader(s.max, (p) => events.push(p), (e, _first, size) => events.push([e, size]));
      let from = 0;
      for (const to of [...cuts, stream.length]) {
        const held = read(stream.slice(from, to));
        assert.ok(held < Math.max(s.max, 5), `holds ${held} bytes with a cap of ${s.max}`);
        from = to;
      }
      assert.deepEqual(events, whole.filter((e) => e !== "held"));
    }, RUNS * 3);
  });
});

describe("differential: what we accept, mqtt-packet reads the same", () => {
  test("mutated broker packets", () => {
    const mutated = fc.record({
      packet: brokerPacket,
      edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 3 }),
    });
    let accepted = 0;
    check(mutated, (m) => {
      let bytes = generate(m.packet.packet);
      for (const e of m.edits) {
        const at = e.at % (bytes.length + 1);
        const c = String.fromCharCode(e.byte);
        bytes = e.kind == 0 ? bytes.slice(0, at) + c + bytes.slice(at + 1) : e.kind == 1 ? bytes.slice(0, at) + c + bytes.slice(at) : bytes.slice(0, at) + bytes.slice(at + 1);
      }
      const ours = readAll(bytes);
      const packets = ours.filter((e): e is Packet => typeof e == "object" && !Array.isArray(e));
      if (ours.length != 1 || packets.length != 1) return;
      // Exactly one packet, accepted: it must fill the bytes, and mqtt-packet must read the same fields.
      accepted++;
      const p = packets[0]!;
      const { packets: theirs, error } = oracleParse(bytes);
      assert.equal(error, undefined, `mqtt-packet refuses what we accept: ${Buffer.from(bytes, "latin1").toString("hex")}`);
      assert.equal(theirs.length, 1);
      const t = theirs[0];
      const names = ["", "", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "", "suback", "", "unsuback", "", "pingresp"];
      assert.equal(t.cmd, names[p.type]);
      if (p.type == PacketType.Connack) assert.deepEqual([t.sessionPresent, t.returnCode], [p.sessionPresent, p.code]);
      if (p.type == PacketType.Publish) {
        assert.deepEqual(
          [utf8Bytes(t.topic), t.payload.toString("latin1"), t.qos, t.retain, t.dup, t.messageId],
          [p.topic, p.payload, p.qos, p.retain, p.dup, p.id],
        );
      }
      if (p.id !== undefined) assert.equal(t.messageId, p.id);
      if (p.granted) assert.deepEqual(t.granted, p.granted);
    }, RUNS * 10);
    differentialAccepted = accepted;
    assert.ok(accepted > RUNS / 2, `only ${accepted} mutated packets were accepted: the property says little`);
  });
});

test("run counts", () => {
  console.log(`# codec-oracle: ${totalRuns} property runs (${differentialAccepted} mutated packets accepted and compared), seed ${SEED}`);
});
