// The firmware's settings: read from config.json and the environment, validated, and turned into the values the
// build injects. Runs at build time only (Node). A bad value fails the build with a message that names the key;
// secret values are never printed.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, existsSync, statSync } from "node:fs";
import { resolve } from "node:path";

const PORT_MAX = 65535;

/** Each key of config.json, the environment variable that overrides it, and how it is checked. */
export const SETTINGS = {
  wifiSsid: { env: "WIFI_SSID", kind: "string", help: "the WiFi network to join; leave unset to use the board's saved WiFi or where there is no WiFi (Linux, Ethernet)" },
  wifiPassword: { env: "WIFI_PASSWORD", kind: "string", secret: true, help: "the WiFi password" },
  mqttUrl: { env: "MQTT_URL", kind: "url", default: "mqtt://127.0.0.1:1883", help: "the broker, mqtt://[user[:password]@]host[:port] (port 1883 by default) or mqtts://... for MQTT over TLS (port 8883 by default)" },
  mqttCaFile: { env: "MQTT_CA_FILE", kind: "pemFile", pem: "certificate", help: "with mqtts://: a PEM file holding the one CA certificate that signed the broker's certificate, read at build time" },
  mqttCertFile: { env: "MQTT_CERT_FILE", kind: "pemFile", pem: "certificate", help: "with mqtts://, for brokers that ask for client certificates: the device's certificate (PEM file); needs mqttKeyFile" },
  mqttKeyFile: { env: "MQTT_KEY_FILE", kind: "pemFile", pem: "key", secret: true, help: "with mqttCertFile: the device's private key (PEM file, not encrypted)" },
  mqttUsername: { env: "MQTT_USERNAME", kind: "string", help: "the broker user name (overrides one in mqttUrl)" },
  mqttPassword: { env: "MQTT_PASSWORD", kind: "string", secret: true, help: "the broker password (overrides one in mqttUrl)" },
  clientId: { env: "CLIENT_ID", kind: "clientId", help: "the MQTT client id, 1 to 23 letters and digits (longer, or other characters, with allowLongClientId); unset: derived from the board's serial number" },
  allowLongClientId: { env: "ALLOW_LONG_CLIENT_ID", kind: "boolean", default: false, help: "accept a client id outside MQTT 3.1.1's safe 1-23 letters and digits (most brokers take it)" },
  cleanSession: { env: "CLEAN_SESSION", kind: "boolean", default: true, help: "false: the broker keeps subscriptions and QoS 1/2 messages while the device is away" },
  commandQos: { env: "COMMAND_QOS", kind: "integer", min: 0, max: 2, default: 0, help: "QoS of the subscription to the command topic (2: a toggle is never applied twice)" },
  stateQos: { env: "STATE_QOS", kind: "integer", min: 0, max: 2, default: 0, help: "QoS of the state and availability publishes" },
  offlineQueue: { env: "OFFLINE_QUEUE", kind: "integer", min: 0, max: 100, default: 0, help: "publishes held while disconnected, at most; 0: none (the state is re-published on every connect anyway)" },
  buttonPin: { env: "BUTTON_PIN", kind: "pin", help: "a push button (to ground) that toggles the LED on the board itself; unset: none" },
  keepalive: { env: "KEEPALIVE", kind: "integer", min: 0, max: 65535, default: 60, help: "seconds between keepalive pings, 0 for none" },
  baseTopic: { env: "BASE_TOPIC", kind: "topic", default: "led", help: "the command topic; state and availability go to <base>/state and <base>/availability" },
  ledPin: { env: "LED_PIN", kind: "pin", default: "D2", help: "the LED's pin name, such as D2" },
  ledActiveLow: { env: "LED_ACTIVE_LOW", kind: "boolean", default: false, help: "true where the LED lights at 0 (the ESP8266's on-board LED)" },
  jsonCommands: { env: "JSON_COMMANDS", kind: "boolean", default: true, help: 'also accept JSON commands on the command topic: {"state":"on"} (on, off, toggle, any case)' },
  ledBrightness: { env: "LED_BRIGHTNESS", kind: "boolean", default: false, help: 'dim the LED by PWM (analogWrite): JSON commands {"brightness":0-255} and {"state":"on","brightness":128}, the state also as JSON on <base>/state/json; needs a PWM-capable pin (any output GPIO of an ESP32, any but GPIO16 on an ESP8266)' },
  errorTopic: { env: "ERROR_TOPIC", kind: "topic", help: "a topic where refused commands are reported too (not retained); unset: on the console only" },
  homeAssistant: { env: "HOME_ASSISTANT", kind: "boolean", default: false, help: "publish a retained Home Assistant MQTT discovery config for a light entity on <homeAssistantPrefix>/light/<client id>/config" },
  homeAssistantPrefix: { env: "HOME_ASSISTANT_PREFIX", kind: "topic", default: "homeassistant", help: "Home Assistant's discovery prefix" },
  homeAssistantName: { env: "HOME_ASSISTANT_NAME", kind: "string", default: "Espruino LED", help: "the device's name in Home Assistant" },
  maxPacketSize: { env: "MAX_PACKET_SIZE", kind: "integer", min: 64, max: 65536, default: 1024, help: "largest packet accepted from the broker, in bytes" },
  reconnectMaxSeconds: { env: "RECONNECT_MAX_SECONDS", kind: "integer", min: 1, max: 3600, default: 60, help: "the cap of the reconnect backoff, in seconds" },
};

