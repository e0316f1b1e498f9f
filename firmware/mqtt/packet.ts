// The MQTT 3.1.1 codec: pure functions from values to bytes and back, no I/O, no timers.
// Bytes are binary strings (one char = one byte, 0-255) because Espruino sockets take and give strings.
// Topics and payloads are handed in as byte strings already (UTF-8 for topics): the codec never re-encodes.
// Espruino dialect: see firmware/README.md (no default/rest parameters, spread, destructuring, `?.`).

export const enum PacketType {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
}

/** Why a packet from the broker was refused. The stream is out of step after `BadLength`, in step after the others. */
export const enum DecodeError {
  /** The remaining length runs past 4 bytes. */
  BadLength = 1,
  /** Type 0 or 15, or a type a broker never sends to a client. */
  BadType = 2,
  /** Fixed-header flags the spec forbids for this type (e.g. QoS 3). */
  BadFlags = 3,
  /** The remaining length does not fit the fields the packet must hold. */
  BadSize = 4,
  /** Bigger than the reader's cap: skipped as its bytes arrive, never buffered. */
  TooLarge = 5,
}

/** A packet from the broker. Only the fields of its type are set. */
export interface Packet {
  type: PacketType;
  /** Low nibble of the first byte. */
  flags: number;
  /** CONNACK: the broker kept a session for this client id. */
  sessionPresent?: boolean;
  /** CONNACK: the return code, 0 = accepted. */
  code?: number;
  /** PUBLISH: topic (UTF-8 bytes) and payload (bytes). */
  topic?: string;
  payload?: string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  /** Packet identifier: PUBLISH with QoS > 0, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK. */
  id?: number;
  /** SUBACK: the granted QoS per topic filter, 0x80 for a refused one. */
  granted?: number[];
}

export interface Will {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

export interface ConnectOptions {
  clientId: string;
  /** Seconds; 0 turns keepalive off. */
  keepalive: number;
  clean: boolean;
  will?: Will;
  username?: string;
  password?: string;
}

const chr = String.fromCharCode;

function u16(value: number): string {
  return chr((value >> 8) & 255, value & 255);
}

/** A UTF-8 string field: two length bytes, then the bytes. */
function field(bytes: string): string {
  return u16(bytes.length) + bytes;
}

/** The remaining-length varint: 7 bits a byte, low first, 1 to 4 bytes (up to 268,435,455). */
export function encodeLength(length: number): string {
  let out = "";
  do {
    const digit = length % 128;
    length = (length - digit) / 128;
    out += chr(length > 0 ? digit | 128 : digit);
  } while (length > 0);
  return out;
}

function packet(firstByte: number, body: string): string {
  return chr(firstByte) + encodeLength(body.length) + body;
}

export function encodeConnect(options: ConnectOptions): string {
  const will = options.will;
  let flags = options.clean ? 2 : 0;
  let payload = field(options.clientId);
  if (will) {
    flags |= 4 | (will.qos << 3) | (will.retain ? 32 : 0);
    payload += field(will.topic) + field(will.payload);
  }
  if (options.username !== undefined) {
    flags |= 128;
    payload += field(options.username);
  }
  if (options.password !== undefined) {
    flags |= 64;
    payload += field(options.password);
  }
  // "\0\x04MQTT" protocol name, level 4 (3.1.1), connect flags, keepalive.
  return packet(0x10, "\0\x04MQTT\x04" + chr(flags) + u16(options.keepalive) + payload);
}

/**
 * The fixed header, topic and packet id of a PUBLISH whose payload is `payloadLength` bytes.
 * The caller writes the payload after it, so a large payload is never copied into a new string.
 */
export function encodePublishHeader(
  topic: string,
  payloadLength: number,
  qos: number,
  retain: boolean,
  dup: boolean,
  id: number,
): string {
  const variable = field(topic) + (qos ? u16(id) : "");
  return (
    chr(0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)) +
    encodeLength(variable.length + payloadLength) +
    variable
  );
}

/** One SUBSCRIBE for several topic filters, each with its requested QoS. */
export function encodeSubscribe(id: number, filters: string[], qos: number[]): string {
  let body = u16(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i] as string) + chr(qos[i] ?? 0);
  return packet(0x82, body);
}

