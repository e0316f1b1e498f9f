// The MQTT 3.1.1 codec: pure functions from values to bytes and back, no I/O, no timers.
// Bytes are binary strings (one char = one byte, 0-255) because Espruino sockets take and give strings.
// Topics and payloads are handed in as byte strings already (UTF-8 for topics): the codec never re-encodes.
// Espruino dialect: see firmware/README.md (no default/rest parameters, spread, destructuring, `?.`).
// Deliberately lenient, to stay small: a packet id of 0, wildcards in a PUBLISH topic and CONNACK codes above 5
// are passed on, not refused (the session decides what they mean).

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

/**
 * Why a packet from the broker was refused. The stream is out of step after `BadLength` (drop the connection), in
 * step after the others; all but `TooLarge` are protocol violations after which a client must close [MQTT-4.8.0-1].
 */
export const enum DecodeError {
  /** The remaining length runs past 4 bytes. */
  BadLength = 1,
  /** Type 0 or 15, or a type a broker never sends to a client (CONNECT, SUBSCRIBE, ...). */
  BadType = 2,
  /** Fixed-header flags the spec forbids for this type: not 0000 (0010 for PUBREL), or PUBLISH with QoS 3. */
  BadFlags = 3,
  /** The remaining length does not fit the fields the packet must hold, or a topic length runs past the end. */
  BadSize = 4,
  /** Bigger than the reader's cap: skipped as its bytes arrive, never buffered. */
  TooLarge = 5,
  /** A PUBLISH topic that is empty, not UTF-8, or holds U+0000 [MQTT-1.5.3, 4.7.3-1]. */
  BadTopic = 6,
  /** A reserved value: CONNACK flag bits 7-1 set, or a SUBACK return code other than 0, 1, 2 or 0x80. */
  BadValue = 7,
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
  /** Seconds between packets from the client before it sends a PINGREQ; 0 turns keepalive off. */
  keepalive: number;
  /** Default true. With false the broker keeps subscriptions and QoS 1/2 messages across connections. */
  clean?: boolean;
  will?: Will;
  /** A password without a user name is sent with an empty user name: 3.1.1 allows no password alone [MQTT-3.1.2-22]. */
  username?: string;
  password?: string;
}

export const chr = String.fromCharCode;

/**
 * A 16-bit field, big-endian: a number (below 65,536) as itself; a string (UTF-8 bytes) as its length, then its bytes.
 * One function for both, as each function object costs the board RAM. `value === value + ""` holds for a string
 * alone (what `typeof value == "string"` says, in fewer bytes).
 */
export const field = (value: number | string): string => {
  return value === value + ""
    ? field((value as string).length) + value
    : chr((value as number) >> 8, (value as number) & 255);
};

/**
 * A packet: its first byte, the remaining-length varint (7 bits a byte, low first, 1 to 4 bytes, up to
 * 268,435,455) counting `body` and `more` bytes (none where not given) the caller writes after it, then `body`.
 */
export const packet = (firstByte: number, body: string, more?: number): string => {
  let out = chr(firstByte);
  // ~~: 0 where `more` is not given (shorter than | 0).
  let length = body.length + ~~(more as number);
  // Bit operators: the length fits in 28 bits. Each turn writes a byte, then the loop goes on while bits are left:
  // a do-while, written as a while because minified it is `do x;while(...)`, which Espruino before 2v25 cannot parse.
  while (((out += chr(length >> 7 ? (length & 127) | 128 : length)), (length >>= 7)));
  return out + body;
};

export const encodeConnect = (options: ConnectOptions): string => {
  const will = options.will;
  const username = options.username;
  const password = options.password;
  let flags = options.clean !== false ? 2 : 0;
  let payload = field(options.clientId);
  if (will) {
    flags |= 4 | (will.qos << 3) | (+will.retain << 5);
    payload += field(will.topic) + field(will.payload);
  }
  if ((username ?? password) != null) {
    flags |= 128;
    payload += field(username ?? "");
  }
  if (password != null) {
    flags |= 64;
    payload += field(password);
  }
  // The protocol name "MQTT", level 4 (3.1.1), connect flags, keepalive.
  return packet(0x10, field("MQTT") + chr(4, flags) + field(options.keepalive) + payload);
};

