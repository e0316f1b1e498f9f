// The tiny firmware: the whole LED device at QoS 0 in one module, what the defaults build. The build picks it
// instead of main.ts when the config asks for nothing it lacks (`tinyFirmwareGaps` in scripts/firmware-config.mjs):
// QoS 0 commands and reports, a clean session, no offline queue, no TLS, no button, brightness, error topic or Home
// Assistant, and a CONNECT of at most 127 bytes. WiFi, credentials, the client id, keepalive, base topic, pin,
// packet cap and JSON commands all work.
//
// It is main.ts + app/led.ts + mqtt/client.ts cut to what that config needs, with the session's guarantees kept:
// Will and retained availability, a connect deadline, keepalive with a PINGRESP deadline, reconnect with backoff and
// jitter, packets reassembled and split, oversized ones skipped as they stream, and the connection dropped (then
// re-made) on any packet a broker must not send a QoS 0 subscriber. Being smaller, it is stricter: a PUBACK, a QoS 1
// PUBLISH or an unknown SUBACK id is a protocol error here, and a PUBLISH on any topic but the base topic is
// ignored unread (a broker sends none: the one subscription is that exact topic).
//
// Everything lives at the top level, in few functions, and one interval of a second counts down every deadline and
// delay: on Espruino each function object and each timer costs RAM, and each byte of source is RAM too. The functions
// are const arrows, which the build writes into the one `var` statement, shorter than declarations (the same vars on
// the interpreter); receive() alone is a declaration, after them: Espruino calls it with the socket as `this`.
import { Command, parseCommand, parseJsonCommand, PlainCommand } from "./app/led";
import { joinWifi } from "./board/wifi";
import { Delay } from "./mqtt/delay";

/** Where the device says it is online (retained), and where its Will says offline. */
const enum Topic {
  State = "/state",
  Availability = "/availability",
}

/**
 * The SUBSCRIBE's packet id, 0x6964: any id but 0 will do, and two printable bytes take 2 bytes of the bundle where
 * "\0\x01" takes 6.
 */
const enum PacketId {
  Subscribe = "id",
}

/**
 * console.log: Espruino's print is the same function (jswrap_print), under a shorter name. Its arguments are printed
 * with a space between them (a line's parts are passed so where that is shorter).
 */
const log: (...parts: (string | number)[]) => void = print;
/** Why a link is dropped on a packet no broker may send here (with its first byte). */
const BAD_PACKET = "bad packet, first byte ";

/** The open (or opening) link; 0 (or undefined, before the first) between connections. */
let socket: EspruinoSocket | 0 | undefined;
// The state below without an initial value gets one before its first use (at start, or on connecting): no bytes
// spent on it.
/** Bytes of a packet not yet whole, and how many bytes of an oversized one are still to be skipped. */
let buffered: string;
let toSkip: number;
// Flags are 0 or 1 (or truthy): a number is a byte shorter than a boolean in the bundle.
/**
 * 0 until CONNACK, then 1 plus the ticks since: the interval below counts it, and sends a PINGREQ on it every half
 * keepalive; a link up for 10 s counts as stable (the backoff starts afresh).
 */
let connected: number | undefined;
/** Not 0: a PINGREQ went out and no byte has come from the broker since. */
let pingSent: number;
/**
 * The most seconds the next reconnect waits: 1 at start and after a stable connection, doubling with each failure.
 * 0 while stopped (doubled, it stays 0): that is how the firmware knows it is stopped.
 */
let backoff: number;
/**
 * Seconds until the next step while not connected (the interval below): connect, or drop the link that has not said
 * CONNACK. Below 1, nothing is due. Set at start (by connecting, or to 0 while WiFi joins).
 */
let countdown: number;
/** The LED pin's level: the LED is on where it is high, or low where the LED is active-low. */
let level: boolean | number;
/** A report timer's id (never 0) while one is pending. */
let reportPending: number;

