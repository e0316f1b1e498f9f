// Builds firmware/tiny.ts (or firmware/main.ts, where a setting needs the full firmware) into dist/firmware.js, the
// one artifact that is flashed, simulated and tested.
// Settings follow ../shared/ESPRUINO.md: es2015, minified, no legal comments, `??` and `catch {}` kept as written.
// Format: cjs, because esbuild's iife turns require("net") into a helper that needs Proxy, which Espruino lacks;
// cjs leaves require() as it is, and with no exports no export helper is emitted. No wrapping function: on the
// ESP8266-shaped interpreter an outer function holding the whole bundle ran out of memory while loading (its body
// is a second copy of the code), so top-level names are global; the build checks they hide no Espruino global.
import * as acorn from "acorn";
import * as esbuild from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { assertEspruinoCompatible } from "./scripts/espruino-compat.mjs";
import { configDefines, loadConfig, TINY_GAP_REASONS, tinyFirmwareGaps } from "./scripts/firmware-config.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const firmwareDir = resolve(root, "firmware");

/** Modules built into Espruino that firmware may require(); everything else is refused. */
export const ESPRUINO_MODULES = ["net", "tls", "Wifi", "Storage", "ESP8266", "ESP32"];

/** Refuses Node built-ins, npm packages and anything outside firmware/. */
const firmwareOnly = {
  name: "firmware-only",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      if (args.kind === "require-call" && ESPRUINO_MODULES.includes(args.path)) return { path: args.path, external: true };
      const target = args.path.startsWith(".") ? resolve(args.resolveDir, args.path) : null;
      if (target && (target + sep).startsWith(firmwareDir + sep)) return undefined;
      const from = relative(root, args.importer);
      return {
        errors: [
          {
            text: `${from} imports "${args.path}": firmware may import only files under firmware/ and require() only Espruino's modules (${ESPRUINO_MODULES.join(", ")}); Node built-ins and npm packages do not exist on the device`,
          },
        ],
      };
    });
  },
};

/**
 * esbuild writes control characters inside string literals raw (e.g. the 0x04 of CONNECT's protocol name). A raw
 * 0x03 would interrupt Espruino's REPL during upload, so every one becomes a \xNN escape. Minified output has them
 * only inside string, template and regex literals, where the escape means the same byte.
 */
function escapeControlCharacters(code) {
  return code.replace(/[\x00-\x09\x0b-\x1f\x7f]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
}

/** Espruino globals a top-level name of the bundle must not hide: pins (D2, A0...), E, and the short built-ins. */
const ESPRUINO_GLOBAL = /^([A-H]\d+|LED\d*|BTN\d*|E|Pin|NRF|SPI\d?|I2C\d?|Serial\d?|USB|global|print|load|save|reset|dump|edit|echo|peek\d+|poke\d+)$/;

/** Top-level declarations of the bundle that would replace one of Espruino's globals. */
export function hiddenEspruinoGlobals(code) {
  const names = [];
  for (const node of acorn.parse(code, { ecmaVersion: "latest" }).body) {
    if (node.type === "FunctionDeclaration" || node.type === "ClassDeclaration") names.push(node.id.name);
    if (node.type === "VariableDeclaration") for (const d of node.declarations) if (d.id.type === "Identifier") names.push(d.id.name);
  }
  return names.filter((name) => ESPRUINO_GLOBAL.test(name));
}

/**
 * Property names of our own objects (options, packets, messages, the app), shortened by esbuild in the bundle:
 * Espruino keeps every name in RAM. Only names that never reach an Espruino API or the wire belong here: not
 * `password` (Wifi.connect's option), `message` (an error's), `write`/`close`/`on` (a socket's), `log`
 * (console's), nor any key of an object that is JSON.stringify'd (write those keys quoted: quoted keys are kept),
 * nor a key of CONFIG (esbuild would rename `CONFIG.key` before `define` replaces it).
 */
export const MANGLED_PROPERTIES = [
  "clean", "will", "reconnectMin", "reconnectMax", "inflightMax", "queueLimit", "onConnect", "onDisconnect",
  "onMessage", "type", "flags", "sessionPresent", "code", "topic", "payload", "qos", "retain", "dup", "id",
  "granted", "stage", "setLed", "connected", "toggle", "now", "after", "cancel", "opened", "received", "closed",
  "runLow", "runHigh", "pubTopic", "pubPayload", "pubQos", "pubRetain",
];

/**
 * The bundle's entry for a config: firmware/tiny.ts where the config asks for nothing it lacks (QoS 0 and none of
 * the queue, TLS, button, brightness, error topic, Home Assistant, a kept session or a CONNECT over 127 bytes:
 * `tinyFirmwareGaps`),
 * firmware/main.ts otherwise.
 */
export function firmwareEntry(config) {
  return tinyFirmwareGaps(config).length ? "firmware/main.ts" : "firmware/tiny.ts";
}

/**
 * The esbuild options for the firmware, with the given config injected. `keptProperties`: names of
 * MANGLED_PROPERTIES this build keeps whole (a module's API, which code built apart from it calls by name).
 */
export function firmwareBuildOptions(config, entry = firmwareEntry(config), switches = {}, keptProperties = []) {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "cjs",
    platform: "neutral",
    target: "es2015",
    // No template literals: esbuild would write a string holding a newline (a folded length byte of 10, say) as one
    // with the newline raw, and the upload goes line by line. Firmware sources have none to lower.
    supported: { "nullish-coalescing": true, "optional-catch-binding": true, "template-literal": false },
    minify: true,
    mangleProps: new RegExp(`^(${MANGLED_PROPERTIES.filter((name) => !keptProperties.includes(name)).join("|")})$`),
    legalComments: "none",
    charset: "ascii",
    tsconfig: "firmware/tsconfig.json",
    define: { ...configDefines(config), ...switches },
    plugins: [firmwareOnly],
    metafile: true,
    logLevel: "silent",
  };
}

