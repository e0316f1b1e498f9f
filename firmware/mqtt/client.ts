// The MQTT session: CONNECT/CONNACK, subscriptions dispatched by topic filter, keepalive with a PINGRESP deadline,
// QoS 1 and 2 both ways, a bounded offline queue, reconnect with backoff. It is handed its transport (`Dial`) and
// its clock, and knows nothing of WiFi, pins or the LED.
// Written for Espruino's memory: every function object costs RAM (about 5 variables, plus one per parameter), while
// its code stays in flash. So the session is a few larger functions rather than many small ones, and one function
// serves several callbacks where their shapes allow it. Functions are const arrows (here, in packet.ts and topic.ts),
// which the build writes into its `let`/`var` lists, shorter than declarations and the same variables on Espruino
// (seen on the ESP8266-shaped interpreter); nothing here reads `this`. As declarations were, each is defined before
// its first call (Espruino does not hoist).
import {
  chr,
  createFramer,
  DecodeError,
  encodeConnect,
  field,
  packet,
  ConnectOptions,
  FirstByte,
  FixedPacket,
  PacketType,
} from "./packet";
import { Delay } from "./delay";
import { topicMatches } from "./topic";

// Feature switches, defined by the build from the config (esbuild `define`), so that a build which never uses
// QoS 1/2, the offline queue or what only the library's callers use carries none of their code: the branches they
// guard are dropped when parsed. Whoever runs this module outside a build defines them as globals (the unit tests
// turn them all on).
/** QoS 1 or more is used: packet ids, the in-flight window, PUBACK. */
declare const MQTT_QOS1: boolean;
/** QoS 2 is used: PUBREC, PUBREL, PUBCOMP and inbound exactly-once. */
declare const MQTT_QOS2: boolean;
/** The offline queue is used (and `dropped()` counts what it dropped). */
declare const MQTT_QUEUE: boolean;
/**
 * What only the client library's callers use is offered: `unsubscribe()`, `dropped()`, a handler per subscription
 * matched by topic filter (wildcards too), `onDisconnect`, `reconnectMin` and `inflightMax`. The LED firmware uses
 * none of them: it never unsubscribes, takes its one subscription's messages through onMessage (no topic matching),
 * and keeps the defaults.
 */
declare const MQTT_LIBRARY: boolean;

/** One open connection: Espruino's socket is one as it is. Both may throw once the far end is gone; the client copes. */
export interface Link {
  write(bytes: string): void;
  end(): void;
}

/**
 * What a link reports, all through one function, shaped so that an Espruino socket's own callbacks can be this
 * function itself: an object (the socket: Espruino's connect callback gets it) once it is open, each string of bytes
 * received ('data'), nothing once it is closed ('end', after the open or instead of it). Reports after the close
 * are ignored.
 */
export type LinkListener = (event?: string | object) => void;

/** Opens a connection to the broker. May throw at once (Espruino throws on a refused connect): that counts as closed. */
export type Dial = (listener: LinkListener) => Link;

/** Shaped like Espruino's own functions, so that a board passes them as they are: { now: Date.now, after: setTimeout, cancel: clearTimeout }. */
export interface Clock {
  /** Milliseconds, monotonic enough for intervals. */
  now(): number;
  /** Returns the timer's id: never 0 (Espruino's start at 1), so that 0 can mean none. */
  after(callback: () => void, ms: number): number;
  cancel(id: number): void;
}

/** The CONNECT's fields, under the names `encodeConnect` reads (the client hands it these options as they are), and the session's. */
export interface ClientOptions extends ConnectOptions {
  /** Largest packet accepted from the broker, in bytes; bigger ones are skipped and reported. */
  maxPacketSize: number;
  /**
   * First reconnect delay (default 1 s: Delay.ReconnectMin; read where the build has MQTT_LIBRARY) and the cap it
   * doubles up to, in milliseconds.
   */
  reconnectMin?: number;
  reconnectMax: number;
  /**
   * QoS 1 and 2 publishes sent and not yet acknowledged, at most (default 4: Default.InflightMax; read where the build
   * has MQTT_LIBRARY). More wait in the queue.
   */
  inflightMax?: number;
  /**
   * Publishes held while disconnected or while the in-flight window is full, at most (default 0: none; publish
   * then returns false). When full, the oldest QoS 0 message is dropped for the new one; with none to drop, the new
   * one is refused. Every drop is logged and counted.
   */
  queueLimit?: number;
  /** After each accepted CONNACK (and the SUBSCRIBE sent with it). May publish. */
  onConnect(sessionPresent: boolean): void;
  /**
   * After a connection that had been accepted is lost (the client also logs "MQTT: " and the reason). Where the build
   * has MQTT_LIBRARY.
   */
  onDisconnect?(reason: string): void;
  /** Messages that no subscription's own handler took. */
  onMessage?: MessageHandler;
  log(message: string): void;
}