export class ConfigError extends Error {
  /** @param {string[]} problems */
  constructor(problems) {
    super("invalid firmware configuration:\n" + problems.map((p) => "  - " + p).join("\n"));
    this.problems = problems;
  }
}

function describe(key) {
  const setting = SETTINGS[key];
  return `${key} (env ${setting.env}: ${setting.help})`;
}

/** Turns one raw value (from JSON or the environment, where everything is a string) into a checked value. */
function check(key, raw, fromEnv) {
  const setting = SETTINGS[key];
  const shown = setting.secret ? "the value given" : JSON.stringify(raw);
  const fail = (expected) => ({ problem: `${describe(key)}: ${shown} is not ${expected}` });
  switch (setting.kind) {
    case "string":
      if (typeof raw !== "string" || raw === "") return fail("a non-empty string");
      if (raw.includes("\0")) return fail("a string without NUL characters");
      return { value: raw };
    case "integer": {
      const value = fromEnv && typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
      if (!Number.isInteger(value) || value < setting.min || value > setting.max) return fail(`a whole number from ${setting.min} to ${setting.max}`);
      return { value };
    }
    case "boolean": {
      if (typeof raw === "boolean") return { value: raw };
      if (fromEnv && /^(true|1)$/i.test(raw)) return { value: true };
      if (fromEnv && /^(false|0)$/i.test(raw)) return { value: false };
      return fail("true or false");
    }
    case "clientId":
      // Checked against allowLongClientId once every value is read.
      if (typeof raw !== "string" || raw === "" || raw.includes("\0") || Buffer.byteLength(raw, "utf8") > 65535) return fail("a client id");
      return { value: raw };
    case "pin":
      if (typeof raw !== "string" || !/^[A-Za-z][A-Za-z0-9_]{0,15}$/.test(raw)) return fail("a pin name such as D2");
      return { value: raw };
    case "topic":
      if (typeof raw !== "string" || raw === "") return fail("a non-empty topic");
      if (/[+#\0]/.test(raw)) return fail("a topic without the wildcards + and # or NUL");
      if (raw.startsWith("$")) return fail("a topic outside $-prefixed broker topics");
      if (raw.endsWith("/")) return fail("a topic without a trailing /");
      if (Buffer.byteLength(raw, "utf8") > 1000) return fail("a topic of at most 1,000 bytes");
      return { value: raw };
    case "url": {
      let url;
      try {
        url = new URL(String(raw));
      } catch {
        return { problem: `${describe(key)}: the value given is not a URL` };
      }
      if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
        return { problem: `${describe(key)}: scheme ${url.protocol}// is not supported by this firmware yet; use mqtt:// or mqtts://` };
      }
      const tls = url.protocol === "mqtts:";
      if (!url.hostname) return { problem: `${describe(key)}: no host in the URL` };
      if (url.pathname && url.pathname !== "/") return { problem: `${describe(key)}: a broker URL has no path` };
      const port = url.port === "" ? (tls ? 8883 : 1883) : Number(url.port);
      if (!(port >= 1 && port <= PORT_MAX)) return { problem: `${describe(key)}: the port is not 1 to ${PORT_MAX}` };
      return {
        value: {
          tls,
          host: url.hostname.replace(/^\[|\]$/g, ""),
          port,
          username: url.username === "" ? undefined : decodeURIComponent(url.username),
          password: url.password === "" ? undefined : decodeURIComponent(url.password),
        },
      };
    }
    case "pemFile":
      if (typeof raw !== "string" || raw === "" || raw.includes("\0")) return fail("a file path");
      return readPemFile(key, raw);
    default:
      throw new Error(`unknown setting kind ${setting.kind}`);
  }
}

/**
 * Reads a PEM file named by a setting and checks it holds what the device needs: exactly one certificate (which
 * must be valid now), or one private key that is not encrypted (Espruino passes no passphrase). Problems name the
 * file, never its contents.
 */
function readPemFile(key, path) {
  const setting = SETTINGS[key];
  const where = `${describe(key)}: ${JSON.stringify(path)}`;
  const full = resolve(path);
  let text;
  try {
    if (!statSync(full).isFile()) return { problem: `${where} is not a file` };
    text = readFileSync(full, "latin1");
  } catch (error) {
    return { problem: `${where} cannot be read (${error.code === "ENOENT" ? "no such file" : (error.code ?? "error")})` };
  }
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (setting.pem === "certificate") {
    const certs = blocks.filter((block) => block[1] === "CERTIFICATE");
    if (!certs.length) return { problem: `${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
    if (certs.length > 1) {
      return { problem: `${where} holds ${certs.length} certificates, and the device loads only the first: keep just ${key === "mqttCaFile" ? "the CA certificate that signed the broker's certificate" : "the device's own certificate"}` };
    }
    let cert;
    try {
      cert = new X509Certificate(certs[0][0]);
    } catch {
      return { problem: `${where} is not a valid PEM certificate` };
    }
    if (Date.parse(cert.validTo) < Date.now()) return { problem: `${where}: the certificate expired on ${cert.validTo}` };
    if (Date.parse(cert.validFrom) > Date.now()) return { problem: `${where}: the certificate is not valid before ${cert.validFrom}` };
    return { value: { path: full, der: cert.raw, cert } };
  }
  const keys = blocks.filter((block) => block[1].endsWith("PRIVATE KEY"));
  if (!keys.length) return { problem: `${where} holds no PEM private key (-----BEGIN PRIVATE KEY-----)` };
  if (keys.length > 1) return { problem: `${where} holds ${keys.length} private keys; keep just the device's` };
  if (keys[0][1] === "ENCRYPTED PRIVATE KEY" || /Proc-Type: *4,ENCRYPTED/.test(keys[0][2])) {
    return { problem: `${where} is encrypted, and the device has no passphrase to open it: give it unencrypted (openssl pkey -in KEY -out PLAIN)` };
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(keys[0][0]);
  } catch {
    return { problem: `${where} is not a valid PEM private key` };
  }
  return { value: { path: full, der: privateKey.export({ format: "der", type: "pkcs8" }), privateKey } };
}

/** The firmware's version, for Home Assistant's device registry. */
function firmwareVersion() {
  return JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
}

/**
 * The Home Assistant discovery config of the light (https://www.home-assistant.io/integrations/light.mqtt/), as
 * JSON text with a NUL where the node id goes: the device puts its client id there, which may be known only at run
 * time (derived from its serial number). Without brightness it is the default schema, with the plain
 * on/off payloads the device takes and reports; with brightness, the JSON schema on <base>/state/json.
 */
function discoveryParts(values) {
  const id = "\0"; // No setting may hold a NUL, so its JSON escape marks the id's places unambiguously.
  const base = values.baseTopic;
  const config = { name: null, unique_id: `${id}_led` };
  if (values.ledBrightness) {
    Object.assign(config, { schema: "json", command_topic: base, state_topic: `${base}/state/json`, brightness: true, supported_color_modes: ["brightness"] });
  } else {
    Object.assign(config, { command_topic: base, state_topic: `${base}/state`, payload_on: "on", payload_off: "off" });
  }
  Object.assign(config, { availability_topic: `${base}/availability`, payload_available: "online", payload_not_available: "offline" });
  if (values.commandQos) config.qos = values.commandQos;
  config.device = { identifiers: [id], name: values.homeAssistantName, model: "espruino-mqtt-led", sw_version: firmwareVersion() };
  return JSON.stringify(config).split("\\u0000").join("\0");
}

/**
 * Reads config.json (if present; `file: null` reads none), then the environment, then `overrides` (keys of SETTINGS, e.g. from the sim's
 * flags), checks every value and returns the firmware's settings. Throws ConfigError listing every problem.
 * @param {{ file?: string | null, env?: Record<string, string | undefined>, overrides?: Record<string, unknown> }} [options]
 */
export function loadConfig(options = {}) {
  const file = options.file === undefined ? "config.json" : options.file;
  const env = options.env ?? process.env;
  const problems = [];
  const raw = {};
  const fromEnv = {};
  if (file !== null && existsSync(file)) {
    let json;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new ConfigError([`${file} is not valid JSON: ${error.message}`]);
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) throw new ConfigError([`${file} must hold one JSON object`]);
    for (const [key, value] of Object.entries(json)) {
      if (key.startsWith("//") || key === "$comment") continue;
      if (!(key in SETTINGS)) problems.push(`${file}: unknown key ${JSON.stringify(key)}; known keys: ${Object.keys(SETTINGS).join(", ")}`);
      else if (value !== null) raw[key] = value;
    }
  }
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const value = env[setting.env];
    if (value !== undefined && value !== "") {
      raw[key] = value;
      fromEnv[key] = true;
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (!(key in SETTINGS)) throw new Error(`unknown setting override ${key}`);
    if (value !== undefined) {
      raw[key] = value;
      fromEnv[key] = false;
    }
  }
  const values = {};
  for (const [key, setting] of Object.entries(SETTINGS)) {
    if (!(key in raw)) {
      values[key] = setting.kind === "url" ? check(key, setting.default, false).value : setting.default;
      continue;
    }
    const result = check(key, raw[key], fromEnv[key] === true);
    if ("problem" in result) problems.push(result.problem);
    else values[key] = result.value;
  }
  // Checks across keys, each only where its keys were valid on their own.
  if (values.wifiPassword !== undefined && !("wifiSsid" in raw)) problems.push(`${describe("wifiPassword")}: set, but wifiSsid is not`);
  if (values.clientId !== undefined && !values.allowLongClientId && !/^[0-9a-zA-Z]{1,23}$/.test(values.clientId)) {
    problems.push(`${describe("clientId")}: ${JSON.stringify(values.clientId)} is not 1 to 23 letters and digits (MQTT 3.1.1's safe client id); set allowLongClientId to use it anyway`);
  }
  if (values.buttonPin !== undefined && values.buttonPin === values.ledPin) problems.push(`${describe("buttonPin")}: the same pin as ledPin`);
  if (values.errorTopic !== undefined && values.baseTopic !== undefined) {
    const own = [values.baseTopic, `${values.baseTopic}/state`, `${values.baseTopic}/availability`, `${values.baseTopic}/state/json`];
    // On the command topic itself, each refusal would come back as a command to refuse: a loop.
    if (own.includes(values.errorTopic)) problems.push(`${describe("errorTopic")}: ${JSON.stringify(values.errorTopic)} is one of the device's own topics (${own.join(", ")})`);
  }
  const broker = values.mqttUrl;
  if (broker) {
    // Never a silent downgrade: TLS files with a plain URL are a mistake to report, not to ignore.
    for (const key of ["mqttCaFile", "mqttCertFile", "mqttKeyFile"]) {
      if (key in raw && !broker.tls) problems.push(`${describe(key)}: set, but mqttUrl is not mqtts://`);
    }
    if (broker.tls && !("mqttCaFile" in raw)) {
      problems.push(`${describe("mqttCaFile")}: required with an mqtts:// broker URL: the CA certificate that signed the broker's certificate`);
    }
  }
  if (("mqttCertFile" in raw) !== ("mqttKeyFile" in raw)) {
    problems.push(`${describe("mqttKeyFile" in raw ? "mqttKeyFile" : "mqttCertFile")}: set, but ${"mqttKeyFile" in raw ? "mqttCertFile" : "mqttKeyFile"} is not: a client certificate needs its key`);
  } else if (values.mqttCertFile && values.mqttKeyFile && !values.mqttCertFile.cert.checkPrivateKey(values.mqttKeyFile.privateKey)) {
    problems.push(`${describe("mqttKeyFile")}: not the private key of the certificate in mqttCertFile`);
  }
  if (values.ledBrightness && /^D3[4-9]$/.test(values.ledPin ?? "")) {
    problems.push(`${describe("ledBrightness")}: ledPin ${values.ledPin} is input-only on the ESP32 and cannot drive PWM`);
  }
  if (values.homeAssistant && values.clientId !== undefined && !/^[A-Za-z0-9_-]+$/.test(values.clientId)) {
    problems.push(`${describe("homeAssistant")}: the client id ${JSON.stringify(values.clientId)} names the device in Home Assistant's discovery topic, so it may hold only letters, digits, _ and -`);
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    wifiSsid: values.wifiSsid,
    wifiPassword: values.wifiPassword,
    mqttHost: broker.host,
    mqttPort: broker.port,
    mqttUsername: values.mqttUsername ?? broker.username,
    mqttPassword: values.mqttPassword ?? broker.password,
    clientId: values.clientId,
    cleanSession: values.cleanSession,
    commandQos: values.commandQos,
    stateQos: values.stateQos,
    offlineQueue: values.offlineQueue,
    buttonPin: values.buttonPin,
    keepalive: values.keepalive,
    baseTopic: values.baseTopic,
    ledPin: values.ledPin,
    ledActiveLow: values.ledActiveLow,
    maxPacketSize: values.maxPacketSize,
    reconnectMaxSeconds: values.reconnectMaxSeconds,
    // Settings a user does not configure are undefined here, so the code that uses them is dropped from the bundle.
    mqttTls: broker.tls ? true : undefined,
    // Certificates and the key as base64 of their DER bytes: the device decodes them with atob() for tls.connect.
    mqttCa: values.mqttCaFile?.der.toString("base64"),
    mqttCert: values.mqttCertFile?.der.toString("base64"),
    mqttKey: values.mqttKeyFile?.der.toString("base64"),
    jsonCommands: values.jsonCommands || values.ledBrightness,
    ledBrightness: values.ledBrightness,
    errorTopic: values.errorTopic,
    haPrefix: values.homeAssistant ? values.homeAssistantPrefix : undefined,
    haConfig: values.homeAssistant ? discoveryParts(values) : undefined,
  };
}

/**
 * The settings of `config` that the tiny firmware (firmware/tiny.ts: the whole device at QoS 0 in a third of the
 * bytes) cannot honour, by name. Empty: the build uses the tiny firmware; otherwise main.ts and its full client.
 */
export function tinyFirmwareGaps(config) {
  const needs = {
    commandQos: config.commandQos > 0,
    stateQos: config.stateQos > 0,
    offlineQueue: config.offlineQueue > 0,
    cleanSession: !config.cleanSession,
    mqttUrl: config.mqttTls === true,
    buttonPin: config.buttonPin !== undefined,
    ledBrightness: config.ledBrightness,
    errorTopic: config.errorTopic !== undefined,
    homeAssistant: config.haConfig !== undefined,
    // The tiny firmware writes each packet's remaining length in one byte: its CONNECT, the longest, must fit 127.
    longConnect: tinyConnectLength(config) > 127,
  };
  return Object.keys(needs).filter((key) => needs[key]);
}

/** Why a gap that is no setting of its own is one, for the build to print beside its name. */
export const TINY_GAP_REASONS = {
  longConnect: "client id, base topic and credentials make a CONNECT over 127 bytes",
};

/**
 * The remaining length of the tiny firmware's CONNECT: protocol name, level, flags and keepalive; the client id (at
 * most 23 bytes when derived from the serial number); the Will (<base>/availability, "offline"); the credentials.
 */
export function tinyConnectLength(config) {
  const field = (text) => 2 + Buffer.byteLength(text);
  const credentials = config.mqttUsername !== undefined || config.mqttPassword !== undefined;
  return (
    10 +
    (config.clientId === undefined ? 2 + 23 : field(config.clientId)) +
    field(`${config.baseTopic}/availability`) +
    field("offline") +
    (credentials ? field(config.mqttUsername ?? "") : 0) +
    (config.mqttPassword !== undefined ? field(config.mqttPassword) : 0)
  );
}

/** Strings reach the device as bytes: UTF-8, one char per byte, so the bundle carries them as \xNN escapes. */
function toByteString(text) {
  return Buffer.from(text, "utf8").toString("latin1");
}

/**
 * The esbuild `define` map for a loaded config: every CONFIG.key, unset ones as undefined, and the client's
 * feature switches, so that QoS levels and the queue the config does not use cost no bytes.
 */
export function configDefines(config) {
  const defines = {
    MQTT_QOS1: String(Math.max(config.commandQos, config.stateQos) >= 1),
    MQTT_QOS2: String(Math.max(config.commandQos, config.stateQos) >= 2),
    MQTT_QUEUE: String(config.offlineQueue > 0),
    // What only the client library's callers use (unsubscribe, a handler per subscription, onDisconnect...): the LED
    // firmware uses none of it; the client library built alone (npm run size) turns it on.
    MQTT_LIBRARY: "false",
    LED_JSON: String(config.jsonCommands),
    LED_BRIGHTNESS: String(config.ledBrightness),
  };
  const bytes = (value) => (typeof value === "string" ? toByteString(value) : Array.isArray(value) ? value.map(bytes) : value);
  for (const [key, value] of Object.entries(config)) {
    defines[`CONFIG.${key}`] = value === undefined ? "undefined" : JSON.stringify(bytes(value));
  }
  return defines;
}
