// A scripted broker at the byte level for client tests: a fake transport that records every write and lets the
// test play the broker, and a fake clock whose timers fire only when the test advances it. No sockets, no sleeps.
import assert from "node:assert/strict";
import {
  createClient,
  type Client,
  type ClientOptions,
  type Clock,
  type Dial,
} from "../../firmware/mqtt/client.ts";

// client.ts's build-time feature switches (esbuild `define` in a build): all on, as in a build using every feature.
Object.assign(globalThis, { MQTT_QOS1: true, MQTT_QOS2: true, MQTT_QUEUE: true, MQTT_LIBRARY: true });

// ---------------------------------------------------------------------------------------------------------------
// Fake clock: virtual milliseconds and a list of pending timers.

export interface FakeTimer {
  id: number;
  due: number;
  callback: () => void;
}

export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due on the way, earliest first (ties: first set). */
  advance(ms: number): void;
  /** The timers not yet fired or cancelled, earliest first. */
  pending(): FakeTimer[];
}

export function createFakeClock(): FakeClock {
  let now = 0;
  let nextId = 1;
  let timers: FakeTimer[] = [];
  const byDue = (a: FakeTimer, b: FakeTimer) => a.due - b.due || a.id - b.id;
  return {
    now: () => now,
    after(callback, ms) {
      const id = nextId++;
      timers.push({ id, due: now + ms, callback });
      return id;
    },
    cancel(id) {
      timers = timers.filter((t) => t.id !== id);
    },
    advance(ms) {
      const end = now + ms;
      for (let fired = 0; ; fired++) {
        // A client that keeps re-arming a timer that is already due would hang the suite: fail instead.
        assert.ok(fired < 10000, `timers still firing at ${now} ms after 10000 in one advance: a hot loop`);
        const next = [...timers].sort(byDue)[0];
        if (!next || next.due > end) break;
        timers = timers.filter((t) => t !== next);
        now = next.due;
        next.callback(); // may set more timers, which fire in this same advance if due
      }
      now = end;
    },
    pending: () => [...timers].sort(byDue),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Fake transport: each dial is recorded; the test holds the connection's events and plays the broker.

/** The link's reports to the client, by name (the client takes them all through one listener). */
export interface LinkEvents {
  opened(): void;
  received(bytes: string): void;
  closed(): void;
}

export interface FakeConnection {
  events: LinkEvents;
  /** Every write, one string per write() call. */
  writes: string[];
  closeCalls: number;
  /** When set, write() throws, as a socket whose far end is gone may. */
  failWrites: boolean;
}

export interface FakeBroker {
  dial: Dial;
  /** Clock time of every dial, including those that threw. */
  dialTimes: number[];
  /** The connections that were made (dials that did not throw). */
  connections: FakeConnection[];
  /** The next `count` dials throw at once, as Espruino does on a refused connect. */
  refuseDials(count: number): void;
}

export function createFakeBroker(clock: Clock): FakeBroker {
  const broker: FakeBroker = {
    dialTimes: [],
    connections: [],
    refuseDials(count) {
      toRefuse = count;
    },
    dial(listener) {
      broker.dialTimes.push(clock.now());
      if (toRefuse > 0) {
        toRefuse--;
        // Espruino throws a plain object, not an Error.
        throw { type: "InternalError", message: "Unable to create socket" };
      }
      const events: LinkEvents = {
        opened: () => listener({}),
        received: (bytes) => listener(bytes),
        closed: () => listener(),
      };
      const connection: FakeConnection = { events, writes: [], closeCalls: 0, failWrites: false };
      broker.connections.push(connection);
      return {
        write(bytes) {
          if (connection.failWrites) throw new Error("socket is closed");
          connection.writes.push(bytes);
        },
        end() {
          connection.closeCalls++;
        },
      };
    },
  };
  let toRefuse = 0;
  return broker;
}

// ---------------------------------------------------------------------------------------------------------------
// Broker packets, built by hand.

export const chr = String.fromCharCode;

/** Two bytes, high first. */
export function u16(value: number): string {
  return chr(value >> 8, value & 255);
}

/** The remaining-length varint, written out here rather than taken from the codec under test. */
export function varint(length: number): string {
  let out = "";
  do {
    let digit = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) digit |= 0x80;
    out += chr(digit);
  } while (length > 0);
  return out;
}

export function connack(code: number, sessionPresent = false): string {
  return (
    "\x20" + // CONNACK (type 2), flags 0
    "\x02" + // remaining length 2
    (sessionPresent ? "\x01" : "\x00") + // acknowledge flags: bit 0 = session present
    chr(code) // return code: 0 accepted, 1-5 refused
  );
}

export function suback(id: number, granted: number[]): string {
  return (
    "\x90" + // SUBACK (type 9), flags 0
    chr(2 + granted.length) + // remaining length: packet id + one byte per filter
    u16(id) + // packet id
    chr(...granted) // granted QoS per filter, 0x80 = refused
  );
}

/** A QoS 0 PUBLISH from the broker. */
export function publish(topic: string, payload: string): string {
  const body = u16(topic.length) + topic + payload; // topic length, topic, payload (no packet id at QoS 0)
  return (
    "\x30" + // PUBLISH (type 3), flags 0: no DUP, QoS 0, no retain
    varint(body.length) + // remaining length
    body
  );
}

export const PINGRESP =
  "\xd0" + // PINGRESP (type 13), flags 0
  "\x00"; // remaining length 0

export const PINGREQ =
  "\xc0" + // PINGREQ (type 12), flags 0
  "\x00"; // remaining length 0

export const DISCONNECT =
  "\xe0" + // DISCONNECT (type 14), flags 0
  "\x00"; // remaining length 0

/** CONNECT for client id "led1", keepalive 10 s, clean session, no Will, no credentials. */
export const CONNECT_PLAIN =
  "\x10" + // CONNECT (type 1), flags 0
  "\x10" + // remaining length 16 = 10 (variable header) + 6 (client id)
  "\x00\x04" + // protocol name length 4
  "MQTT" + // protocol name
  "\x04" + // protocol level 4 (3.1.1)
  "\x02" + // connect flags: clean session only
  "\x00\x0a" + // keepalive 10 s
  "\x00\x04" + // client id length 4
  "led1"; // client id

/** SUBSCRIBE for "led" and "home/#", both at QoS 0, with the given packet id. */
export function subscribeLedAndHome(id: number): string {
  return (
    "\x82" + // SUBSCRIBE (type 8), flags 2 (required)
    "\x11" + // remaining length 17 = 2 (id) + 6 ("led" filter) + 9 ("home/#" filter)
    u16(id) + // packet id
    "\x00\x03" + // filter length 3
    "led" + // filter
    "\x00" + // requested QoS 0
    "\x00\x06" + // filter length 6
    "home/#" + // filter
    "\x00" // requested QoS 0
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Harness: one client on a fake clock and a fake broker, with everything it reports recorded.

export interface Harness {
  clock: FakeClock;
  broker: FakeBroker;
  client: Client;
  log: string[];
  /** onConnect / onDisconnect / onMessage in the order they came. */
  events: string[];
  connects: boolean[];
  disconnects: string[];
  messages: Array<[topic: string, payload: string]>;
  /** The newest connection. */
  latest(): FakeConnection;
}

export const DEFAULTS = {
  clientId: "led1",
  keepalive: 10,
  maxPacketSize: 128,
  reconnectMin: 1000,
  reconnectMax: 8000,
};

export function start(overrides: Partial<ClientOptions> = {}, refuseFirstDials = 0): Harness {
  const clock = createFakeClock();
  const broker = createFakeBroker(clock);
  broker.refuseDials(refuseFirstDials);
  const h: Omit<Harness, "client"> = {
    clock,
    broker,
    log: [],
    events: [],
    connects: [],
    disconnects: [],
    messages: [],
    latest() {
      const connection = broker.connections[broker.connections.length - 1];
      assert.ok(connection, "no connection was made");
      return connection;
    },
  };
  const options: ClientOptions = {
    ...DEFAULTS,
    onConnect(sessionPresent) {
      h.connects.push(sessionPresent);
      h.events.push("connect");
    },
    onDisconnect(reason) {
      h.disconnects.push(reason);
      h.events.push("disconnect: " + reason);
    },
    onMessage(topic, payload) {
      h.messages.push([topic, payload]);
      h.events.push("message");
    },
    log(message) {
      h.log.push(message);
    },
    ...overrides,
  };
  return { ...h, client: createClient(broker.dial, clock, options) };
}

/** The newest connection opens and the broker accepts it at once. */
export function accept(h: Harness, sessionPresent = false): FakeConnection {
  const connection = h.latest();
  connection.events.opened();
  connection.events.received(connack(0, sessionPresent));
  return connection;
}

export function logIncludes(h: Harness, text: string): boolean {
  return h.log.some((line) => line.includes(text));
}

/** The one timer that should be pending (the reconnect), as a delay from now. */
export function onlyPendingDelay(h: Harness): number {
  const pending = h.clock.pending();
  assert.equal(pending.length, 1, "exactly one timer should be pending");
  return (pending[0] as FakeTimer).due - h.clock.now();
}

/** Asserts that the next dial comes after exactly `delay` ms, not a millisecond earlier. */
export function assertNextDialAfter(h: Harness, delay: number): void {
  const dials = h.broker.dialTimes.length;
  h.clock.advance(delay - 1);
  assert.equal(h.broker.dialTimes.length, dials, `no dial before ${delay} ms`);
  h.clock.advance(1);
  assert.equal(h.broker.dialTimes.length, dials + 1, `a dial at ${delay} ms`);
}

// ---------------------------------------------------------------------------------------------------------------