/** Runs inside the client's packet handling: it may publish, but a long task here delays everything else. */
export type MessageHandler = (topic: string, payload: string) => void;

export interface Client {
  /**
   * QoS 0 (default), 1 or 2. Never blocks. Returns true when the message was written, or taken into the in-flight
   * window or the queue; false when it was refused (not connected and no room in the queue, or a QoS 0 write that
   * failed). QoS 1/2 messages not acknowledged when the link drops are sent again, with DUP, after the reconnect.
   */
  publish(topic: string, payload: string, retain: boolean, qos?: number): boolean;
  /**
   * Remembered, and re-sent after every reconnect. Messages matching `filter` go to `handler`, else to onMessage;
   * where the build has no MQTT_LIBRARY, every message goes to onMessage (`handler` is not read).
   */
  subscribe(filter: string, qos?: number, handler?: MessageHandler): void;
  /** Where the build has MQTT_LIBRARY. */
  unsubscribe?(filter: string): void;
  /**
   * Messages dropped or refused because the queue was full, since start. Where the build has MQTT_QUEUE and
   * MQTT_LIBRARY.
   */
  dropped?(): number;
  /** Sends DISCONNECT where connected, closes, and stops reconnecting. */
  stop(): void;
  isConnected(): boolean;
}

/** Defaults of ClientOptions the client reads in more than one place: a const enum too, for the same reason. */
const enum Default {
  /** `inflightMax` when not given. */
  InflightMax = 4,
}

/**
 * A publish on its way. Its `id` is set when it is first sent (at QoS 1 or 2). Its fields are named apart from the
 * Will's (topic, payload, qos, retain), which the client library keeps whole for its callers, so that the build
 * shortens these in every bundle (esbuild.config.mjs, MANGLED_PROPERTIES).
 */
interface Outgoing {
  pubTopic: string;
  pubPayload: string;
  /** 0, 1 or 2. */
  pubQos: number;
  pubRetain: boolean;
  id: number;
}

/** Inbound QoS 2 ids awaiting PUBREL: a run of consecutive ids, `runLow` to `runHigh`, and any others as keys. */
interface AwaitingRelease {
  [id: number]: number;
  runLow: number;
  runHigh: number;
}

