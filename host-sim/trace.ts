// Watches the bytes on a simulated board's socket with the device's own codec: reports when an MQTT session is
// accepted and lost, and (for --trace) describes each packet in and out.
//
// It is also the packet explainer behind `npm run explain`: `explainStream` walks bytes field by field (every
// packet type, both directions, as in a packet-capture walk-through), names the first malformed byte, and checks
// itself against the device codec: packets a broker sends are decoded by `decodePacket`, whose verdict must match;
// packets a client sends are written again by the device's encoders, which must give the same bytes.
import {
  badUtf8,
  DecodeError,
  decodePacket,
  encodeAck,
  encodeConnect,
  encodePublishHeader,
  encodeSubscribe,
  encodeUnsubscribe,
  FixedPacket,
  Packet,
  PacketType,
} from "../firmware/mqtt/packet.ts";
import type { SimSocket } from "./runtime.ts";

const TYPE_NAMES = [
  "reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved(15)",
];

/** The device's DecodeError codes by name (a const enum has no names at run time). */
export const DECODE_ERROR_NAMES: Record<number, string> = {
  [DecodeError.BadLength]: "BadLength",
  [DecodeError.BadType]: "BadType",
  [DecodeError.BadFlags]: "BadFlags",
  [DecodeError.BadSize]: "BadSize",
  [DecodeError.TooLarge]: "TooLarge",
  [DecodeError.BadTopic]: "BadTopic",
  [DecodeError.BadValue]: "BadValue",
};

const CONNACK_CODES = [
  "connection accepted",
  "refused: unacceptable protocol version",
  "refused: identifier rejected",
  "refused: server unavailable",
  "refused: bad user name or password",
  "refused: not authorized",
];

/** Types a broker may send to a client: the ones the device decodes. */
const FROM_BROKER = new Set([2, 3, 4, 5, 6, 7, 9, 11, 13]);
/** Types a client may send: the ones the device encodes. */
const FROM_CLIENT = new Set([1, 3, 4, 5, 6, 7, 8, 10, 12, 14]);

/** One field of a packet: `length` bytes at `at` (an offset in the whole input). */
export interface Note {
  at: number;
  length: number;
  text: string;
  /** Lines under the field, e.g. the connect flags bit by bit. */
  detail?: string[];
}

/** The first malformed byte of a packet, why, and the DecodeError the device gives for it (broker packets). */
export interface Problem {
  at: number;
  text: string;
  code?: DecodeError;
}

export interface Explained {
  /** Offset of the packet's first byte in the input. */
  at: number;
  /** Bytes of the packet present in the input. */
  length: number;
  /** The whole packet's size from its header, when the header is whole. */
  total?: number;
  type: number;
  name: string;
  notes: Note[];
  /** One line: the type and its main fields. */
  summary: string;
  error?: Problem;
  /** The input ends before the packet does. */
  incomplete?: boolean;
  /** What the device codec makes of these bytes. */
  codec: string[];
  /** The explainer and the device codec disagree: a bug in one of them. */
  disagreement?: string;
}

// ---- formatting helpers

function hexByte(code: number): string {
  return code.toString(16).padStart(2, "0");
}

/** Bytes as spaced hex, cut after `max` bytes. */
export function hexOf(bytes: string, max = Infinity): string {
  const shown = [...bytes.slice(0, max)].map((c) => hexByte(c.charCodeAt(0))).join(" ");
  return bytes.length > max ? `${shown} ...` : shown;
}

function bits(value: number): string {
  const b = value.toString(2).padStart(8, "0");
  return `${b.slice(0, 4)} ${b.slice(4)}`;
}

/** A byte string shown as text: UTF-8 decoded and quoted when it is printable UTF-8, else as hex; long ones cut. */
export function shown(bytes: string, max = 64): string {
  let text: string | undefined;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(bytes, "latin1"));
  } catch {
    text = undefined;
  }
  if (text !== undefined && !/[\x00-\x08\x0e-\x1f\x7f]/.test(text)) {
    return text.length > max ? `${JSON.stringify(text.slice(0, max))}... (${bytes.length} bytes)` : JSON.stringify(text);
  }
  const hex = [...bytes.slice(0, 32)].map((c) => hexByte(c.charCodeAt(0))).join("");
  return bytes.length > 32 ? `0x${hex}... (${bytes.length} bytes)` : `0x${hex}`;
}