// The framer follows the encoders the device uses (chr to encodeConnect), before the tools' codec: the build then
// writes all of them into one `var` list.

/**
 * What a framer reports for each packet: its first byte, its body, 0 or the DecodeError that refuses it, and then,
 * for a refused packet, its size, header included; for a well-formed one, its body's first two bytes as a big-endian
 * 16-bit number (the packet id; a CONNACK's flags and code; a PUBLISH's topic length; 0 for PINGRESP), which the
 * framer reads anyway: one value for both, as each parameter costs the board RAM. After BadLength (body "", size 0)
 * the stream is out of step: drop the connection. After TooLarge (body "") the packet's bytes are skipped as they
 * arrive, never buffered.
 */
export type FrameListener = (firstByte: number, body: string, error: DecodeError | 0, sizeOrWord: number) => void;

/**
 * An incremental framer, and the one check of what the broker sends: feed it chunks of any size (a packet split over
 * reads, several packets in one read); it reports each packet once, in order, with 0 or the DecodeError that refuses
 * it, and returns how many bytes it holds for a packet not yet whole (always less than `maxPacketSize`, or under 5
 * for an unfinished header). A packet over `maxPacketSize` bytes (header included) is reported as TooLarge. The
 * listener may feed the framer again: its state is updated before each report. One function with the checks inline,
 * not several: each function object costs the board RAM.
 */
