// The tiny firmware: the whole LED device at QoS 0 in one module, what the defaults build. The build picks it
// instead of main.ts when the config asks for nothing it lacks (`tinyFirmwareGaps` in scripts/firmware-config.mjs):
// QoS 0 commands and reports, a clean session, no offline queue, no TLS, no button, brightness, error topic or Home
// Assistant. WiFi, credentials, the client id, keepalive, base topic, pin, packet cap and JSON commands all work.
//
// It is main.ts + app/led.ts + mqtt/client.ts cut to what that config needs, with the session's guarantees kept:
// Will and retained availability, CONNACK deadline, keepalive with a PINGRESP deadline, reconnect with backoff and
// jitter, packets reassembled and split, oversized ones skipped as they stream, and the connection dropped (then
// re-made) on any packet a broker must not send a QoS 0 subscriber. Being smaller, it is stricter: a PUBACK, a QoS 1
// PUBLISH or an unknown SUBACK id is a protocol error here, and a PUBLISH on any topic but the base topic is
// ignored unread (a broker sends none: the one subscription is that exact topic).
//
// Everything lives at the top level and in few functions: on Espruino each function object costs RAM.
import { Command, parseCommand, parseJsonCommand, Refusal } from "./app/led";
import { joinWifi } from "./board/wifi";
import { Delay } from "./mqtt/client";
import { chr, field, FixedPacket, packet, u16 } from "./mqtt/packet";

/** Where the device says it is online (retained), and where its Will says offline. */
const enum Topic {
  State = "/state",
  Availability = "/availability",
}

const log: (message: string) => void = console.log;

/** The open (or opening) link; undefined between connections, when events of the old socket are ignored. */
let socket: EspruinoSocket | undefined;
/** Bytes of a packet not yet whole, and how many bytes of an oversized one are still to be skipped. */
let buffered = "";
let toSkip = 0;
let connected = false;
let pingSent = false;
let connectedAt = 0;
let failures = 0;
let running = false;
/** The one timer (Espruino's ids start at 1): the CONNACK deadline, then the keepalive tick, or the reconnect. */
let timer: number | undefined;
let isOn = false;
let reportPending = false;

function arm(ms: number, callback?: () => void) {
  if (timer) clearTimeout(timer);
  timer = callback && setTimeout(callback, ms);
}

function send(bytes: string) {
  if (socket) {
    try {
      socket.write(bytes);
    } catch {
      drop("write failed");
    }
  }
}

/** A retained QoS 0 PUBLISH to <base><subtopic>. */
function publish(subtopic: string, payload: string) {
  send(packet(0x31, field(CONFIG.baseTopic + subtopic), payload.length) + payload);
}

function report() {
  reportPending = false;
  if (connected) publish(Topic.State, isOn ? "on" : "off");
}

/** Until CONNACK: its deadline. Then every half keepalive: a PINGREQ, or a drop if the last one had no answer. */
function tick() {
  if (!connected) return drop("no CONNACK");
  if (pingSent) return drop("no PINGRESP");
  arm(CONFIG.keepalive * 500, tick);
  pingSent = true;
  send(FixedPacket.Pingreq);
}

/**
 * A whole packet from the broker: `first` is its first byte, `body` what follows the remaining length. Anything
 * but what a broker may send this client here is a protocol error, after which a client must close [MQTT-4.8.0-1].
 */
function handle(first: number, body: string) {
  pingSent = false;
  // CONNACK: accepted (session present must be 0 after a clean-session CONNECT [MQTT-3.2.2-1]), or refused.
  if (first == 0x20 && !connected) {
    if (body == "\0\0") {
      connected = true;
      connectedAt = Date["now"]();
      log("MQTT connected");
      arm(CONFIG.keepalive * 500, CONFIG.keepalive ? tick : undefined);
      // SUBSCRIBE (packet id 1, the base topic at QoS 0), then online and the state, both retained.
      send(packet(0x82, "\0\x01" + field(CONFIG.baseTopic) + "\0", 0));
      publish(Topic.Availability, "online");
      return report();
    }
    const code = body.charCodeAt(1);
    // Codes 4 and 5 named, as the full firmware names them: they are the ones a user can mend (credentials, rights).
    if (body.length == 2 && body < "\x01") return drop("broker refused connection: " + (code == 4 ? "bad user name or password" : code == 5 ? "not authorized" : "code " + code));
  }
  // PUBLISH at QoS 0 (DUP 0, retain either): acted on where its topic is the base topic.
  if ((first & 0xfe) == 0x30 && connected) {
    const topicEnd = 2 + ((body.charCodeAt(0) << 8) | body.charCodeAt(1));
    if (topicEnd <= body.length) {
      if (body.substring(2, topicEnd) != CONFIG.baseTopic) return;
      const payload = body.substr(topicEnd);
      let command = parseCommand(payload);
      if (CONFIG.jsonCommands && command == Command.Invalid) {
        // Without brightness a JSON command always holds a state: [state, -1].
        const json = parseJsonCommand(payload);
        if (json) command = json[0] as Command;
      }
      if (command == Command.Invalid) {
        return log(Refusal.Prefix + CONFIG.baseTopic + ": " + JSON.stringify(payload.substr(0, 16)) + (payload.length > 16 ? "..." : "") + (Refusal.Expected + (CONFIG.jsonCommands ? Refusal.OrJson + "})" : ")")));
      }
      isOn = command == Command.Toggle ? !isOn : command == Command.On;
      digitalWrite(CONFIG.ledPin, CONFIG.ledActiveLow ? !isOn : isOn);
      // One report per burst of commands: the last state is the one that counts.
      if (!reportPending) setTimeout(report, 0);
      return (reportPending = true);
    }
  }
  // SUBACK of packet id 1: QoS 0 granted, or refused. PINGRESP.
  if (first == 0x90 && body == "\0\x01\x80") return log("broker refused subscription to " + CONFIG.baseTopic);
  if ((first == 0x90 && body == "\0\x01\0") || (first == 0xd0 && body == "")) return;
  drop("bad packet from broker, first byte " + first);
}

