// `npm run size`: bytes (raw and gzipped) of each build profile, against the budgets in size-budgets.json. Exits 1
// when a profile is over its budget. Built from fixed settings (no config.json, no environment), so figures
// compare across machines and commits.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { buildFirmware } from "../esbuild.config.mjs";

/** Every profile: the settings it is built with (keys of scripts/firmware-config.mjs) and its entry. */
export const PROFILES = {
  // Every feature a user can configure but TLS (whose bytes are mostly the CA certificate the user brings: see
  // README, MQTT over TLS).
  "full firmware": {
    overrides: {
      wifiSsid: "my-network",
      wifiPassword: "my-wifi-password",
      mqttUrl: "mqtt://user:secret@192.168.1.10:1883",
      clientId: "desklamp",
      commandQos: 2,
      stateQos: 1,
      offlineQueue: 10,
      buttonPin: "D0",
      ledBrightness: true,
      jsonCommands: true,
      errorTopic: "led/error",
      homeAssistant: true,
    },
  },
  // What the defaults build (the tiny firmware, with JSON commands): what most boards run.
  "default firmware": { overrides: {} },
  // The least a user can configure: QoS 0, no queue, no credentials, no button, no JSON commands (on by default).
  "minimal firmware": { overrides: { jsonCommands: false } },
  // The session and codec alone, every feature on, as a library module: the names its callers use (createClient's
  // options, the Will's and the clock's fields) kept whole, as code built apart from it calls them. (In a firmware
  // built with it, the build shortens them too: see README, Size and speed.)
  "client library": {
    overrides: { commandQos: 2, offlineQueue: 1 },
    switches: { MQTT_LIBRARY: "true" },
    keptProperties: ["clean", "will", "reconnectMin", "reconnectMax", "inflightMax", "queueLimit", "onConnect", "onDisconnect", "onMessage", "topic", "payload", "qos", "retain", "now", "after", "cancel"],
    entry: "scripts/size-entries/client-library.ts",
  },
};

/** One profile's bundle. */
export async function buildProfile(name) {
  const profile = PROFILES[name];
  const { code } = await buildFirmware({ outfile: null, env: {}, configFile: null, overrides: profile.overrides, entry: profile.entry, switches: profile.switches, keptProperties: profile.keptProperties });
  return code;
}

/** Builds one profile and measures it. */
export async function measure(name) {
  const code = await buildProfile(name);
  const bytes = Buffer.from(code, "latin1");
  return { name, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

export function loadBudgets(file = new URL("../size-budgets.json", import.meta.url)) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/** Each profile's figures and whether it is within budget. */
export async function sizeReport() {
  const budgets = loadBudgets();
  const rows = [];
  for (const name of Object.keys(PROFILES)) {
    const figures = await measure(name);
    const budget = budgets[name];
    if (!budget) throw new Error(`size-budgets.json has no budget for "${name}"`);
    rows.push({ ...figures, budget, over: figures.raw > budget.raw || figures.gzip > budget.gzip });
  }
  return rows;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const rows = await sizeReport();
  const pad = (value, width) => String(value).padStart(width);
  console.log("profile            raw bytes  budget   gzip bytes  budget");
  for (const row of rows) {
    console.log(`${row.name.padEnd(18)} ${pad(row.raw, 9)}  ${pad(row.budget.raw, 6)}   ${pad(row.gzip, 10)}  ${pad(row.budget.gzip, 6)}${row.over ? "  OVER BUDGET" : ""}`);
  }
  // The peers, minified (measured once: shared/ESPRUINO.md), and the targets issue 9 sets against them.
  const espruinoMqtt = 6169;
  const tinyMqtt = 1694;
  const raw = (name) => rows.find((row) => row.name === name).raw;
  console.log("against the peers (minified bytes, from shared/ESPRUINO.md); ratio = ours / peer:");
  console.log(`  client library   ${(raw("client library") / espruinoMqtt).toFixed(2)} x Espruino's MQTT module (${espruinoMqtt} bytes); target 0.50 x`);
  console.log(`  minimal firmware ${(raw("minimal firmware") / tinyMqtt).toFixed(2)} x tinyMQTT (${tinyMqtt} bytes, a QoS 0 client alone); target 1.00 x`);
  if (rows.some((row) => row.over)) {
    console.error("size: a profile is over its budget (size-budgets.json)");
    process.exit(1);
  }
}
