// Fuzzing the device codec: random and mutated byte streams, fed in reads of random sizes to readers with random
// caps, must never throw or hang, and the reader must never hold a packet's worth of bytes over its cap. Deterministic:
// a fixed seed (FUZZ_SEED overrides it; a failure prints the seed and the input).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  badUtf8,
  createReader,
  decodePacket,
  encodeAck,
  encodeConnect,
  encodePublishHeader,
  encodeSubscribe,
  Packet,
  PacketType,
} from "../firmware/mqtt/packet.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const RECEIVABLE = new Set([2, 3, 4, 5, 6, 7, 9, 11, 13]);

/** mulberry32: a small seeded generator, so every run sees the same inputs. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof generator>;

const hex = (bytes: string) => Buffer.from(bytes, "latin1").toString("hex");
const chr = String.fromCharCode;
const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];

function randomBytes(r: Random, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += chr(r.next() < 0.3 ? r.pick(INTERESTING) : r.int(256));
  return out;
}

/** Valid packets of every kind, most of them ones a broker sends. */
function validPacket(r: Random): string {
  const topic = r.pick(["led", "a/b/c", "t", "caf\xc3\xa9", "\xf0\x9f\x92\xa1/x", "x".repeat(r.int(300))]) || "y";
  const payload = randomBytes(r, r.next() < 0.9 ? r.int(40) : r.int(3000));
  const qos = r.int(3);
  switch (r.int(10)) {
    case 0:
      return chr(0x20, 2, r.int(2), r.int(6));
    case 1:
    case 2:
      return encodePublishHeader({ topic, payload, qos, retain: r.next() < 0.5, id: 1 + r.int(65535) }, qos > 0 && r.next() < 0.5) + payload;
    case 3:
      return encodeAck((PacketType.Puback + r.int(4)) as PacketType, r.int(65536));
    case 4: {
      const codes = Array.from({ length: 1 + r.int(6) }, () => r.pick([0, 1, 2, 0x80]));
      return chr(0x90, 2 + codes.length, r.int(256), r.int(256), ...codes);
    }
    case 5:
      return chr(0xb0, 2, r.int(256), r.int(256));
    case 6:
      return chr(0xd0, 0);
    case 7:
      return encodeConnect({ clientId: "id", keepalive: r.int(65536), clean: r.next() < 0.5, ...(r.next() < 0.5 ? { username: "u", password: "p" } : {}) });
    case 8:
      return encodeSubscribe(1 + r.int(65535), [topic, "a/#"], [qos, 0]);
    default:
      return chr(0xc0, 0);
  }
}

/** One of the edits a fuzzer makes: replace, flip, insert, delete, cut, repeat, or a length byte set high. */
function mutate(r: Random, bytes: string): string {
  const at = r.int(bytes.length + 1);
  switch (r.int(8)) {
    case 0:
      return bytes.slice(0, at) + chr(r.int(256)) + bytes.slice(at + 1);
    case 1:
      return bytes.slice(0, at) + chr((bytes.charCodeAt(at) ^ (1 << r.int(8))) & 255) + bytes.slice(at + 1);
    case 2:
      return bytes.slice(0, at) + chr(r.pick(INTERESTING)) + bytes.slice(at);
    case 3:
      return bytes.slice(0, at) + bytes.slice(at + 1 + r.int(4));
    case 4:
      return bytes.slice(0, at);
    case 5: {
      const end = at + r.int(20);
      return bytes.slice(0, end) + bytes.slice(at, end) + bytes.slice(end);
    }
    case 6:
      return bytes.slice(0, at) + chr(r.pick(INTERESTING)) + bytes.slice(at + 1);
    default:
      // The remaining length of the first packet, made large or long.
      return bytes.slice(0, 1) + chr(r.pick([0x80, 0xff, 0x7f, 0xfe])) + bytes.slice(2);
  }
}