export const createFramer = (maxPacketSize: number, onFrame: FrameListener): ((chunk: string) => number) => {
  let buffered = "";
  let toSkip = 0;
  return (chunk: string) => {
    // toSkip: bytes of an oversized packet still to come; at or below 0, none (substring takes a start below 0 as 0).
    buffered += chunk.substring(toSkip);
    toSkip -= chunk.length;
    for (;;) {
      const firstByte = buffered.charCodeAt(0);
      // The bytes held, read once: `buffered` stays the same until the packet is taken off it.
      const held = buffered.length;
      let length = 0;
      let at = 1;
      let digit: number;
      // The remaining length: 7 bits a byte, low first, at most 4 bytes. A byte past the end reads as NaN, which
      // adds 0 and ends the loop with `at` past the end: the header is not whole yet.
      while (((digit = buffered.charCodeAt(at)), (length |= digit % 128 << (7 * at++ - 7)), digit > 127))
        if (at > 4) {
          buffered = "";
          onFrame(firstByte, "", DecodeError.BadLength, 0);
          return 0;
        }
      if (at > held) return held;
      const total = at + length;
      // An oversized packet is reported with no body, and its bytes skipped as they come.
      let body = "";
      let error: DecodeError | 0 = DecodeError.TooLarge;
      // Where a PUBLISH's topic ends: 2 past the big-endian 16-bit field that opens every body (the topic's length),
      // which the listener gets too.
      let topicEnd = 2;
      if (total > maxPacketSize) toSkip = total - held;
      else {
        if (held < total) return held;
        body = buffered.substr(at, length);
        const type = firstByte >> 4;
        // The UTF-8 check's index (declared with `type`, the two written as one `let`).
        let i = 2;
        // Bytes past the end read as 0 (bit operators turn NaN into 0).
        topicEnd += (body.charCodeAt(0) << 8) | body.charCodeAt(1);
        error =
          // Bit n is set for each type n a broker may send: CONNACK, PUBLISH, PUBACK-PUBCOMP, SUBACK, UNSUBACK, PINGRESP.
          !((0x2afc >> type) & 1) ? DecodeError.BadType
          // PUBLISH: the QoS bits (2-1) both set is QoS 3; either set, a packet id follows the topic.
          : type == PacketType.Publish
            ? firstByte % 8 > 5 ? DecodeError.BadFlags
              : topicEnd + (firstByte & 6 && 2) > length ? DecodeError.BadSize
              : topicEnd < 3 ? DecodeError.BadTopic
              : 0
          // Every other packet a broker sends has fixed flags: 0010 for PUBREL, 0000 for the rest.
          : firstByte % 16 != (type == PacketType.Pubrel && 2) ? DecodeError.BadFlags
          // SUBACK: an id and at least one return code, each 0, 1, 2 or 0x80.
          : type == PacketType.Suback
            ? length < 3 ? DecodeError.BadSize
              : /[^\0-\x02\x80]/.test(body.substr(2)) ? DecodeError.BadValue
              : 0
          // PINGRESP has no body (type - 13 is 0), the rest exactly 2 bytes.
          : length != (type - PacketType.Pingresp && 2) ? DecodeError.BadSize
          // CONNACK flag bits 7-1 are reserved.
          : type == PacketType.Connack && topicEnd > 513 ? DecodeError.BadValue
          : 0;
        // A PUBLISH topic must be well-formed UTF-8 [RFC 3629] without U+0000 [MQTT-1.5.3]: no stray or missing
        // continuation byte, overlong form, surrogate (U+D800-DFFF) or code point past U+10FFFF.
        while (!error && type == PacketType.Publish && i < topicEnd) {
          let c = body.charCodeAt(i++);
          let next: number;
          // Continuation bytes after this lead byte; 4 for a byte that cannot lead (80-C1: continuation or overlong).
          // (c >> 7 << 2: 0 below 0x80, else 4. From C2 on, bits 5-4 of the high nibble: C and D give 0 and 1, so
          // || 1; E gives 2, F 3.)
          let n = c < 194 ? (c >> 7) << 2 : (c >> 4) & 3 || 1;
          // The least value of a sequence of this length (1 << 5.5n, the shift count cut to a whole number: 1, 32,
          // 0x800, 0x10000), taken before n counts the continuation bytes down.
          const least = 1 << (5.5 * n);
          // The lead byte's value bits: the bit after its run of 1s is 0, so 127 >> n keeps exactly them (F8-FF
          // keep a 1 there, and like F5-F7 end past U+10FFFF).
          // Each continuation byte, 10xxxxxx, is below 64 once its top bit is flipped; any other byte (or none:
          // NaN ^ 128 is 128) turns the value negative, below every bound below (and the shifts keep it negative).
          for (c &= 127 >> n; n--; ) c = (next = body.charCodeAt(i++) ^ 128) > 63 ? -1 : (c << 6) | next;
          // Cut off by the topic's end; below the least value of its length (this catches U+0000 and overlong 3- and
          // 4-byte forms; C0 and C1 cannot lead) or past U+10FFFF (c >> 16 past 16; one of these two fails every
          // byte that cannot lead, n = 4: its least value, 1 << 22, is past U+10FFFF); or a surrogate. Set, not
          // only raised: the loop runs while it is 0.
          error = i > topicEnd || c < least || c >> 16 > 16 || c >> 11 == 27 ? DecodeError.BadTopic : 0;
        }
      }
      buffered = buffered.substr(total);
      onFrame(firstByte, body, error, error ? total : topicEnd - 2);
    }
  };
};

/** The remaining-length varint alone. */
export function encodeLength(length: number): string {
  return packet(0, "", length).substr(1);
}

/** A message to publish. */
export interface Message {
  topic: string;
  payload: string;
  /** 0, 1 or 2. */
  qos: number;
  retain: boolean;
  /** The packet id, with QoS 1 and 2. */
  id: number;
}

/**
 * The fixed header, topic and packet id of a PUBLISH of `message` (its payload counted, not copied). The caller writes
 * the payload after it, so a large payload is never copied into a new string. One object, not six parameters: on
 * Espruino each parameter costs the function RAM.
 */
export function encodePublishHeader(message: Message, dup: boolean): string {
  const qos = message.qos;
  return packet(0x30 | (+dup << 3) | (qos << 1) | +message.retain, field(message.topic) + (qos ? field(message.id) : ""), message.payload.length);
}

/**
 * One SUBSCRIBE for several topic filters, each with its requested QoS (0 where `qos` has no entry). For the tools:
 * the client writes its own from its subscriptions, as it writes its one-filter UNSUBSCRIBE.
 */