/** A decoded Packet with its byte strings shown as text or hex. */
function showPacket(packet: Packet): string {
  const parts = Object.entries(packet).map(([key, value]) => `${key}: ${typeof value === "string" ? shown(value) : JSON.stringify(value)}`);
  return `{ ${parts.join(", ")} }`;
}

// ---- UTF-8: where a topic goes wrong, found with the device's own check

const SECOND_BYTES = ["\x80", "\x8f\x80", "\x90\x80", "\x9f\x80", "\xa0\x80", "\xbf\x80"];

/** Whether some continuation can still make `prefix` valid (the device's badUtf8 decides each try). */
function completable(prefix: string): boolean {
  if (!badUtf8(prefix)) return true;
  for (const second of SECOND_BYTES) {
    for (let more = 0; more < 3; more++) {
      if (!badUtf8(prefix + second.slice(0, 1) + "\x80".repeat(more))) return true;
      if (!badUtf8(prefix + second + "\x80".repeat(more))) return true;
    }
  }
  return false;
}

/** The offset in `bytes` of the first byte that makes them bad UTF-8 for the device, and why; undefined if none. */
export function utf8Problem(bytes: string): { at: number; text: string } | undefined {
  if (!badUtf8(bytes)) return undefined;
  for (let q = 0; q < bytes.length; q++) {
    if (completable(bytes.slice(0, q + 1))) continue;
    const code = bytes.charCodeAt(q);
    // The lead byte of the sequence q belongs to, if q is one of its continuation places.
    let lead = q - 1;
    while (lead >= 0 && q - lead <= 3 && (bytes.charCodeAt(lead) & 0xc0) === 0x80) lead--;
    const leadByte = lead >= 0 ? bytes.charCodeAt(lead) : 0;
    const sequenceLength = leadByte < 0xe0 ? 2 : leadByte < 0xf0 ? 3 : 4;
    const inside = lead >= 0 && leadByte >= 0xc2 && leadByte <= 0xf4 && q - lead < sequenceLength;
    let text: string;
    if (inside && (code & 0xc0) !== 0x80) text = `a continuation byte (80-bf) is missing after lead byte ${hexByte(leadByte)}`;
    else if (inside && (leadByte === 0xe0 || leadByte === 0xf0)) text = `overlong encoding (${hexByte(leadByte)} ${hexByte(code)})`;
    else if (inside && leadByte === 0xed) text = `a UTF-16 surrogate (${hexByte(leadByte)} ${hexByte(code)}: U+D800-DFFF)`;
    else if (inside && leadByte === 0xf4) text = `a code point past U+10FFFF (${hexByte(leadByte)} ${hexByte(code)})`;
    else if (code === 0) text = "U+0000 (a NUL byte): not allowed in a topic";
    else if (code >= 0x80 && code <= 0xbf) text = "a continuation byte (80-bf) without a lead byte";
    else if (code === 0xc0 || code === 0xc1) text = `${hexByte(code)} only starts an overlong encoding`;
    else if (code >= 0xf5) text = `${hexByte(code)} never appears in UTF-8`;
    else text = "invalid UTF-8";
    return { at: q, text };
  }
  let start = bytes.length - 1;
  while (start > 0 && (bytes.charCodeAt(start) & 0xc0) === 0x80) start--;
  return { at: start, text: `the topic ends inside the UTF-8 sequence that starts with ${hexByte(bytes.charCodeAt(start))}` };
}

// ---- the walk through one packet's body

/** Field-by-field reader over one packet's body, `[pos, end)` of the input; the first problem wins. */
class Walk {
  notes: Note[] = [];
  error?: Problem;
  constructor(
    readonly bytes: string,
    public pos: number,
    readonly end: number,
    /** Offset and size of the remaining length field: where "too short" is pinned. */
    readonly lengthAt: number,
  ) {}

  get left(): number {
    return this.end - this.pos;
  }

  note(at: number, length: number, text: string, detail?: string[]): void {
    this.notes.push({ at, length, text, ...(detail ? { detail } : {}) });
  }

  fail(at: number, text: string, code?: DecodeError): undefined {
    if (!this.error) this.error = { at, text, ...(code !== undefined ? { code } : {}) };
    return undefined;
  }

  /** The remaining length leaves no room for `what`. */
  short(what: string, code?: DecodeError): undefined {
    return this.fail(this.lengthAt, `the remaining length ends the packet before ${what}`, code);
  }

