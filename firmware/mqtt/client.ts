// The MQTT session: CONNECT/CONNACK, subscriptions, keepalive with a PINGRESP deadline, reconnect with backoff.
// It is handed its transport (`Dial`) and its clock, and knows nothing of WiFi, pins or the LED.
import {
  createReader,
  DecodeError,
  DISCONNECT,
  encodeConnect,
  encodePublishHeader,
  encodeSubscribe,
  Packet,
  PacketType,
  PINGREQ,
  Will,
} from "./packet";

/** One open connection. `write` and `close` may throw once the far end is gone; the client copes. */
export interface Link {
  write(bytes: string): void;
  close(): void;
}

/** What a link reports. `closed` must come once, after `opened` or instead of it. */
export interface LinkEvents {
  opened(): void;
  received(bytes: string): void;
  closed(): void;
}

/** Opens a connection to the broker. May throw at once (Espruino throws on a refused connect): that counts as closed. */
export type Dial = (events: LinkEvents) => Link;

export interface Clock {
  /** Milliseconds, monotonic enough for intervals. */
  now(): number;
  after(ms: number, callback: () => void): number;
  cancel(id: number): void;
}

export interface ClientOptions {
  clientId: string;
  /** Seconds between packets before a PINGREQ is sent; 0 turns keepalive off. */
  keepalive: number;
  will?: Will;
  username?: string;
  password?: string;
  /** Largest packet accepted from the broker, in bytes; bigger ones are skipped and reported. */
  maxPacketSize: number;
  /** First reconnect delay and the cap it doubles up to, in milliseconds. */
  reconnectMin: number;
  reconnectMax: number;
  /** After each accepted CONNACK (and the SUBSCRIBE sent with it). May publish. */
  onConnect(sessionPresent: boolean): void;
  /** After a connection that had been accepted is lost. */
  onDisconnect(reason: string): void;
  onMessage(topic: string, payload: string): void;
  log(message: string): void;
}

export interface Client {
  /** QoS 0. Returns false where it could not be written: not connected, or the write failed (the link is then re-made). */
  publish(topic: string, payload: string, retain: boolean): boolean;
  /** Remembered, and re-sent after every reconnect. */
  subscribe(filter: string): void;
  /** Sends DISCONNECT where connected, closes, and stops reconnecting. */
  stop(): void;
  isConnected(): boolean;
}

const CONNACK_REFUSALS = [
  "",
  "unacceptable protocol version",
  "identifier rejected",
  "server unavailable",
  "bad user name or password",
  "not authorized",
];

/** How long to wait for CONNACK once the socket is open, in milliseconds. */
const CONNACK_TIMEOUT = 10000;