/**
 * Builds the firmware and checks the bundle: only firmware/ sources, no CONFIG left undefined, nothing Espruino
 * cannot run. Returns the bundle's text; writes it to `outfile` unless that is null.
 * `switches` overrides feature switches of the build (`{ MQTT_LIBRARY: "true" }` for the client library alone);
 * `keptProperties` names properties the build leaves unshortened (see firmwareBuildOptions).
 * @param {{ overrides?: Record<string, unknown>, env?: Record<string, string | undefined>, configFile?: string | null, outfile?: string | null, entry?: string, switches?: Record<string, string>, keptProperties?: string[] }} [options]
 */
export async function buildFirmware(options = {}) {
  const config = loadConfig({ file: options.configFile, env: options.env, overrides: options.overrides });
  const entry = options.entry ?? firmwareEntry(config);
  const result = await esbuild.build(firmwareBuildOptions(config, entry, options.switches, options.keptProperties));
  const code = escapeControlCharacters(result.outputFiles[0].text);
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = resolve(root, input);
    if (!path.startsWith(firmwareDir + sep) && path !== resolve(root, entry)) {
      throw new Error(`${input} reached the bundle: only firmware/ may`);
    }
  }
  if (/\bCONFIG\b/.test(code)) throw new Error("the bundle still reads CONFIG: read settings as CONFIG.key, which the build defines");
  const outfile = options.outfile === undefined ? "dist/firmware.js" : options.outfile;
  assertEspruinoCompatible(code, outfile ?? "firmware.js");
  const hidden = hiddenEspruinoGlobals(code);
  if (hidden.length) throw new Error(`the bundle's top-level names ${hidden.join(", ")} would hide Espruino globals`);
  if (outfile) {
    const path = resolve(root, outfile);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, code);
  }
  return { code, config, entry };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { code, config, entry } = await buildFirmware();
    const gaps = tinyFirmwareGaps(config);
    const named = gaps.map((gap) => (TINY_GAP_REASONS[gap] ? `${gap} (${TINY_GAP_REASONS[gap]})` : gap));
    const kind = gaps.length ? `the full firmware (${entry}): the tiny one lacks ${named.join(", ")}` : `the tiny firmware (${entry}): nothing configured needs the full one`;
    console.log(`dist/firmware.js: ${Buffer.byteLength(code)} bytes, ${kind}`);
  } catch (error) {
    const messages = error.errors?.map((e) => e.text) ?? [error.message];
    console.error("build failed:\n" + messages.join("\n"));
    process.exit(1);
  }
}