  byte(what: string, code?: DecodeError): number | undefined {
    if (this.left < 1) return this.short(what, code);
    return this.bytes.charCodeAt(this.pos++);
  }

  u16(what: string, code?: DecodeError): number | undefined {
    if (this.left < 2) return this.short(what, code);
    const value = (this.bytes.charCodeAt(this.pos) << 8) | this.bytes.charCodeAt(this.pos + 1);
    const zeroId = what === "packet id" && value === 0;
    this.note(this.pos, 2, `${what}: ${value}${zeroId ? " (not allowed: packet ids are 1-65535 [MQTT-2.3.1-1]; the device codec passes it on)" : ""}`);
    this.pos += 2;
    return value;
  }

  /** A length-prefixed string: two length bytes, then the bytes. */
  string(what: string, code?: DecodeError): string | undefined {
    const at = this.pos;
    if (this.left < 2) return this.short(`the length of the ${what}`, code);
    const length = (this.bytes.charCodeAt(at) << 8) | this.bytes.charCodeAt(at + 1);
    this.note(at, 2, `${what} length: ${length}`);
    this.pos += 2;
    if (length > this.left) return this.fail(at, `${what} length ${length} runs past the end of the packet (${this.left} byte${this.left == 1 ? "" : "s"} left)`, code);
    const value = this.bytes.substr(this.pos, length);
    this.note(this.pos, length, `${what}: ${shown(value)}`);
    this.pos += length;
    return value;
  }

  /** A topic name or filter: at least one character, UTF-8 without U+0000 [MQTT-1.5.3, 4.7.3-1]. */
  topic(what: string, code?: DecodeError): string | undefined {
    const at = this.pos;
    const topic = this.string(what, code === undefined ? undefined : DecodeError.BadSize);
    if (topic === undefined) return undefined;
    if (!topic.length) return this.fail(at, `an empty ${what}: it must be at least one character long`, code);
    const problem = utf8Problem(topic);
    if (problem) return this.fail(at + 2 + problem.at, `${what}: ${problem.text}`, code);
    return topic;
  }

  /** Bytes past the last field. */
  rest(what: string): void {
    if (this.left > 0 && !this.error) this.fail(this.pos, `${this.left} bytes after the ${what}`, DecodeError.BadSize);
  }
}

function flagBit(value: number, bit: number): number {
  return (value >> bit) & 1;
}

// ---- one packet

interface Parsed {
  walk: Walk;
  summary: string;
  /** For broker packets: the Packet the device must decode. */
  packet?: Packet;
  /** For client packets: the bytes the device's encoder writes for the same fields. */
  reencoded?: { bytes: string; how: string };
}