/** UNSUBSCRIBE for several topic filters. */
export function encodeUnsubscribe(id: number, filters: string[]): string {
  let body = u16(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i] as string);
  return packet(0xa2, body);
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP for packet `id`; PUBREL's fixed-header flags are 0010. */
export function encodeAck(type: PacketType, id: number): string {
  return chr((type << 4) | (type == PacketType.Pubrel ? 2 : 0), 2) + u16(id);
}

export const PINGREQ = "\xc0\0";
export const DISCONNECT = "\xe0\0";

function readU16(bytes: string, at: number): number {
  return (bytes.charCodeAt(at) << 8) | bytes.charCodeAt(at + 1);
}

/** Decodes one whole packet from its first byte and its body; returns a DecodeError where it is malformed. */
export function decodePacket(firstByte: number, body: string): Packet | DecodeError {
  const type = firstByte >> 4;
  const flags = firstByte & 15;
  const size = body.length;
  const result: Packet = { type: type, flags: flags };
  if (type == PacketType.Publish) {
    const qos = (flags >> 1) & 3;
    if (qos == 3) return DecodeError.BadFlags;
    const topicLength = size < 2 ? size : readU16(body, 0);
    let at = 2 + topicLength;
    if (at + (qos ? 2 : 0) > size) return DecodeError.BadSize;
    result.topic = body.substr(2, topicLength);
    if (qos) {
      result.id = readU16(body, at);
      at += 2;
    }
    result.payload = body.substr(at);
    result.qos = qos;
    result.retain = (flags & 1) == 1;
    result.dup = (flags & 8) == 8;
    return result;
  }
  // Every other packet a broker sends has fixed flags: 2 for PUBREL, 0 for the rest.
  if (flags != (type == PacketType.Pubrel ? 2 : 0)) return type > 0 && type < 15 ? DecodeError.BadFlags : DecodeError.BadType;
  if (type == PacketType.Connack) {
    if (size != 2) return DecodeError.BadSize;
    result.sessionPresent = (body.charCodeAt(0) & 1) == 1;
    result.code = body.charCodeAt(1);
  } else if (type == PacketType.Suback) {
    if (size < 3) return DecodeError.BadSize;
    result.id = readU16(body, 0);
    result.granted = [];
    for (let i = 2; i < size; i++) result.granted.push(body.charCodeAt(i));
  } else if (type == PacketType.Pingresp) {
    if (size) return DecodeError.BadSize;
  } else if (type >= PacketType.Puback && type <= PacketType.Pubcomp || type == PacketType.Unsuback) {
    if (size != 2) return DecodeError.BadSize;
    result.id = readU16(body, 0);
  } else {
    return DecodeError.BadType;
  }
  return result;
}

/**
 * An incremental reader: feed it chunks of any size (a packet split over reads, several packets in one read).
 * A packet over `maxPacketSize` bytes (header included) is reported as TooLarge and its bytes are skipped as they
 * arrive. After a BadLength error the stream is out of step: the caller must drop the connection.
 */
export function createReader(
  maxPacketSize: number,
  onPacket: (packet: Packet) => void,
  onError: (error: DecodeError, firstByte: number, totalSize: number) => void,
): (chunk: string) => void {
  let buffered = "";
  let toSkip = 0;
  return function (chunk: string) {
    if (toSkip) {
      if (chunk.length <= toSkip) {
        toSkip -= chunk.length;
        return;
      }
      chunk = chunk.substr(toSkip);
      toSkip = 0;
    }
    buffered += chunk;
    while (buffered.length >= 2) {
      const firstByte = buffered.charCodeAt(0);
      let length = 0;
      let multiplier = 1;
      let at = 1;
      let digit;
      do {
        if (at == 5) {
          buffered = "";
          onError(DecodeError.BadLength, firstByte, 0);
          return;
        }
        if (at >= buffered.length) return;
        digit = buffered.charCodeAt(at++);
        length += (digit & 127) * multiplier;
        multiplier *= 128;
      } while (digit & 128);
      const total = at + length;
      if (total > maxPacketSize) {
        onError(DecodeError.TooLarge, firstByte, total);
        if (buffered.length < total) {
          toSkip = total - buffered.length;
          buffered = "";
          return;
        }
      } else {
        if (buffered.length < total) return;
        const decoded = decodePacket(firstByte, buffered.substr(at, length));
        if (typeof decoded == "number") onError(decoded, firstByte, total);
        else onPacket(decoded);
      }
      buffered = buffered.substr(total);
    }
  };
}