/** Starts connecting at once and keeps reconnecting until `stop()`. */
export const createClient = (dial: Dial, clock: Clock, options: ClientOptions): Client => {
  /**
   * The subscriptions, three entries each: filter, QoS, handler (or undefined). One array is cheaper on Espruino than
   * three, or an object per subscription; indexOf() of a filter finds only a filter (the others are not strings).
   */
  const subscriptions: Array<string | number | MessageHandler | undefined> = [];
  // The three below are made only where the build uses them (else never read): each costs the board RAM.
  /**
   * QoS 1/2 publishes sent, in order, until acknowledged; a QoS 2 one past its PUBREC is replaced by its PUBREL (the
   * bytes, to send again as they are after a reconnect) until the PUBCOMP: the message itself is done with.
   */
  const inflight = (MQTT_QOS1 ? [] : null) as Array<Outgoing | string>;
  const queue = (MQTT_QUEUE ? [] : null) as Outgoing[];
  /**
   * Inbound QoS 2 ids whose PUBLISH was delivered and whose PUBREL has not come yet, so that a re-sent PUBLISH is not
   * delivered twice: the run of consecutive ids from its `runLow` to its `runHigh` (none while runLow > runHigh, or
   * either is unset), and any others as its keys. Brokers number a client's PUBLISHes in turn and release them in
   * order, and may run hundreds ahead of their PUBRELs (Mosquitto 2.0.11 ran 580 ahead in a burst of 1,000 on an
   * ESP8266-shaped Espruino): the run holds them in two numbers, where a key costs the board a variable each. They are
   * properties, not variables of their own, so that a build without QoS 2 has neither.
   */
  let awaitingRelease = (MQTT_QOS2 ? {} : null) as AwaitingRelease;
  let droppedCount = 0;
  // Left undefined where nothing reads them before they are set, or where undefined reads as their first value would
  // (fewer bytes): lastSent (read after the CONNECT), link and timer (none yet), stopped, pingSent (read once
  // connected: every packet, the CONNACK among them, sets it first), connected and step (below), pendingSubscribes
  // (set when each link opens, before anything is subscribed on it). Flags are 1 and 0, shorter than true and false.
  /** The open link; 0 once dropped (shorter than null). */
  let link: Link | 0 | undefined;
  /** Identifies the current connection: events from an older one are ignored. */
  let session = 0;
  /**
   * Falsy (undefined, then 0) until a CONNACK accepts the connection, then the time (clock.now()) from which it
   * counts as a good one (Delay.StableConnection after the CONNACK; never 0, as clocks do not run negative): one
   * variable for both.
   */
  let connected: number | undefined;
  let stopped: number | undefined;
  /** The pending timer's id; falsy (undefined, then 0) for none: ids are never 0. */
  let timer: number | undefined;
  /**
   * The last reconnect's step (ms; 0 for none since a good connection, undefined before the first: doubled, both give
   * a falsy number, NaN or 0): each next one doubles it.
   */
  let step: number;
  let lastSent: number;
  /** 1: a PINGREQ went out and nothing has come from the broker since. */
  let pingSent: number | undefined;
  let nextId = 0;
  /** The subscriptions of each SUBSCRIBE not yet acknowledged (as in `subscriptions`), by packet id, to name a refused one. */
  let pendingSubscribes: { [id: number]: typeof subscriptions };
  const keepaliveMs = options.keepalive * 1000;

  /** Replaces the one pending timer, which always calls `fire`; with a negative `ms`, only cancels it. */
  const arm = (ms: number) => {
    // clearTimeout() without an id clears every timer on Espruino: only ever pass a real one.
    if (timer) clock.cancel(timer);
    timer = ms < 0 ? 0 : clock.after(fire, ms);
  };

  /**
   * Writes to the current link `bytes`, or the PUBLISH of a message given instead (its header, then its payload as it
   * is: never copied into the header); a message is told from bytes by its QoS, a number (a string has none: one
   * parameter for both, as each costs the board RAM). A new QoS 1/2 message (not `dup`, 1 for a re-send) gets its packet id and joins
   * the in-flight window until acknowledged. Returns true once written; nothing (falsy) when there is no link or the
   * write failed, which drops the link and schedules the reconnect: the caller must then stop, or a timer it arms
   * would replace the reconnect's.
   */
  const send = (bytes: string | Outgoing, dup?: number): true | undefined => {
    if (!link) return;
    try {
      // `bytes` is a message here (named so without a variable: the minified bundle would keep it).
      if ((bytes as Outgoing).pubQos >= 0) {
        if (MQTT_QOS1 && (bytes as Outgoing).pubQos && !dup) {
          (bytes as Outgoing).id = nextId = (nextId % 65535) + 1;
          inflight.push(bytes as Outgoing);
        }
        // The PUBLISH's fixed header, topic and packet id (as encodePublishHeader writes them, here without a
        // function object of their own), its payload counted, not copied.
        link.write(
          packet(
            0x30 | ((dup as number) << 3) | ((bytes as Outgoing).pubQos << 1) | +(bytes as Outgoing).pubRetain,
            field((bytes as Outgoing).pubTopic) + ((bytes as Outgoing).pubQos ? field((bytes as Outgoing).id) : ""),
            (bytes as Outgoing).pubPayload.length,
          ),
        );
        bytes = (bytes as Outgoing).pubPayload;
      }
      if (bytes) link.write(bytes as string);
      lastSent = clock.now();
      return true;
    } catch (error) {
      drop("write failed");
    }
  };

  /**
   * One SUBSCRIBE for the subscriptions from index `first` of `subscriptions` on: all of them after a CONNACK, the
   * newest one after subscribe(). Written here from the array as it is (encodeSubscribe would need copies).
   */
  const subscribeFrom = (first: number) => {
    let body = field((nextId = (nextId % 65535) + 1));
    for (pendingSubscribes[nextId] = subscriptions.slice(first); first < subscriptions.length; first += 3) {
      body += field(subscriptions[first] as string) + chr(subscriptions[first + 1] as number);
    }
    send(packet(FirstByte.Subscribe, body));
  };

  /**
   * The one timer's callback (one function object for every use, as each costs the board RAM). With no link, it
   * connects; before the CONNACK, it is the CONNACK's deadline; after it, keepalive: a PINGREQ after `keepalive` s of
   * silence from us, and the link dropped when nothing came back half an interval later (any packet clears `pingSent`).
   */
  const fire = (): void => {
    timer = 0;
    if (link) {
      if (!connected || pingSent) return drop(connected ? "no PINGRESP" : "no CONNACK");
      const idle = clock.now() - lastSent;
      if (idle < keepaliveMs) return arm(keepaliveMs - idle);
      // Set before the write; after a failed one (the link dropped) the next CONNACK clears it.
      pingSent = 1;
      return send(FixedPacket.Pingreq) && arm(keepaliveMs / 2);
    }
    // Never after stop(): its drop cancels the timer, and nothing arms it again.
    const mySession = ++session;
    /**
     * Everything of this connection, through one function (each function object costs the board RAM): what the link
     * reports (`LinkListener`: one argument at most) and each packet its framer reads (`FrameListener`: the first
     * byte, the body, 0 or the DecodeError, then the size of a refused packet or the first 16-bit field of a good
     * one). Fields are read from the body here, not through packet objects, for the same reason. Reports of an older
     * connection, and packets behind a drop in the chunk being read, are ignored.
     */
    const receive = (event: string | object | number | undefined, body: string, error: DecodeError | 0, id: number) => {
      if (mySession != session) return;
      // What the link reports: bytes, the link open (the socket), or closed (nothing). A packet always has a body.
      if ((body as string | undefined) == null) {
        return typeof event == "string"
          ? read(event)
          : event
            ? // The options hold the CONNECT's fields under the same names. (What this returns is never read.)
              ((pendingSubscribes = {}), send(encodeConnect(options)) && arm(Delay.ConnackTimeout))
            : drop("closed");
      }
      // From here on, `event` is the packet's first byte.
      if (error) {
        if (error == DecodeError.TooLarge) {
          return options.log("skipped a packet of " + id + " bytes");
        }
        return drop("bad packet, first byte " + event + " (error " + error + ")");
      }
      pingSent = 0;
      const type = (event as number) >> 4;
      // `id`, read by the framer: the packet id; a CONNACK's flags and code; a PUBLISH's topic length.
      if (type == PacketType.Connack) {
        const code = id & 255;
        if (connected) return drop("second CONNACK");
        if (code) {
          // Codes 1 to 5 are named; a code above 5 is given alone.
          return drop(
            "refused, code " + code + ([" (unacceptable protocol version)", " (identifier rejected)", " (server unavailable)", " (bad user name or password)", " (not authorized)"][code - 1] || ""),
          );
        }
        const sessionPresent = id > 255;
        connected = clock.now() + Delay.StableConnection;
        arm(-1);
        options.log("MQTT connected" + (sessionPresent ? " (session present)" : ""));
        // A broker that kept our session (clean session off) kept our subscriptions and its half of QoS 2 too.
        if (!sessionPresent || options.clean !== false) {
          if (MQTT_QOS2) awaitingRelease = {} as AwaitingRelease;
          if (subscriptions.length) subscribeFrom(0);
        }
        // Everything not acknowledged goes again, in order, with DUP; a QoS 2 message past PUBREC as its PUBREL.
        if (MQTT_QOS1) for (const message of inflight) send(message, 1);
        // Then (below, after every packet) what waited in the queue while we were offline, and onConnect.
      } else if (!connected) {
        drop("packet before CONNACK");
      } else if (type == PacketType.Publish) {
        const qos = ((event as number) >> 1) & 3;
        // `id` is the topic's length here; then the packet id (with QoS 1 and 2).
        const topic = body.substr(2, id);
        const payload = body.substr(qos ? id + 4 : id + 2);
        id = (body.charCodeAt(id + 2) << 8) | body.charCodeAt(id + 3);
        // The framer refuses QoS 3, so a build with QoS 2 takes every PUBLISH.
        if (!MQTT_QOS2 && qos > (MQTT_QOS1 ? 1 : 0)) {
          // This build cannot acknowledge it: never act on what we cannot acknowledge.
          return options.log("ignored a QoS " + qos + " PUBLISH");
        }
        // PUBACK for QoS 1, PUBREC for QoS 2: the types after PUBLISH's, flags 0000.
        if (MQTT_QOS1 && qos) send(packet((type + qos) << 4, field(id)));
        if (MQTT_QOS2 && qos == 2) {
          if (awaitingRelease[id] || (awaitingRelease.runLow <= id && id <= awaitingRelease.runHigh)) return;
          // A new run where there is none; the next id extends it; any other id is kept apart.
          if (!(awaitingRelease.runLow <= awaitingRelease.runHigh)) awaitingRelease.runLow = awaitingRelease.runHigh = id;
          else if (id == awaitingRelease.runHigh + 1) awaitingRelease.runHigh = id;
          else awaitingRelease[id] = 1;
        }
        // onMessage, unless a subscription's own handler takes the message.
        let fallback: MessageHandler | 0 | undefined = options.onMessage;
        if (MQTT_LIBRARY) for (let i = 0; i < subscriptions.length; i += 3) {
          const handler = subscriptions[i + 2] as MessageHandler | undefined;
          if (handler && topicMatches(subscriptions[i] as string, topic)) {
            fallback = 0;
            handler(topic, payload);
          }
        }
        if (fallback) fallback(topic, payload);
      } else if (MQTT_QOS1 && (MQTT_QOS2 ? type >> 2 == 1 : type == PacketType.Puback)) {
        // (With QoS 2: PUBACK to PUBCOMP, the types 4 to 7, those whose value shifted right by 2 is 1.)
        // PUBREL ends an inbound QoS 2 message. PUBACK ends an outbound QoS 1 message, PUBCOMP a QoS 2 one; PUBREC
        // turns a QoS 2 one into its PUBREL (sent, PUBCOMP awaited).
        // What PUBREL is answered with, PUBCOMP; else the PUBREL for `id`: what a PUBREC turns its message into (and
        // is answered with), and what a PUBCOMP ends.
        const reply = MQTT_QOS2 ? packet(type == PacketType.Pubrel ? FirstByte.Pubcomp : FirstByte.Pubrel, field(id)) : "";
        if (MQTT_QOS2 && type == PacketType.Pubrel) {
          // An id in the run ends it there: the ids up to it leave the run for the keys (none but itself when PUBRELs
          // come in order), and it is deleted there.
          while (awaitingRelease.runLow <= id && id <= awaitingRelease.runHigh) awaitingRelease[awaitingRelease.runLow++] = 1;
          delete awaitingRelease[id];
        }
        // For a PUBREL too (one loop, not two branches: fewer bytes), where it ends nothing: no message has QoS 3.
        // (Every entry is truthy: a message, or a PUBREL's bytes.)
        for (let i = 0, message: Outgoing | string | undefined; (message = inflight[i]); i++) {
          // PUBACK and PUBREC end a message of their QoS (1 and 2, the type less 3), by id; without QoS 2, every
          // message here is QoS 1. PUBCOMP ends the PUBREL it answers (a string, whose fields read as undefined).
          if (MQTT_QOS2 && type == PacketType.Pubcomp ? message == reply : (message as Outgoing).id == id && (!MQTT_QOS2 || (message as Outgoing).pubQos == type - 3)) {
            if (MQTT_QOS2 && type == PacketType.Pubrec) inflight[i] = reply;
            else inflight.splice(i, 1);
          }
        }
        // PUBREC is answered with PUBREL, and PUBREL with PUBCOMP, even for an id we do not know, so that the broker
        // can go on or end its half [4.3.3]. (Of the types here, 4 to 7, PUBREC and PUBREL are the two whose remainder
        // by 5 is under 2: shorter than naming both.)
        if (MQTT_QOS2 && type % 5 < 2) send(reply);
      } else if (type == PacketType.Suback) {
        const sent = pendingSubscribes[id] || [];
        delete pendingSubscribes[id];
        for (let i = 2; i < body.length; i++) {
          // 0x80: the framer passes no other code above 2.
          if (body.charCodeAt(i) > 2) options.log("subscription refused: " + sent[i * 3 - 6]);
        }
      }
      // Queued messages, oldest first, while the link and the window allow: after a CONNACK, what waited while we were
      // offline; after an acknowledgement, what the window has room for now; after other packets, nothing (while
      // connected, the queue holds messages only behind a full window). Here once, not in a function of its own (a
      // function object costs the board RAM). A failed write drops the link, which ends the loop.
      if (MQTT_QUEUE) {
        while (connected && queue[0] && (!MQTT_QOS1 || !(queue[0] as Outgoing).pubQos || inflight.length < ((MQTT_LIBRARY && options.inflightMax) || Default.InflightMax))) {
          send(queue.shift() as Outgoing);
        }
      }
      // After an accepted CONNACK, unless a failed write above dropped the link (the writes after it did nothing).
      if (type == PacketType.Connack && connected) {
        // Counted from our last packet (CONNECT, SUBSCRIBE or a re-send), not from the CONNACK.
        if (keepaliveMs) fire();
        options.onConnect(id > 255);
      }
    };
    const read = createFramer(options.maxPacketSize, receive);
    try {
      link = dial(receive as LinkListener);
    } catch (error) {
      // Espruino throws at once on a refused connect, and not always an Error.
      drop("cannot connect: " + ((error as { message?: string }).message || error));
    }
  };

  /** Ends the current connection, whatever state it is in, and schedules the next attempt. */
  const drop = (reason: string) => {
    // From here on this link's reports, its close among them, are ignored.
    session++;
    try {
      (link as Link).end();
    } catch (error) {
      // Already closed by the far end, or no link (0): nothing to end.
    }
    link = 0;
    // `pingSent` is left as it is: it counts only once connected, and the CONNACK, as every packet, clears it.
    if (connected) {
      // A good connection starts the backoff again from the bottom: a short one keeps its step (times 1, not 0).
      step *= +(clock.now() < connected);
      connected = 0;
      if (MQTT_LIBRARY && options.onDisconnect) options.onDisconnect(reason);
    }
    // Exponential backoff (reconnectMin doubled up to reconnectMax) with jitter (50-100% of the step), so a fleet
    // does not reconnect in step.
    step = Math.min(options.reconnectMax, step * 2 || (MQTT_LIBRARY && options.reconnectMin) || Delay.ReconnectMin);
    const delay = Math.round((step * (1 + Math.random())) / 2);
    // One line for every drop, as the tiny firmware says it: "MQTT: <why>", then when the next attempt comes.
    options.log("MQTT: " + reason + (stopped ? "" : "; retry in " + (delay / 1000).toFixed(1) + " s"));
    // The timer is replaced (or cancelled) only now: nothing runs it before this function returns.
    arm(stopped ? -1 : delay);
  };

  fire();

  const client: Client = {
    publish(topic: string, payload: string, retain: boolean, qos?: number) {
      // A whole number from 0 to the highest QoS the build has (a fraction rounded down; none, or not a number, is 0).
      const message = { pubTopic: topic, pubPayload: payload, pubQos: MQTT_QOS2 && (qos as number) >= 2 ? 2 : MQTT_QOS1 ? +((qos as number) >= 1) : 0, pubRetain: retain } as Outgoing;
      // Behind queued messages a new one waits its turn, so order is kept.
      if (connected && (!MQTT_QOS1 || !message.pubQos || inflight.length < ((MQTT_LIBRARY && options.inflightMax) || Default.InflightMax)) && !(MQTT_QUEUE && queue[0])) {
        return send(message) || (MQTT_QOS1 && message.pubQos > 0);
      }
      if (!MQTT_QUEUE || !options.queueLimit) return false;
      if (queue.length >= options.queueLimit) {
        let oldestQos0 = 0;
        while (MQTT_QOS1 && queue[oldestQos0] && (queue[oldestQos0] as Outgoing).pubQos) oldestQos0++;
        // With no QoS 0 message, the search ran past the end.
        const refused = !queue[oldestQos0];
        droppedCount++;
        options.log(
          "queue full: " + (refused ? "refused a" : "dropped the oldest QoS 0") + " publish to " + (refused ? topic : (queue.splice(oldestQos0, 1)[0] as Outgoing).pubTopic) +
            " (" + droppedCount + " dropped so far)",
        );
        if (refused) return false;
      }
      queue.push(message);
      return true;
    },
    subscribe(filter: string, qos?: number, handler?: MessageHandler) {
      // The QoS as publish() takes it.
      subscriptions.push(filter, MQTT_QOS2 && (qos as number) >= 2 ? 2 : MQTT_QOS1 ? +((qos as number) >= 1) : 0, handler);
      if (connected) subscribeFrom(subscriptions.length - 3);
    },
    stop() {
      stopped = 1;
      if (connected) send(FixedPacket.Disconnect);
      drop("stopped");
    },
    // An arrow: shorter than a method where it only returns. A boolean, as `connected` is a time.
    isConnected: () => !!connected,
  };
  if (MQTT_LIBRARY) {
    client.unsubscribe = (filter: string) => {
      const at = subscriptions.indexOf(filter);
      if (at < 0) return;
      subscriptions.splice(at, 3);
      // UNSUBSCRIBE, written here for its one filter.
      if (connected) send(packet(FirstByte.Unsubscribe, field((nextId = (nextId % 65535) + 1)) + field(filter)));
    };
  }
  if (MQTT_QUEUE && MQTT_LIBRARY) {
    client.dropped = () => {
      return droppedCount;
    };
  }
  return client;
};