function parseBody(type: number, flags: number, w: Walk): Parsed {
  const name = TYPE_NAMES[type] ?? "?";
  const base: Packet = { type, flags };
  const size = w.left;
  switch (type) {
    case PacketType.Connect: {
      const protocol = w.string("protocol name");
      if (protocol !== undefined && protocol !== "MQTT") {
        // The first byte that differs from "MQTT", or the length field when the length is not 4.
        let differs = 0;
        while (protocol[differs] === "MQTT"[differs]) differs++;
        const where = protocol.length === 4 ? w.pos - 4 + differs : w.pos - protocol.length - 2;
        w.fail(where, `protocol name ${shown(protocol)}: MQTT 3.1.1 says "MQTT"`);
      }
      const level = w.byte("the protocol level");
      if (level !== undefined) {
        w.note(w.pos - 1, 1, `protocol level: ${level}${level === 4 ? " (MQTT 3.1.1)" : level === 3 ? " (MQTT 3.1)" : level === 5 ? " (MQTT 5)" : ""}`);
        if (level !== 4) w.fail(w.pos - 1, `protocol level ${level}: this codec speaks 4 (MQTT 3.1.1)`);
      }
      const cf = w.byte("the connect flags");
      if (cf === undefined) return { walk: w, summary: name };
      const cfAt = w.pos - 1;
      const willQos = (cf >> 3) & 3;
      w.note(cfAt, 1, `connect flags: ${bits(cf)}`, [
        `bit 7    user name flag: ${flagBit(cf, 7)}${flagBit(cf, 7) ? ", a user name follows" : ", no user name"}`,
        `bit 6    password flag: ${flagBit(cf, 6)}${flagBit(cf, 6) ? ", a password follows" : ", no password"}`,
        `bit 5    will retain: ${flagBit(cf, 5)}`,
        `bits 4-3 will QoS: ${willQos}`,
        `bit 2    will flag: ${flagBit(cf, 2)}${flagBit(cf, 2) ? ", a will topic and message follow" : ", no will"}`,
        `bit 1    clean session: ${flagBit(cf, 1)}${flagBit(cf, 1) ? ", start a new session" : ", resume the stored session"}`,
        `bit 0    reserved: ${flagBit(cf, 0)}${flagBit(cf, 0) ? " (must be 0)" : ""}`,
      ]);
      if (cf & 1) w.fail(cfAt, "connect flags: reserved bit 0 is set [MQTT-3.1.2-3]");
      if (willQos === 3) w.fail(cfAt, "connect flags: will QoS 3");
      if (!(cf & 4) && cf & 0x38) w.fail(cfAt, "connect flags: will QoS or will retain set without the will flag [MQTT-3.1.2-11]");
      if (cf & 0x40 && !(cf & 0x80)) w.fail(cfAt, "connect flags: a password without a user name [MQTT-3.1.2-22]");
      const keepalive = w.u16("keepalive");
      if (keepalive !== undefined) w.notes[w.notes.length - 1]!.text += keepalive ? " s" : " (off)";
      const clientId = w.string("client id");
      const will = cf & 4 ? { topic: w.topic("will topic"), payload: w.string("will message") } : undefined;
      const username = cf & 0x80 ? w.string("user name") : undefined;
      const password = cf & 0x40 ? w.string("password") : undefined;
      w.rest("CONNECT payload");
      const parts = [name, `client-id=${shown(clientId ?? "")}`, `keepalive=${keepalive}`];
      if (cf & 2) parts.push("clean");
      if (will) parts.push(`will=(topic=${shown(will.topic ?? "")} message=${shown(will.payload ?? "")} qos=${willQos}${cf & 0x20 ? " retain" : ""})`);
      if (username !== undefined) parts.push(`user=${shown(username)}`);
      if (password !== undefined) parts.push(`password=(${password.length} bytes)`);
      const reencoded =
        w.error || clientId === undefined || keepalive === undefined
          ? undefined
          : {
              how: "encodeConnect",
              bytes: encodeConnect({
                clientId,
                keepalive,
                clean: (cf & 2) !== 0,
                ...(will ? { will: { topic: will.topic ?? "", payload: will.payload ?? "", qos: willQos, retain: (cf & 0x20) !== 0 } } : {}),
                ...(username !== undefined ? { username } : {}),
                ...(password !== undefined ? { password } : {}),
              }),
            };
      return { walk: w, summary: parts.join(" "), ...(reencoded ? { reencoded } : {}) };
    }
    case PacketType.Connack: {
      if (size !== 2) {
        w.fail(w.lengthAt, `remaining length ${size}: a CONNACK has exactly 2`, DecodeError.BadSize);
        return { walk: w, summary: name };
      }
      const ack = w.byte("the acknowledge flags")!;
      w.note(w.pos - 1, 1, `acknowledge flags: ${bits(ack)}`, [
        "bits 7-1 reserved: " + (ack >> 1 ? `${(ack >> 1).toString(2).padStart(7, "0")} (must be 0)` : "0"),
        `bit 0    session present: ${ack & 1}${ack & 1 ? ", the broker kept the session" : ", no stored session"}`,
      ]);
      if (ack > 1) w.fail(w.pos - 1, "acknowledge flags: reserved bits 7-1 are set", DecodeError.BadValue);
      const code = w.byte("the return code")!;
      w.note(w.pos - 1, 1, `return code: ${code} (${CONNACK_CODES[code] ?? "reserved"})`);
      return {
        walk: w,
        summary: `${name} code=${code} (${CONNACK_CODES[code] ?? "reserved"})${ack & 1 ? " session-present" : ""}`,
        packet: { ...base, sessionPresent: ack === 1, code },
      };
    }
    case PacketType.Publish: {
      const qos = (flags >> 1) & 3;
      const topicAt = w.pos;
      if (size >= 2) {
        const length = (w.bytes.charCodeAt(topicAt) << 8) | w.bytes.charCodeAt(topicAt + 1);
        if (2 + length <= size && 2 + length + (qos ? 2 : 0) > size) {
          w.fail(w.lengthAt, `remaining length ${size} leaves no room for the packet id after the topic`, DecodeError.BadSize);
        }
      }
      const topic = w.topic("topic", DecodeError.BadTopic);
      const id = qos && topic !== undefined ? w.u16("packet id", DecodeError.BadSize) : undefined;
      const payload = w.bytes.slice(w.pos, w.end);
      if (topic !== undefined && !w.error) w.note(w.pos, payload.length, `payload (${payload.length} bytes): ${shown(payload)}`);
      const retain = (flags & 1) === 1;
      const dup = (flags & 8) === 8;
      const parts = [name, `topic=${shown(topic ?? "")}`, `payload=${shown(payload)}`];
      if (qos) parts.push(`qos=${qos}`, `id=${id}`);
      if (retain) parts.push("retain");
      if (dup) parts.push("dup");
      const packet: Packet = { ...base, topic: topic ?? "", ...(qos ? { id: id ?? 0 } : {}), payload, qos, retain, dup };
      return {
        walk: w,
        summary: parts.join(" "),
        packet,
        reencoded: { how: "encodePublishHeader + payload", bytes: encodePublishHeader({ topic: topic ?? "", payload, qos, retain, id: id ?? 0 }, dup) + payload },
      };
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
    case PacketType.Unsuback: {
      if (size !== 2) {
        w.fail(w.lengthAt, `remaining length ${size}: a${type === PacketType.Unsuback ? "n" : ""} ${name} has exactly 2`, DecodeError.BadSize);
        return { walk: w, summary: name };
      }
      const id = w.u16("packet id")!;
      return {
        walk: w,
        summary: `${name} id=${id}`,
        packet: { ...base, id },
        ...(type !== PacketType.Unsuback ? { reencoded: { how: "encodeAck", bytes: encodeAck(type, id) } } : {}),
      };
    }
    case PacketType.Subscribe:
    case PacketType.Unsubscribe: {
      const id = w.u16("packet id");
      const filters: string[] = [];
      const qos: number[] = [];
      if (id !== undefined && !w.left) w.short("the first topic filter");
      while (w.left > 0 && !w.error) {
        const filter = w.topic(`topic filter ${filters.length + 1}`);
        if (filter === undefined) break;
        filters.push(filter);
        if (type === PacketType.Subscribe) {
          const requested = w.byte(`the requested QoS of filter ${filters.length}`);
          if (requested === undefined) break;
          w.note(w.pos - 1, 1, `requested QoS: ${requested & 3}${requested > 2 ? " (bits 7-2 are reserved and QoS 3 is not a QoS: must be 0, 1 or 2)" : ""}`);
          if (requested > 2) w.fail(w.pos - 1, `requested QoS byte ${hexByte(requested)}: must be 0, 1 or 2 [MQTT-3.8.3-4]`);
          qos.push(requested);
        }
      }
      const list = filters.map((f, i) => (type === PacketType.Subscribe ? `${shown(f)}@${qos[i]}` : shown(f))).join(" ");
      const reencoded =
        w.error || id === undefined
          ? undefined
          : type === PacketType.Subscribe
            ? { how: "encodeSubscribe", bytes: encodeSubscribe(id, filters, qos) }
            : { how: "encodeUnsubscribe", bytes: encodeUnsubscribe(id, filters) };
      return { walk: w, summary: `${name} id=${id} ${list}`, ...(reencoded ? { reencoded } : {}) };
    }
    case PacketType.Suback: {
      if (size < 3) {
        w.fail(w.lengthAt, `remaining length ${size}: a SUBACK holds a packet id and at least one return code`, DecodeError.BadSize);
        return { walk: w, summary: name };
      }
      const id = w.u16("packet id")!;
      const granted: number[] = [];
      while (w.left > 0) {
        const code = w.byte("a return code")!;
        const meaning = code === 0x80 ? "failure" : code <= 2 ? `granted QoS ${code}` : "reserved (must be 0, 1, 2 or 0x80)";
        w.note(w.pos - 1, 1, `return code for filter ${granted.length + 1}: ${hexByte(code)}, ${meaning}`);
        if (code > 2 && code !== 0x80) w.fail(w.pos - 1, `return code ${hexByte(code)}: must be 0, 1, 2 or 0x80`, DecodeError.BadValue);
        granted.push(code);
      }
      return {
        walk: w,
        summary: `${name} id=${id} granted=${granted.map((c) => (c === 0x80 ? "failure" : String(c))).join(",")}`,
        packet: { ...base, id, granted },
      };
    }
    default: {
      // PINGREQ, PINGRESP, DISCONNECT: nothing but the fixed header.
      if (size) w.fail(w.lengthAt, `remaining length ${size}: a ${name} has no body`, DecodeError.BadSize);
      return {
        walk: w,
        summary: name,
        packet: base,
        ...(type === PacketType.Pingreq ? { reencoded: { how: "PINGREQ", bytes: FixedPacket.Pingreq as string } } : {}),
        ...(type === PacketType.Disconnect ? { reencoded: { how: "DISCONNECT", bytes: FixedPacket.Disconnect as string } } : {}),
      };
    }
  }
}

/** The fixed-header flags a type must carry, as text, or undefined where they are checked elsewhere (PUBLISH). */
function flagsText(type: number, flags: number): { text: string; ok: boolean } {
  if (type === PacketType.Publish) {
    const qos = (flags >> 1) & 3;
    return { text: `DUP ${flags >> 3}, QoS ${qos}${qos === 3 ? " (not a QoS)" : ""}, retain ${flags & 1}`, ok: qos < 3 };
  }
  const required = type === PacketType.Pubrel || type === PacketType.Subscribe || type === PacketType.Unsubscribe ? 2 : 0;
  return { text: `reserved, must be ${bits(required).slice(5)}`, ok: flags === required };
}

function direction(type: number): string {
  return FROM_BROKER.has(type) && FROM_CLIENT.has(type) ? "either way" : FROM_BROKER.has(type) ? "broker to client" : "client to broker";
}

/** Explains the packet that starts at `at`; stops at the input's end. */
function explainOne(bytes: string, at: number): Explained {
  const first = bytes.charCodeAt(at);
  const type = first >> 4;
  const flags = first & 15;
  const name = TYPE_NAMES[type] ?? "?";
  const notes: Note[] = [];
  const codec: string[] = [];
  const result: Explained = { at, length: 1, type, name, notes, summary: name, codec };
  const { text: flagText, ok: flagsOk } = flagsText(type, flags);
  notes.push({
    at,
    length: 1,
    text: `fixed header: type ${type} = ${name}${type > 0 && type < 15 ? ` (${direction(type)})` : ""}, flags ${bits(flags).slice(5)}: ${flagText}`,
  });

  // The remaining length, as the device's reader reads it: 1 to 4 bytes, low 7 bits first.
  let length = 0;
  let pos = at + 1;
  let digit = 128;
  while (digit & 128) {
    if (pos - at > 4) {
      notes.push({ at: at + 1, length: 4, text: "remaining length: every one of 4 bytes says another follows" });
      result.error = { at: at + 4, text: "a 4th remaining-length byte with its continuation bit set: at most 4 bytes are allowed", code: DecodeError.BadLength };
      result.length = 5;
      codec.push("device codec: the reader refuses it with error 1 (BadLength); the stream is out of step: the connection must be dropped");
      return result;
    }
    if (pos >= bytes.length) {
      result.length = bytes.length - at;
      result.incomplete = true;
      if (pos > at + 1) notes.push({ at: at + 1, length: pos - at - 1, text: "remaining length: unfinished" });
      return result;
    }
    digit = bytes.charCodeAt(pos);
    length += (digit & 127) * 128 ** (pos - at - 1);
    pos++;
  }
  const lengthBytes = pos - at - 1;
  const minimal = lengthBytes === 1 || digit !== 0;
  notes.push({
    at: at + 1,
    length: lengthBytes,
    text: `remaining length: ${length}${lengthBytes > 1 ? ` (7 bits a byte, low first: ${lengthDigits(bytes.substr(at + 1, lengthBytes))})` : ""}${minimal ? "" : " (not the shortest form)"}`,
  });
  const total = pos - at + length;
  result.total = total;
  result.length = Math.min(total, bytes.length - at);

  if (type === 0 || type === 15) result.error = { at, text: `packet type ${type} is reserved`, code: DecodeError.BadType };
  else if (!flagsOk) result.error = { at, text: `fixed-header flags ${bits(flags).slice(5)}: ${flagText}`, code: DecodeError.BadFlags };

  if (bytes.length - at < total) {
    result.incomplete = true;
    const have = bytes.length - pos;
    if (have > 0) notes.push({ at: pos, length: have, text: `body: ${have} of ${length} bytes (the input ends here)` });
    return result;
  }
  if (type === 0 || type === 15) {
    if (length) notes.push({ at: pos, length, text: `body: ${length} bytes` });
    return finish(result, bytes, at, pos, undefined);
  }

  const walk = new Walk(bytes, pos, at + total, at + 1);
  if (result.error) walk.error = result.error;
  const parsed = parseBody(type, flags, walk);
  notes.push(...walk.notes);
  const noted = walk.notes.reduce((end, n) => Math.max(end, n.at + n.length), walk.pos);
  if (noted < at + total) notes.push({ at: noted, length: at + total - noted, text: "not read: the packet is malformed before these bytes" });
  result.summary = parsed.summary;
  if (walk.error) result.error = walk.error;
  return finish(result, bytes, at, pos, parsed);
}

function lengthDigits(field: string): string {
  return [...field].map((c, i) => `${c.charCodeAt(0) & 127}x${128 ** i}`).join(" + ");
}

/** Adds what the device codec says about the packet, and any disagreement with the walk. */
function finish(result: Explained, bytes: string, at: number, bodyAt: number, parsed: Parsed | undefined): Explained {
  const first = bytes.charCodeAt(at);
  const packetBytes = bytes.substr(at, result.total ?? 0);
  const verdict = decodePacket(first, bytes.substr(bodyAt, at + (result.total ?? 0) - bodyAt));
  const receivable = FROM_BROKER.has(result.type);
  const expected = receivable ? result.error?.code : DecodeError.BadType;
  if (typeof verdict === "number") {
    const name = DECODE_ERROR_NAMES[verdict] ?? "?";
    if (receivable) result.codec.push(`device codec: decodePacket refuses it: error ${verdict} (${name})`);
    if (verdict !== expected) result.disagreement = `the device codec says error ${verdict} (${name}), the explainer ${expected === undefined ? "no error" : `error ${expected}`}`;
  } else {
    result.codec.push(`device codec: decodePacket reads ${showPacket(verdict)}`);
    if (expected !== undefined) result.disagreement = `the device codec accepts it, the explainer says error ${expected}`;
    else if (parsed?.packet && JSON.stringify(parsed.packet) !== JSON.stringify(verdict)) {
      result.disagreement = `the device codec reads ${showPacket(verdict)}, the explainer ${showPacket(parsed.packet)}`;
    }
  }
  if (parsed?.reencoded && !result.error && FROM_CLIENT.has(result.type)) {
    const again = parsed.reencoded.bytes;
    result.codec.push(
      again === packetBytes
        ? `device codec: ${parsed.reencoded.how} writes exactly these bytes`
        : `device codec: ${parsed.reencoded.how} would write ${hexOf(again, 32)} for these fields`,
    );
  }
  return result;
}

/** Explains every packet in `bytes`, in order; stops after a malformed remaining length (the stream is out of step). */
export function explainStream(bytes: string): Explained[] {
  const packets: Explained[] = [];
  let at = 0;
  while (at < bytes.length) {
    const one = explainOne(bytes, at);
    packets.push(one);
    if (one.incomplete || one.error?.code === DecodeError.BadLength) break;
    at += one.total ?? one.length;
  }
  return packets;
}

/** The byte-by-byte walk-through of a stream, as `npm run explain` prints it. */
export function formatExplained(bytes: string, packets: Explained[] = explainStream(bytes)): string {
  const out: string[] = [];
  for (const [index, p] of packets.entries()) {
    const size = p.incomplete ? `${p.length} bytes of ${p.total === undefined ? "an unfinished header" : p.total}` : `${p.total ?? p.length} bytes`;
    out.push(`packet ${index + 1} at byte ${p.at}: ${p.name}, ${size}`);
    const notes = [...p.notes].sort((a, b) => a.at - b.at);
    for (const note of notes) {
      const where = note.length > 1 ? `${note.at}-${note.at + note.length - 1}` : String(note.at);
      const hex = hexOf(bytes.substr(note.at, note.length), 6);
      out.push(`  ${where.padEnd(11)} ${hex.padEnd(21)} ${note.text}`);
      for (const line of note.detail ?? []) out.push(`  ${"".padEnd(11)} ${"".padEnd(21)}   ${line}`);
    }
    if (p.error) {
      out.push(`  MALFORMED at byte ${p.error.at} (0x${hexByte(bytes.charCodeAt(p.error.at) || 0)}): ${p.error.text}${p.error.code !== undefined && FROM_BROKER.has(p.type) ? ` [DecodeError ${p.error.code} ${DECODE_ERROR_NAMES[p.error.code]}]` : ""}`);
    }
    if (p.incomplete) out.push(`  INCOMPLETE: the input ends ${p.total === undefined ? "inside the fixed header" : `${(p.total ?? 0) - p.length} bytes before the packet does`}`);
    for (const line of p.codec) out.push(`  ${line}`);
    if (p.disagreement) out.push(`  WARNING: explainer and device codec disagree: ${p.disagreement}`);
    if (!p.error && !p.incomplete) out.push(`  summary: ${p.summary}`);
  }
  const last = packets[packets.length - 1];
  if (last?.error?.code === DecodeError.BadLength && last.at + last.length < bytes.length) {
    out.push(`the ${bytes.length - last.at - last.length} bytes after it are not explained: after a bad remaining length the stream is out of step`);
  }
  if (!packets.length) out.push("no bytes");
  return out.join("\n");
}

/** A one-line description of one packet, from its bytes: the same fields as the explainer, compact. */
export function describePacket(bytes: string): string {
  const p = explainOne(bytes, 0);
  const size = `${bytes.length} bytes`;
  if (p.incomplete) return `${p.name} incomplete (${size})`;
  if (p.error) return `${p.name} MALFORMED at byte ${p.error.at}: ${p.error.text} (${size})`;
  return `${p.summary} (${size})`;
}

/** Parses hex such as "10 0e 00 04", "100e0004", "0x10,0x0e" into a byte string; throws on anything else. */
export function parseHex(text: string): string {
  const tokens = text.replace(/0x/gi, " ").split(/[\s,:;]+/).filter(Boolean);
  let out = "";
  for (const token of tokens) {
    if (!/^[0-9a-f]+$/i.test(token)) throw new Error(`not hex: ${JSON.stringify(token)}`);
    const padded = token.length === 1 ? `0${token}` : token;
    if (padded.length % 2) throw new Error(`odd number of hex digits: ${JSON.stringify(token)}`);
    for (let i = 0; i < padded.length; i += 2) out += String.fromCharCode(parseInt(padded.slice(i, i + 2), 16));
  }
  return out;
}

// ---- the simulator's watcher

export interface MqttWatcher {
  connection?(state: "connected" | "disconnected"): void;
  packet?(direction: "in" | "out", description: string): void;
}

/** Splits a byte stream into whole packets (any type, no size cap) and hands each over with its bytes. */
function framer(onPacket: (bytes: string) => void): (chunk: string) => void {
  let buffered = "";
  return (chunk) => {
    buffered += chunk;
    for (;;) {
      let at = 1;
      let length = 0;
      let multiplier = 1;
      let complete = false;
      while (at < buffered.length && at < 5) {
        const digit = buffered.charCodeAt(at++);
        length += (digit & 127) * multiplier;
        multiplier *= 128;
        if (!(digit & 128)) {
          complete = true;
          break;
        }
      }
      if (!complete && at >= 5 && buffered.length >= 5) {
        // A fifth length byte: malformed, and nothing after it can be framed.
        onPacket(buffered);
        buffered = "";
        return;
      }
      if (!complete || buffered.length < at + length) return;
      onPacket(buffered.slice(0, at + length));
      buffered = buffered.slice(at + length);
    }
  };
}

/**
 * Reports connection changes and, when `watcher.packet` is given, each packet in and out: one line each, or the
 * explainer's byte-by-byte form when the environment has TRACE_BYTES=1.
 */
export function watchMqtt(socket: SimSocket, watcher: MqttWatcher): void {
  let connected = false;
  const bytesForm = process.env.TRACE_BYTES === "1";
  const describe = (bytes: string) => (bytesForm ? `${describePacket(bytes)}\n${formatExplained(bytes)}` : describePacket(bytes));
  const incoming = framer((bytes) => {
    watcher.packet?.("in", describe(bytes));
    if (!connected && bytes.charCodeAt(0) === 0x20 && bytes.charCodeAt(3) === 0) {
      connected = true;
      watcher.connection?.("connected");
    }
  });
  const outgoing = framer((bytes) => watcher.packet?.("out", describe(bytes)));
  socket.on("in", (data: Buffer) => incoming(data.toString("latin1")));
  socket.on("out", (data: Buffer) => outgoing(data.toString("latin1")));
  socket.on("closed", () => {
    if (connected) watcher.connection?.("disconnected");
    connected = false;
  });
}