export function encodeSubscribe(id: number, filters: string[], qos: number[]): string {
  let body = field(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i] as string) + chr(qos[i] ?? 0);
  return packet(FirstByte.Subscribe, body);
}

/** UNSUBSCRIBE for several topic filters (for the tools, as encodeSubscribe). */
export function encodeUnsubscribe(id: number, filters: string[]): string {
  let body = field(id);
  for (let i = 0; i < filters.length; i++) body += field(filters[i] as string);
  return packet(FirstByte.Unsubscribe, body);
}

/**
 * First bytes (type and flags) of the packets the client writes itself from `packet` and `field`: a const enum, so
 * the build writes the numbers where they are used. PUBACK and PUBREC are the type shifted (flags 0000).
 */
export const enum FirstByte {
  Pubrel = 0x62,
  Pubcomp = 0x70,
  Subscribe = 0x82,
  Unsubscribe = 0xa2,
}

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP for packet `id`; PUBREL's fixed-header flags are 0010. For the tools: the client
 * writes its own, as it writes SUBSCRIBE and UNSUBSCRIBE.
 */
export function encodeAck(type: PacketType, id: number): string {
  return packet(type == PacketType.Pubrel ? FirstByte.Pubrel : type << 4, field(id));
}

/** The packets that are always the same two bytes: a const enum, so the build writes them where they are used. */
export const enum FixedPacket {
  Pingreq = "\xc0\0",
  Disconnect = "\xe0\0",
}

/**
 * Whether `bytes` (at most 65,535 of them) is not well-formed UTF-8 [RFC 3629] or holds U+0000 [MQTT-1.5.3], for
 * the tools: the framer's verdict on a PUBLISH with `bytes` as its topic.
 */
export function badUtf8(bytes: string): boolean {
  return bytes != "" && decodePacket(0x30, field(bytes)) == DecodeError.BadTopic;
}

/** The fields of a packet the framer passed, as an object (for the tools: the device reads them from the body). */
function packetFields(firstByte: number, body: string): Packet {
  const type = firstByte >> 4;
  const flags = firstByte & 15;
  const result: Packet = { type: type, flags: flags };
  const first = (body.charCodeAt(0) << 8) | body.charCodeAt(1);
  if (type == PacketType.Publish) {
    const qos = (flags >> 1) & 3;
    let at = 2 + first;
    result.topic = body.substring(2, at);
    if (qos) {
      result.id = (body.charCodeAt(at) << 8) | body.charCodeAt(at + 1);
      at += 2;
    }
    result.payload = body.substr(at);
    result.qos = qos;
    result.retain = !!(flags & 1);
    result.dup = !!(flags & 8);
  } else if (type == PacketType.Connack) {
    result.sessionPresent = first > 255;
    result.code = first & 255;
  } else if (type < PacketType.Pingresp) {
    result.id = first;
    if (type == PacketType.Suback) {
      result.granted = [];
      for (let i = 2; i < body.length; i++) result.granted.push(body.charCodeAt(i));
    }
  }
  return result;
}

/**
 * Decodes one whole packet from its first byte and its body into an object, for the tools; returns a DecodeError
 * where it is malformed. The verdict is the framer's, on the packet framed again: the device checks in one place.
 */
export function decodePacket(firstByte: number, body: string): Packet | DecodeError {
  let error: DecodeError | 0 = 0;
  createFramer(Infinity, function (_firstByte, _body, verdict) {
    error = verdict;
  })(packet(firstByte, body));
  return error || packetFields(firstByte, body);
}

/** A framer that hands over each well-formed packet decoded (`decodePacket`) and each error apart: for the tools. */
export function createReader(
  maxPacketSize: number,
  onPacket: (packet: Packet) => void,
  onError: (error: DecodeError, firstByte: number, totalSize: number) => void,
): (chunk: string) => number {
  return createFramer(maxPacketSize, function (firstByte, body, error, size) {
    if (error) onError(error, firstByte, size);
    else onPacket(packetFields(firstByte, body));
  });
}