/**
 * A packet whose remaining length fits one byte: the build picks this firmware only where every packet it sends is
 * that short (`tinyFirmwareGaps`). With 0 for `first`, a string field (its two length bytes, then the bytes).
 * E.toString makes a plain string from 2v18 on (before, a flat one, which a fragmented heap could refuse: undefined);
 * every build needs 2v20 anyway (README, step 1).
 */
const short = (first: number, body: string) => E.toString(first, body.length, body);

/**
 * Sends `bytes` where connected (CONNACK came; so `socket` is the link), and drops the link if the write fails.
 * Without bytes (as the report timer calls it) it reports: the state, as a retained QoS 0 PUBLISH. (One function for
 * both: each function object costs RAM.)
 */
const send = (bytes?: string) => {
  if (!bytes) {
    reportPending = 0;
    bytes = short(0x31, short(0, CONFIG.baseTopic + Topic.State) + (CONFIG.ledActiveLow ? (level ? "off" : "on") : level ? "on" : "off"));
  }
  try {
    if (connected) (socket as EspruinoSocket).write(bytes);
  } catch {
    drop("write failed");
  }
};

/**
 * Connects, from the interval (`tick` 1). Without `tick` it is start(): at power-up, and again after a stop (save()
 * stops, then starts the saved image), it puts the LED off, as at boot, and then connects (or has WiFi join first).
 * One function for both: each function object costs RAM.
 */
const connect = (tick?: number) => {
  if (!tick) {
    // Started already (code in Storage runs at boot, and then 'init' comes too).
    if (backoff) return;
    backoff = 1;
    // The LED off. (reportPending needs no reset: a report timer pending at a stop survives save() and fires.)
    digitalWrite(CONFIG.ledPin, (level = CONFIG.ledActiveLow ? 1 : 0));
    // With no SSID the board uses whatever network it has (saved WiFi settings, Ethernet).
    if (CONFIG.wifiSsid !== undefined) {
      countdown = 0;
      return joinWifi(CONFIG.wifiSsid, CONFIG.wifiPassword, log, () => connect(1));
    }
  }
  buffered = "";
  toSkip = 0;
  // The deadline for the TCP connect and the CONNACK together.
  countdown = Delay.ConnackSeconds;
  try {
    socket = (require("net") as EspruinoNet).connect({ host: CONFIG.mqttHost, port: CONFIG.mqttPort });
    // CONNECT at once: Espruino holds what is written until the link is up (seen on the interpreter; in its source,
    // a socket not yet connected takes nothing on ESP8266, ESP32 and Linux, and is tried again).
    // Protocol MQTT level 4; flags: user name, password, Will retained at QoS 0, clean session; keepalive.
    // String.fromCharCode on constants is folded by the build, and so is the rest but the derived client id.
    socket.write(
      short(
        0x10,
        "\0\x04MQTT\x04" +
          String.fromCharCode((CONFIG.mqttUsername !== undefined || CONFIG.mqttPassword !== undefined ? 128 : 0) | (CONFIG.mqttPassword !== undefined ? 64 : 0) | 0x26, CONFIG.keepalive >> 8, CONFIG.keepalive & 255) +
          (CONFIG.clientId !== undefined
            ? String.fromCharCode(0, CONFIG.clientId.length) + CONFIG.clientId
            : // Without one configured, a valid MQTT 3.1.1 client id (1-23 of [0-9a-zA-Z]) from the serial number.
              short(0, ("led" + getSerial().replace(/[\W_]/g, "")).substr(0, 23))) +
          String.fromCharCode(0, (CONFIG.baseTopic + Topic.Availability).length) +
          CONFIG.baseTopic +
          Topic.Availability +
          "\0\x07offline" +
          // A password without a user name goes with an empty one: 3.1.1 allows no password alone [MQTT-3.1.2-22].
          (CONFIG.mqttUsername !== undefined || CONFIG.mqttPassword !== undefined ? String.fromCharCode(0, (CONFIG.mqttUsername ?? "").length) + (CONFIG.mqttUsername ?? "") : "") +
          (CONFIG.mqttPassword !== undefined ? String.fromCharCode(0, CONFIG.mqttPassword.length) + CONFIG.mqttPassword : ""),
      ),
    );
    socket.on("data", receive);
    socket.on("end", receive);
  } catch (error) {
    // Whatever Espruino throws has a message (jsExceptionHere makes an error object of every kind it raises).
    drop("cannot connect: " + (error as Error).message);
  }
};