/** The socket's connect callback, 'data' and 'end' alike: the socket once open, a string of bytes, or nothing. */
function receive(event?: string | EspruinoSocket) {
  if (!socket) return;
  if (event === undefined) return drop("connection closed");
  if (typeof event != "string") {
    // The deadline first: a failed write drops the link, and the reconnect it arms must stand.
    arm(Delay.ConnackTimeout, tick);
    // CONNECT: protocol MQTT level 4; flags: user name, password, Will retained at QoS 0, clean session; keepalive.
    return send(
      packet(
        0x10,
        "\0\x04MQTT\x04" +
          chr((CONFIG.mqttUsername !== undefined || CONFIG.mqttPassword !== undefined ? 128 : 0) | (CONFIG.mqttPassword !== undefined ? 64 : 0) | 0x26) +
          u16(CONFIG.keepalive) +
          // Without one configured, a valid MQTT 3.1.1 client id (1-23 of [0-9a-zA-Z]) from the serial number.
          field(CONFIG.clientId ?? ("led" + getSerial().replace(/[^0-9a-zA-Z]/g, "")).substr(0, 23)) +
          field(CONFIG.baseTopic + Topic.Availability) +
          field("offline") +
          // A password without a user name goes with an empty one: 3.1.1 allows no password alone [MQTT-3.1.2-22].
          (CONFIG.mqttUsername !== undefined || CONFIG.mqttPassword !== undefined ? field(CONFIG.mqttUsername ?? "") : "") +
          (CONFIG.mqttPassword !== undefined ? field(CONFIG.mqttPassword) : ""),
        0,
      ),
    );
  }
  const skip = toSkip;
  toSkip -= event.length;
  buffered += skip > 0 ? event.substr(skip) : event;
  while (socket) {
    const first = buffered.charCodeAt(0);
    let length = 0;
    let at = 1;
    let digit = 128;
    // The remaining length: 7 bits a byte, low first, at most 4 bytes.
    while (digit & 128) {
      if (at > 4) return drop("bad packet from broker, first byte " + first);
      if (at >= buffered.length) return;
      digit = buffered.charCodeAt(at);
      length |= (digit & 127) << (7 * at++ - 7);
    }
    const total = at + length;
    if (total > CONFIG.maxPacketSize) {
      // Skipped as its bytes arrive, never buffered whole.
      toSkip = total - buffered.length;
      buffered = buffered.substr(total);
      log("skipped a packet of " + total + " bytes (over the " + CONFIG.maxPacketSize + "-byte limit)");
    } else {
      if (buffered.length < total) return;
      const body = buffered.substr(at, length);
      buffered = buffered.substr(total);
      handle(first, body);
    }
  }
}

function connect() {
  timer = undefined;
  buffered = "";
  toSkip = 0;
  pingSent = false;
  try {
    socket = (require("net") as EspruinoNet).connect({ host: CONFIG.mqttHost, port: CONFIG.mqttPort }, receive);
    socket.on("data", receive);
    socket.on("end", receive);
  } catch (error) {
    drop("cannot connect: " + ((error as Error).message || error));
  }
}

/** Ends the link (if any) and, unless stopped, reconnects after a backoff: 1 s doubling to the cap, with jitter. */
function drop(reason: string) {
  const old = socket;
  socket = undefined;
  if (old) {
    old.removeAllListeners();
    try {
      old.end();
    } catch {}
  }
  if (connected) {
    log("MQTT disconnected: " + reason);
    if (Date["now"]() - connectedAt >= Delay.StableConnection) failures = 0;
  }
  connected = false;
  if (!running) return arm(0);
  // Past 2^n's cap the minimum is the cap: no need to stop counting.
  const delay = Math.min(CONFIG.reconnectMaxSeconds * 1000, Delay.ReconnectMin * Math.pow(2, failures++)) * (0.5 + Math.random() / 2);
  log(reason + "; reconnecting in " + (delay / 1000).toFixed(1) + " s");
  arm(delay, connect);
}

/** At power-up, and again after a stop (save() stops, then starts the saved image): the LED off, as at boot. */
function start() {
  if (running) return;
  running = true;
  isOn = reportPending = false;
  digitalWrite(CONFIG.ledPin, CONFIG.ledActiveLow);
  // With no SSID the board uses whatever network it has (saved WiFi settings, Ethernet).
  if (CONFIG.wifiSsid !== undefined) joinWifi(CONFIG.wifiSsid, CONFIG.wifiPassword, log, connect);
  else connect();
}

/**
 * A stop (reset, save, load): no reconnect, and the state starts afresh. Nothing is said to the broker: Espruino
 * closes its sockets right after the 'kill' handlers, before what they write is sent (seen on the real
 * interpreter), so the broker sends the Will, `offline`. Sending no DISCONNECT keeps it so, should that change.
 */
function stop() {
  running = false;
  drop("stopped");
}

// As main.ts: start on load and on 'init' (code saved with save()), stop on 'kill' (before save(), reset(), load()).
E.on("init", start);
E.on("kill", stop);
start();