/** Feeds `stream` in reads of random sizes to a reader capped at `max`; checks what it does, and returns it. */
function feed(r: Random, stream: string, max: number): { packets: number; errors: number } {
  let packets = 0;
  let errors = 0;
  const onPacket = (p: Packet) => {
    packets++;
    assert.ok(RECEIVABLE.has(p.type), `a packet of type ${p.type}`);
    if (p.type == PacketType.Publish) {
      assert.ok(p.topic!.length > 0 && !badUtf8(p.topic!), "a PUBLISH with a bad topic was accepted");
      assert.ok(p.qos! <= 2);
    }
  };
  const onError = (e: number, _first: number, size: number) => {
    errors++;
    assert.ok(e >= 1 && e <= 7, `error code ${e}`);
    assert.ok(size >= 0 && size <= 268435460);
  };
  const read = createReader(max, onPacket, onError);
  let from = 0;
  while (from < stream.length) {
    const to = from + 1 + (r.next() < 0.5 ? r.int(8) : r.int(600));
    const held = read(stream.slice(from, to));
    assert.ok(held >= 0 && held < Math.max(max, 5), `held ${held} bytes with a cap of ${max}`);
    from = to;
  }
  // Every packet and every error takes at least 2 bytes of the stream (BadLength takes all that is left).
  assert.ok(2 * (packets + errors) <= stream.length + 1, `${packets} packets and ${errors} errors from ${stream.length} bytes`);
  return { packets, errors };
}

let inputs = 0;

function fuzz(name: string, count: number, one: (r: Random, index: number) => string | void): void {
  test(`${name}: ${count} inputs`, { timeout: 60_000 }, () => {
    const r = generator(SEED ^ name.length * 7919);
    const started = Date.now();
    for (let i = 0; i < count; i++) {
      let input: string | void = undefined;
      try {
        input = one(r, i);
      } catch (error) {
        throw new Error(`${name}, input ${i} (FUZZ_SEED=${SEED}): ${(error as Error).message}${typeof input === "string" ? ` ${hex(input)}` : ""}`, { cause: error });
      }
    }
    inputs += count;
    // Bounded in time: linear work per input, so a hang or a quadratic path shows here.
    assert.ok(Date.now() - started < 30_000, `${name} took ${Date.now() - started} ms`);
  });
}

fuzz("random byte streams", 40_000, (r) => {
  const stream = randomBytes(r, r.int(r.next() < 0.9 ? 64 : 1200));
  try {
    feed(r, stream, 1 + r.int(400));
  } catch (error) {
    throw new Error(`${(error as Error).message}; input ${hex(stream)}`);
  }
});

fuzz("mutated streams of valid packets", 40_000, (r) => {
  let stream = "";
  for (let n = 1 + r.int(6); n > 0; n--) stream += validPacket(r);
  for (let n = 1 + r.int(4); n > 0; n--) stream = mutate(r, stream);
  try {
    feed(r, stream, r.next() < 0.5 ? 1 << 20 : 2 + r.int(500));
  } catch (error) {
    throw new Error(`${(error as Error).message}; input ${hex(stream)}`);
  }
});

fuzz("decodePacket on any first byte and body", 20_000, (r) => {
  const first = r.int(256);
  const body = r.next() < 0.5 ? randomBytes(r, r.int(40)) : mutate(r, validPacket(r)).slice(2);
  const result = decodePacket(first, body);
  if (typeof result == "number") assert.ok(result >= 1 && result <= 7 && result != 5, `error ${result}`);
  else assert.ok(RECEIVABLE.has(result.type) && result.type == first >> 4);
});

/** Text that is nearly UTF-8: code points of every length, edge bytes, cut sequences. */
function nearlyUtf8(r: Random): string {
  let out = "";
  for (let n = r.int(8); n >= 0; n--) {
    const roll = r.int(6);
    if (roll == 0) out += chr(r.pick(INTERESTING));
    else if (roll == 1) out += chr(r.int(256));
    else {
      const limit = r.pick([0x80, 0x800, 0x10000, 0x110000]);
      let cp = r.int(limit);
      if (cp >= 0xd800 && cp <= 0xdfff && r.next() < 0.5) cp = 0x41;
      const encoded = Buffer.from(String.fromCodePoint(cp), "utf8").toString("latin1");
      out += cp >= 0xd800 && cp <= 0xdfff ? chr(0xed, 0xa0 | ((cp >> 6) & 0x1f), 0x80 | (cp & 63)) : encoded;
      if (r.next() < 0.1) out = out.slice(0, out.length - 1);
    }
  }
  return out;
}

fuzz("badUtf8 against Node's strict UTF-8 decoder", 30_000, (r) => {
  const bytes = nearlyUtf8(r);
  let valid = true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(bytes, "latin1"));
  } catch {
    valid = false;
  }
  assert.equal(badUtf8(bytes), !valid || bytes.includes("\0"), `badUtf8(${hex(bytes)})`);
  return bytes;
});

test("input count", () => {
  console.log(`# codec-fuzz: ${inputs} inputs, FUZZ_SEED=${SEED}`);
  assert.ok(inputs >= 100_000);
});
