// The firmware's settings: read from config.json and the environment, validated, and turned into the values the
// build injects. Runs at build time only (Node). A bad value fails the build with a message that names the key;
// secret values are never printed.
import { readFileSync, existsSync } from "node:fs";

const PORT_MAX = 65535;

/** Each key of config.json, the environment variable that overrides it, and how it is checked. */
export const SETTINGS = {
  wifiSsid: { env: "WIFI_SSID", kind: "string", help: "the WiFi network to join; leave unset to use the board's saved WiFi or where there is no WiFi (Linux, Ethernet)" },
  wifiPassword: { env: "WIFI_PASSWORD", kind: "string", secret: true, help: "the WiFi password" },
  mqttUrl: { env: "MQTT_URL", kind: "url", default: "mqtt://127.0.0.1:1883", help: "the broker, mqtt://[user[:password]@]host[:port]" },
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
      if (url.protocol !== "mqtt:") {
        return { problem: `${describe(key)}: scheme ${url.protocol}// is not supported by this firmware yet; use mqtt://` };
      }
      if (!url.hostname) return { problem: `${describe(key)}: no host in the URL` };
      if (url.pathname && url.pathname !== "/") return { problem: `${describe(key)}: a broker URL has no path` };
      const port = url.port === "" ? 1883 : Number(url.port);
      if (!(port >= 1 && port <= PORT_MAX)) return { problem: `${describe(key)}: the port is not 1 to ${PORT_MAX}` };
      return {
        value: {
          host: url.hostname.replace(/^\[|\]$/g, ""),
          port,
          username: url.username === "" ? undefined : decodeURIComponent(url.username),
          password: url.password === "" ? undefined : decodeURIComponent(url.password),
        },
      };
    }
    default:
      throw new Error(`unknown setting kind ${setting.kind}`);
  }
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
  if (problems.length) throw new ConfigError(problems);
  const broker = values.mqttUrl;
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
  };
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
  };
  for (const [key, value] of Object.entries(config)) {
    defines[`CONFIG.${key}`] = value === undefined ? "undefined" : JSON.stringify(typeof value === "string" ? toByteString(value) : value);
  }
  return defines;
}
