// `npm run flash -- --port PORT`: builds dist/firmware.js and uploads it with the Espruino CLI, saved to flash as
// boot code (.bootcde) so it runs at every power-up. PORT is a serial port (/dev/ttyUSB0) or tcp://host:port.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildFirmware } from "../esbuild.config.mjs";

const USAGE = `usage: npm run flash -- --port PORT [--baud N] [--dry-run]
  --port PORT   serial port (e.g. /dev/ttyUSB0, COM3) or tcp://host:port for a board on the network
  --baud N      serial speed (default 115200, what ESP32 and ESP8266 Espruino builds use)
  --dry-run     build and print the upload command without running it`;

export interface FlashOptions {
  port: string;
  baud: number;
  bundle: string;
}

/** The Espruino CLI's arguments: upload the bundle as boot code in flash (SAVE_ON_SEND=1), so it runs at power-up. */
export function espruinoArgs(options: FlashOptions): string[] {
  return [
    "--no-ble", // the CLI otherwise loads Bluetooth support, which fails on machines without it
    "-p", options.port,
    "-b", String(options.baud),
    "--config", "RESET_BEFORE_SEND=true", // start from a clean interpreter
    "--config", "SAVE_ON_SEND=1", // write the code to flash as .bootcde: it runs at boot, from flash
    options.bundle,
  ];
}

/** Checks a --port value; returns an error message or null. */
export function checkPort(port: string | undefined): string | null {
  if (!port) return "--port is required: a serial port such as /dev/ttyUSB0 or COM3, or tcp://host:port";
  if (port.startsWith("tcp://")) {
    const url = new URL(port);
    if (!url.hostname) return `--port ${port}: no host`;
    return null;
  }
  if (/^[a-z]+:\/\//i.test(port)) return `--port ${port}: only serial ports and tcp://host:port are supported`;
  return null;
}

async function main() {
  let flags;
  try {
    flags = parseArgs({ options: { port: { type: "string" }, baud: { type: "string" }, "dry-run": { type: "boolean" }, help: { type: "boolean" } } }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) return console.log(USAGE);
  const problem = checkPort(flags.port);
  const baud = flags.baud === undefined ? 115200 : Number(flags.baud);
  if (problem || !Number.isInteger(baud) || baud <= 0) {
    console.error(`${problem ?? `--baud ${flags.baud}: not a positive whole number`}\n${USAGE}`);
    process.exit(2);
  }
  const { code } = await buildFirmware();
  console.log(`built dist/firmware.js: ${code.length} bytes`);
  const cli = createRequire(import.meta.url).resolve("espruino/bin/espruino-cli.js");
  const args = espruinoArgs({ port: flags.port!, baud, bundle: "dist/firmware.js" });
  console.log(`uploading: espruino ${args.join(" ")}`);
  if (flags["dry-run"]) return;
  const result = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" });
  if (result.status !== 0) {
    console.error("upload failed: check the port (see README: Finding the serial port), that no other program (a serial monitor, the Web IDE) holds it, and the baud rate");
    process.exit(result.status ?? 1);
  }
  console.log("uploaded and saved to flash: the board runs it now and at every power-up");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