/**
 * Ends the link (if any) and, unless stopped, reconnects after a backoff: 1 s doubling to the cap, with jitter.
 * Called with no reason, it is E's 'kill' handler: a stop (reset, save, load), with no reconnect. Nothing is said to
 * the broker: Espruino closes its sockets right after the 'kill' handlers, before what they write is sent (seen on
 * the real interpreter), so the broker sends the Will, `offline`. Sending no DISCONNECT keeps it so, should that
 * change. (One function for both: each function object costs RAM.)
 */
const drop = (reason?: string) => {
  if (!reason) {
    backoff = 0;
    reason = "stopped";
  }
  // end() gives undefined: socket and connected are falsy after this.
  socket = connected = socket && socket.end();
  // Full jitter: 1 to `backoff` ticks (whole seconds, as the interval counts). A refusal comes just after the tick
  // that connected, so attempts stay at least a second apart; a link that dies mid-tick is retried within the
  // second. The backoff doubles up to the cap. Stopped: 0, and the countdown never reaches 0 again.
  countdown = backoff && (1 + Math.random() * backoff) | 0;
  // (2 * backoff < the cap, for a whole backoff: backoff < half the cap, rounded up.)
  backoff = backoff < (CONFIG.reconnectMaxSeconds + 1) >> 1 ? 2 * backoff : CONFIG.reconnectMaxSeconds;
  log("MQTT:", reason + (backoff ? "; retry in " + countdown + " s" : ""));
};

/**
 * The socket's 'data' and 'end' alike: a string of bytes, or nothing; `this` is the socket. Each whole packet is
 * checked against what a broker may send this client; anything else is a protocol error, after which a client must
 * close [MQTT-4.8.0-1].
 */