/** Starts connecting at once and keeps reconnecting until `stop()`. */
export function createClient(dial: Dial, clock: Clock, options: ClientOptions): Client {
  const filters: string[] = [];
  let link: Link | null = null;
  /** Identifies the current connection: events from an older one are ignored. */
  let session = 0;
  let connected = false;
  let stopped = false;
  let timer: number | null = null;
  let failures = 0;
  let lastSent = 0;
  let pingSentAt = 0;
  let nextId = 0;
  /** The filters of each SUBSCRIBE not yet acknowledged, by packet id, to name a refused one. */
  let pendingSubscribes: { [id: number]: string[] } = {};
  const keepaliveMs = options.keepalive * 1000;

  function arm(ms: number, callback: () => void) {
    disarm();
    timer = clock.after(ms, callback);
  }

  function disarm() {
    // clearTimeout() without an id clears every timer on Espruino: only ever pass a real one.
    if (timer != null) clock.cancel(timer);
    timer = null;
  }

  /**
   * Writes to the current link. Returns false when there is none or the write failed, which drops the link and
   * schedules the reconnect: the caller must then stop, or a timer it arms would replace the reconnect's.
   */
  function send(bytes: string): boolean {
    if (!link) return false;
    try {
      link.write(bytes);
      lastSent = clock.now();
      return true;
    } catch (error) {
      drop("write failed");
      return false;
    }
  }

  function sendSubscribe(list: string[]): boolean {
    nextId = (nextId % 65535) + 1;
    pendingSubscribes[nextId] = list;
    return send(encodeSubscribe(nextId, list, list.map(function () { return 0; })));
  }

  /** Keepalive: ping after `keepalive` s of silence from us, and give up half an interval later without an answer. */
  function keepaliveTick() {
    const now = clock.now();
    if (pingSentAt) {
      if (now - pingSentAt >= keepaliveMs / 2) return drop("no answer to PINGREQ");
      return arm(keepaliveMs / 2 - (now - pingSentAt), keepaliveTick);
    }
    const idle = now - lastSent;
    if (idle >= keepaliveMs) {
      if (!send(PINGREQ)) return;
      pingSentAt = now;
      return arm(keepaliveMs / 2, keepaliveTick);
    }
    arm(keepaliveMs - idle, keepaliveTick);
  }

  function handle(packet: Packet) {
    pingSentAt = 0;
    const type = packet.type;
    if (type == PacketType.Connack) {
      if (connected) return drop("second CONNACK");
      if (packet.code) return drop("broker refused connection: " + (CONNACK_REFUSALS[packet.code as number] || "code " + packet.code));
      connected = true;
      failures = 0;
      disarm();
      options.log("MQTT connected");
      if (filters.length && !sendSubscribe(filters.slice())) return;
      // Counted from our last packet (the CONNECT, or the SUBSCRIBE), not from the CONNACK.
      if (keepaliveMs) keepaliveTick();
      options.onConnect(packet.sessionPresent as boolean);
    } else if (!connected) {
      drop("packet before CONNACK");
    } else if (type == PacketType.Publish) {
      if (packet.qos) {
        // Our subscriptions ask for QoS 0, so a broker must not send more; never act on what we cannot acknowledge.
        options.log("ignored QoS " + packet.qos + " PUBLISH");
        return;
      }
      options.onMessage(packet.topic as string, packet.payload as string);
    } else if (type == PacketType.Suback) {
      const granted = packet.granted as number[];
      const sent = pendingSubscribes[packet.id as number] || [];
      delete pendingSubscribes[packet.id as number];
      for (let i = 0; i < granted.length; i++) {
        if (granted[i] == 0x80) options.log("broker refused subscription to " + sent[i]);
      }
    }
  }

  function decodeFailed(error: DecodeError, firstByte: number, size: number) {
    if (error == DecodeError.TooLarge) {
      options.log("skipped a packet of " + size + " bytes (type " + (firstByte >> 4) + "): over the " + options.maxPacketSize + "-byte limit");
    } else {
      drop("malformed packet from broker (error " + error + ", first byte " + firstByte + ")");
    }
  }

  function connect() {
    timer = null;
    if (stopped) return;
    const mySession = ++session;
    // A drop while a chunk is being read leaves packets behind it in that chunk: they belong to the old session.
    const read = createReader(
      options.maxPacketSize,
      function (packet: Packet) {
        if (mySession == session) handle(packet);
      },
      function (error: DecodeError, firstByte: number, size: number) {
        if (mySession == session) decodeFailed(error, firstByte, size);
      },
    );
    const events: LinkEvents = {
      opened: function () {
        if (mySession != session) return;
        pendingSubscribes = {};
        const sent = send(encodeConnect({
          clientId: options.clientId,
          keepalive: options.keepalive,
          clean: true,
          will: options.will,
          username: options.username,
          password: options.password,
        }));
        if (sent) arm(CONNACK_TIMEOUT, function () { drop("no CONNACK"); });
      },
      received: function (bytes: string) {
        if (mySession == session) read(bytes);
      },
      closed: function () {
        if (mySession == session) drop("connection closed");
      },
    };
    try {
      link = dial(events);
    } catch (error) {
      // Espruino throws at once on a refused connect, and not always an Error.
      drop("cannot connect: " + ((error as { message?: string }).message || error));
    }
  }

  /** Ends the current connection, whatever state it is in, and schedules the next attempt. */
  function drop(reason: string) {
    const old = link;
    const wasConnected = connected;
    session++;
    link = null;
    connected = false;
    pingSentAt = 0;
    disarm();
    if (old) {
      try {
        old.close();
      } catch (error) {
        // Already closed by the far end.
      }
    }
    if (wasConnected) options.onDisconnect(reason);
    if (stopped) return;
    // Exponential backoff with jitter (50-100% of the step), so a fleet does not reconnect in step.
    const step = Math.min(options.reconnectMax, options.reconnectMin * Math.pow(2, failures));
    const delay = Math.round(step * (0.5 + Math.random() / 2));
    if (failures < 30) failures++;
    options.log(reason + "; reconnecting in " + (delay / 1000).toFixed(1) + " s");
    arm(delay, connect);
  }

  connect();

  return {
    publish: function (topic: string, payload: string, retain: boolean) {
      if (!connected) return false;
      return send(encodePublishHeader(topic, payload.length, 0, retain, false, 0)) && (!payload || send(payload));
    },
    subscribe: function (filter: string) {
      filters.push(filter);
      if (connected) sendSubscribe([filter]);
    },
    stop: function () {
      stopped = true;
      if (connected) send(DISCONNECT);
      drop("stopped");
    },
    isConnected: function () {
      return connected;
    },
  };
}