function receive(this: unknown, event?: string) {
  // An event of a socket dropped before (its listeners stay on it): the link it speaks of is gone.
  if (this != socket) return;
  if (event) {
    // Any bytes from the broker, a skipped packet's too, show the link is alive.
    pingSent = 0;
    // substring, not substr: a start below 0 (nothing to skip) counts as 0, as it does on Espruino.
    buffered += event.substring(toSkip);
    toSkip -= event.length;
    while (socket) {
      const first = buffered.charCodeAt();
      /** The whole packet's length: its first byte, each length byte and the remaining length they give. */
      let total = 1;
      let at = 1;
      let digit;
      /**
       * The packet's type and flags, then its body (what follows its remaining length); and a PUBLISH's command, once
       * read. Declared here, with the rest: the build then writes no `let` of their own.
       */
      let key: string;
      let command!: Command;
      // The remaining length: 7 bits a byte, low first, at most 4 bytes. Reading past the end gives NaN: it ends the
      // loop, and makes the length NaN (no skip below, and a wait for more bytes).
      do {
        if (at > 4) return drop(BAD_PACKET + first);
        digit = buffered.charCodeAt(at);
        total += (digit % 128) * (1 << (7 * at++ - 7)) + 1;
      } while (digit & 128);
      // Not all of it here yet (or not even its length: NaN), and not oversized: wait for more.
      if (!(total > CONFIG.maxPacketSize || total <= buffered.length)) return;
      // The packet leaves the buffer. An oversized one is skipped as its bytes arrive, never buffered whole: above 0,
      // this is what has not come yet (0 or less for a whole packet: nothing to skip).
      toSkip = total - buffered.length;
      // (An oversized packet's key is the part of it that is here, unused.)
      key = buffered[0] + buffered.slice(at, total);
      buffered = buffered.substr(total);
      if (total > CONFIG.maxPacketSize) log("skipped a packet of", total, "bytes");
      else if (!connected) {
        // CONNACK: accepted (session present must be 0 after a clean-session CONNECT [MQTT-3.2.2-1]), or refused:
        // " \0" (0x20 0x00) and its code.
        if (key != " \0\0") {
          return drop(/^ \0[^]$/.test(key) ? "refused, code " + key.charCodeAt(2) : BAD_PACKET + first);
        }
        connected = 1;
        log("MQTT connected");
        // Online, retained, then SUBSCRIBE (the base topic at QoS 0): one constant string (in this order it ends in
        // "\0", which the build writes shorter than a "\0" followed by a digit).
        send(
          String.fromCharCode(0x31, 8 + (CONFIG.baseTopic + Topic.Availability).length) +
            String.fromCharCode(0, (CONFIG.baseTopic + Topic.Availability).length) +
            CONFIG.baseTopic +
            Topic.Availability +
            "online" +
            String.fromCharCode(0x82, CONFIG.baseTopic.length + 5) +
            PacketId.Subscribe +
            String.fromCharCode(0, CONFIG.baseTopic.length) +
            CONFIG.baseTopic +
            "\0",
        );
        send();
      } else if (first >> 1 == 0x18) {
        // PUBLISH at QoS 0 (0x30, 0x31: DUP 0, retain either): acted on where its topic is the base topic.
        // Any other topic (which no broker sends here: the one subscription is this exact topic) is ignored. The
        // topic field starts right after the first byte (0x30 or 0x31, never its length's high byte 0): found at 1.
        if (key.indexOf(short(0, CONFIG.baseTopic)) == 1) {
          // From here on the key is the payload (no variable of its own: the build then needs no `let`).
          key = key.substr(CONFIG.baseTopic.length + 3);
          if (CONFIG.jsonCommands) {
            command = parseCommand(key);
            if (command < 0) {
              // Without brightness a JSON command always holds a state: [state, -1].
              const json = parseJsonCommand(key);
              if (json) command = json[0] as Command;
            }
          }
          // Without JSON commands parseCommand is written out here, its one use (the build drops the function): a
          // payload longer than PlainCommand.Longest is refused unread.
          if (
            CONFIG.jsonCommands
              ? command < 0
              : key[PlainCommand.Longest] || (command = PlainCommand.Words.split(" ").indexOf(key.trim().toLowerCase()) % 3) < 0
          ) {
            log("refused", JSON.stringify(key.substr(0, 16)) + (key[16] ? "..." : ""), "on " + CONFIG.baseTopic);
          } else {
            // Off 0, on 1, toggle 2 (flips the level).
            digitalWrite(CONFIG.ledPin, (level = command > Command.On ? !level : CONFIG.ledActiveLow ? !command : command));
            // One report per burst of commands: the last state is the one that counts. A timer's id is never 0.
            reportPending = reportPending || setTimeout(send);
          }
        }
      } else if (key == "\x90" + PacketId.Subscribe + "\x80") log("subscription refused: " + CONFIG.baseTopic);
      // SUBACK granting QoS 0, PINGRESP: nothing to do. Anything else: a protocol error.
      else if (key != "\x90" + PacketId.Subscribe + "\0" && key != "\xd0") return drop(BAD_PACKET + first);
    }
  }
  // 'end'.
  else drop("closed");
}

/** Every second: a PINGREQ where one is due, or whatever the countdown has come to (see `countdown`). */
setInterval(() => {
  if (connected) {
    // Every half keepalive, rounded up (none with keepalive 0), a PINGREQ, or a drop if the last one went unanswered.
    if (!(connected++ % ((CONFIG.keepalive + 1) >> 1)) && CONFIG.keepalive) {
      if (pingSent++) drop("no PINGRESP");
      // PINGREQ (packet.ts's FixedPacket.Pingreq: importing packet.ts would bring its `chr` along).
      else send("\xc0\0");
    }
    // Up for 10 s: the connection counts as stable, and the backoff starts afresh (keepalive or not).
    if (connected > Delay.StableSeconds) backoff = 1;
  } else if (!--countdown) {
    if (socket) drop("no CONNACK");
    else connect(1);
  }
}, 1000);

// As main.ts: start on load and on 'init' (code saved with save()), stop on 'kill' (before save(), reset(), load()).
E.on("init", connect);
E.on("kill", drop);
connect();
