// `npm run flash -- --port PORT`: builds dist/firmware.js and uploads it with the Espruino CLI, saved to flash as
// boot code (.bootcde) so it runs at every power-up. PORT is a serial port (/dev/ttyUSB0) or tcp://host:port (a board
// on the network, or the simulated board of `npm run sim -- --repl PORT`).
//
// The CLI says little unless asked to be verbose, and exits with 0 even when it could not connect or the upload
// failed; so it runs with --verbose, and this script turns what it prints into progress lines, and failures (its
// own, or the board's) into an exit code and advice.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildFirmware } from "../esbuild.config.mjs";

const USAGE = `usage: npm run flash -- --port PORT [--baud N] [--bundle FILE] [--timeout S] [--verbose] [--dry-run]
  --port PORT    serial port (e.g. /dev/ttyUSB0, COM3) or tcp://host:port for a board on the network
                 (or the simulated board of: npm run sim -- --repl PORT)
  --baud N       serial speed (default 115200, what ESP32 and ESP8266 Espruino builds use)
  --bundle FILE  upload this built bundle as it is, instead of building dist/firmware.js
  --timeout S    give up after S seconds (default 120)
  --verbose      also print everything the Espruino CLI prints
  --dry-run      build and print the upload command without running it`;

/** Storage.write chunks the CLI sends, of this many bytes of code each. */
export const CHUNK_BYTES = 1024;

export interface FlashOptions {
  port: string;
  baud: number;
  bundle: string;
  /**
   * A local folder the CLI looks in for the board's JSON description and for modules, instead of espruino.com: the
   * bundle needs no module from there (net, Wifi and Storage are built into Espruino), and an upload then works
   * offline and never waits on the network.
   */
  offlineDir: string;
}

/** The Espruino CLI's arguments: upload the bundle as boot code in flash (SAVE_ON_SEND=1), so it runs at power-up. */
export function espruinoArgs(options: FlashOptions): string[] {
  return [
    "--verbose", // its progress (each chunk written) is printed only when verbose; flash.ts filters it
    "--no-ble", // the CLI otherwise loads Bluetooth support, which fails on machines without it
    "-p", options.port,
    "-b", String(options.baud),
    "--config", "RESET_BEFORE_SEND=true", // start from a clean interpreter
    "--config", "SAVE_ON_SEND=1", // write the code to flash as .bootcde: it runs at boot, from flash
    "--config", `BOARD_JSON_URL=${options.offlineDir}`,
    "--config", `MODULE_URL=${options.offlineDir}`,
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

/**
 * The oldest Espruino the firmware runs on. Every build of it has `try {} catch {}` without a binding, which 2v20 was
 * the first to take: 2v19 stops at it with "Uncaught SyntaxError: Got '{' expected '('" (seen on 2v19 built for
 * Linux), so the code would be saved but never run.
 */
export const OLDEST_ESPRUINO = { major: 2, minor: 20 };

/** Whether a version as Espruino reports it ("2v19", "2v19.123", "1v99") is older than OLDEST_ESPRUINO. */
export function espruinoTooOld(version: string): boolean {
  const match = /^(\d+)v(\d+)/.exec(version);
  if (!match) return false; // an unknown form: let the upload go, the board's own errors are still caught
  const major = Number(match[1]);
  return major < OLDEST_ESPRUINO.major || (major === OLDEST_ESPRUINO.major && Number(match[2]) < OLDEST_ESPRUINO.minor);
}

/** What went wrong, for the user: a sentence and what to try. */
export interface Failure {
  problem: string;
  advice: string[];
}

const PORT_ADVICE = [
  "check the port: see README, 'Finding the serial port' (npx espruino --no-ble --list lists them)",
  "close any other program holding it (a serial monitor, the Espruino Web IDE, another upload)",
  "on Linux, add yourself to the dialout group (sudo usermod -aG dialout $USER, then log in again)",
];
const TCP_ADVICE = ["check the address and that the board is on the network (for the simulated board: npm run sim -- --repl PORT)"];
const PROMPT_ADVICE = [
  "check the baud rate (--baud; Espruino on ESP32/ESP8266 uses 115200)",
  "the board may be busy or stuck: press its reset button (or power it off and on) and try again",
  "check that the board runs Espruino: flash Espruino itself first (README, step 1)",
];
const UPDATE_ADVICE = [
  "flash a newer Espruino onto the board first (README, step 1: espruino.com/ESP32 or espruino.com/EspruinoESP8266), then upload again",
];
const MEMORY_ADVICE = [
  "the board ran out of memory (RAM) while taking or starting the code",
  "make the bundle smaller: turn off what you do not use (QoS 1/2, the offline queue, discovery); npm run size shows the profiles",
  "an older upload may hold RAM: reset the board (or power it off and on) and upload again",
];

/**
 * Turns the verbose Espruino CLI's lines into progress for a person: connecting, the board found, each chunk of
 * code written to flash, load(), what the board prints; and notes the failures the CLI does not report in its exit
 * code. Feed it every line of the CLI's stdout and stderr with `line()`, then ask `result(exitCode)`. `stop` is
 * called when the upload must not go on (a board whose Espruino is too old): stop the CLI before it writes.
 */
export class UploadProgress {
  private chunks = 0;
  private sent = 0;
  /** The end of what the CLI has sent so far (it logs it in pieces of 19 to 512 bytes). */
  private sentTail = "";
  private complete = false;
  private failure: Failure | null = null;
  private connected = false;
  private board: string | null = null;
  private readonly warnings: string[] = [];
  /** The board's console lines, as the CLI relayed them. */
  readonly boardLines: string[] = [];

  constructor(
    private readonly port: string,
    private readonly show: (line: string) => void,
    private readonly stop: () => void = () => {},
  ) {}

  line(raw: string): void {
    const text = raw.replace(/\r$/, "");
    let match: RegExpMatchArray | null;
    if ((match = /^Connecting to '(.*)'$/.exec(text))) this.show(`connecting to ${match[1]}...`);
    else if ((match = /^Found (.+), (\S+)$/.exec(text))) {
      this.board = `${match[1]}, Espruino ${match[2]}`;
      this.show(`board: ${this.board}`);
      if (espruinoTooOld(match[2]!)) {
        const { major, minor } = OLDEST_ESPRUINO;
        this.fail(`the board runs Espruino ${match[2]}; the firmware needs ${major}v${minor} or later (nothing was uploaded)`, UPDATE_ADVICE);
        this.stop();
      }
    } else if (text === "Connected" || text === "serial: Connected Ok") {
      if (!this.connected) this.show("connected");
      this.connected = true;
    } else if (/^Unable to retrieve board information/.test(text)) {
      this.warnings.push("the board did not answer the CLI's question (process.env): it may not run Espruino, or the baud rate is wrong");
    } else if ((match = /^Uploading (\d+) bytes to flash$/.exec(text))) {
      this.chunks = Math.max(1, Math.ceil(Number(match[1]) / CHUNK_BYTES));
      this.show(`writing ${match[1]} bytes to flash (.bootcde) in ${this.chunks} chunk${this.chunks === 1 ? "" : "s"}, after reset()`);
    } else if ((match = /^serial: Sending (".*")$/.exec(text))) {
      this.sending(match[1]!);
    } else if ((match = /^--\] ?([\s\S]*)$/.exec(text))) this.boardSays(match[1]!);
    else if (/^Prompt not detected - upload failed/.test(text)) {
      this.fail("the board did not come back to its prompt after the upload: the code may not have been saved", PROMPT_ADVICE);
    } else if (/^Unable to connect!?$/.test(text) || /^serial: Port ".*" not found$/.test(text) || /^Port named .* not found$/.test(text) || text === "Error: No Ports Found") {
      this.fail(`could not open ${this.port}`, this.port.startsWith("tcp://") ? TCP_ADVICE : PORT_ADVICE);
    } else if ((match = /^RECEIVE ERROR: (.*)$/.exec(text))) {
      const code = /"code":"([A-Z]+)"/.exec(match[1]!)?.[1] ?? match[1]!;
      this.fail(`could not connect to ${this.port} (${code})`, this.port.startsWith("tcp://") ? TCP_ADVICE : PORT_ADVICE);
    } else if ((match = /^Module (\S+) not found$/.exec(text))) {
      this.warnings.push(`the board's Espruino has no built-in module ${match[1]} (is it an ESP32 or ESP8266 build?)`);
    } else if (/^Upload Complete/.test(text)) this.complete = true;
  }

  /** Each Storage.write line the CLI sends is one chunk of code written to flash; load() then starts it. */
  private sending(quoted: string) {
    let piece: string;
    try {
      piece = JSON.parse(quoted) as string;
    } catch {
      return;
    }
    const text = this.sentTail + piece;
    const write = 'require("Storage").write(';
    for (let at = text.indexOf(write); at >= 0; at = text.indexOf(write, at + 1)) {
      if (at + write.length <= this.sentTail.length) continue; // counted with the previous piece
      this.sent++;
      const total = Math.max(this.chunks, this.sent);
      const width = 20;
      const done = Math.round((this.sent / total) * width);
      this.show(`  [${"#".repeat(done)}${".".repeat(width - done)}] chunk ${this.sent}/${total}`);
    }
    const load = text.indexOf("\x10load()");
    if (load >= 0 && load + 7 > this.sentTail.length) this.show("starting it from flash: load()");
    this.sentTail = text.slice(-40);
  }

  private boardSays(rawText: string) {
    // The board's prompt handling: "\r", ESC [ J (erase), the ">" prompt; what is left is its console output.
    const text = rawText.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r/g, "").replace(/^>+/, "").trimEnd();
    if (!text) return;
    this.boardLines.push(text);
    this.show(`  board: ${text}`);
    if (/OUT OF MEMORY|LOW_MEMORY|Out of Memory/i.test(text)) this.fail("the board ran OUT OF MEMORY", MEMORY_ADVICE);
    else if (/^Uncaught /.test(text)) this.fail(`the board reported an error: ${text}`, ["the code failed on the board: its console shows where (npx espruino --no-ble -p PORT)"]);
  }

  private fail(problem: string, advice: string[]) {
    this.failure ??= { problem, advice };
  }

  /** The outcome once the CLI has exited (null: killed, e.g. on a timeout). */
  result(exitCode: number | null): { ok: boolean; failure: Failure | null; warnings: string[]; board: string | null } {
    let failure = this.failure;
    if (!failure && exitCode !== 0) failure = { problem: `the Espruino CLI exited with ${exitCode ?? "a signal"}`, advice: this.connected ? PROMPT_ADVICE : PORT_ADVICE };
    if (!failure && !this.complete) {
      failure = this.connected
        ? { problem: "the upload did not complete", advice: PROMPT_ADVICE }
        : { problem: `could not connect to ${this.port}`, advice: this.port.startsWith("tcp://") ? TCP_ADVICE : PORT_ADVICE };
    }
    if (!failure && this.chunks && this.sent < this.chunks) failure = { problem: `only ${this.sent} of ${this.chunks} chunks were sent`, advice: PROMPT_ADVICE };
    return { ok: failure === null, failure, warnings: this.warnings, board: this.board };
  }
}

/** Runs the CLI; resolves with its exit code (null when it was killed after `timeoutMs`). */
function runCli(args: string[], onLine: (line: string) => void, timeoutMs: number, abort: AbortSignal): Promise<number | null> {
  const cli = createRequire(import.meta.url).resolve("espruino/bin/espruino-cli.js");
  // Aborted: killed at once (SIGKILL), before it sends anything more to the board.
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], signal: abort, killSignal: "SIGKILL" });
  child.on("error", (error) => {
    if (error.name !== "AbortError") onLine(`(flash: the Espruino CLI failed: ${error.message})`);
  });
  // Lines end at \n only: the board's output holds bare \r (its prompt handling), which readline would split on.
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = "";
    stream.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString("latin1")).split("\n");
      pending = lines.pop()!;
      for (const line of lines) onLine(line);
    });
    stream.on("end", () => pending && onLine(pending));
  }
  const timer = setTimeout(() => {
    onLine(`(flash: no result after ${timeoutMs / 1000} s: stopping the Espruino CLI)`);
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
  }, timeoutMs);
  return new Promise((done) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      done(code);
    }),
  );
}

async function main() {
  let flags;
  try {
    flags = parseArgs({
      options: {
        port: { type: "string" },
        baud: { type: "string" },
        bundle: { type: "string" },
        timeout: { type: "string" },
        verbose: { type: "boolean" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) return console.log(USAGE);
  const problem = checkPort(flags.port);
  const baud = flags.baud === undefined ? 115200 : Number(flags.baud);
  const timeout = flags.timeout === undefined ? 120 : Number(flags.timeout);
  if (problem || !Number.isInteger(baud) || baud <= 0 || !(timeout > 0)) {
    console.error(`${problem ?? (!(timeout > 0) ? `--timeout ${flags.timeout}: not a positive number of seconds` : `--baud ${flags.baud}: not a positive whole number`)}\n${USAGE}`);
    process.exit(2);
  }
  let bundle: string;
  if (flags.bundle) {
    bundle = flags.bundle;
    let bytes: number;
    try {
      bytes = readFileSync(bundle).length;
    } catch (error) {
      console.error(`--bundle ${bundle}: ${(error as Error).message}`);
      process.exit(2);
    }
    console.log(`bundle ${bundle}: ${bytes} bytes`);
  } else {
    console.log("building dist/firmware.js (config.json and environment)...");
    const { code, entry } = await buildFirmware();
    bundle = "dist/firmware.js";
    console.log(`built dist/firmware.js: ${code.length} bytes, from ${entry}`);
  }
  const offlineDir = mkdtempSync(join(tmpdir(), "espruino-offline-"));
  const args = espruinoArgs({ port: flags.port!, baud, bundle, offlineDir });
  console.log(`uploading: espruino ${args.join(" ")}`);
  if (flags["dry-run"]) return rmSync(offlineDir, { recursive: true, force: true });
  const abort = new AbortController();
  const progress = new UploadProgress(flags.port!, (line) => console.log(line), () => abort.abort());
  const exitCode = await runCli(args, (line) => {
    if (flags.verbose) console.log(`[espruino] ${line}`);
    progress.line(line);
  }, timeout * 1000, abort.signal);
  rmSync(offlineDir, { recursive: true, force: true });
  const outcome = progress.result(exitCode);
  for (const warning of outcome.warnings) console.log(`warning: ${warning}`);
  if (!outcome.ok) {
    console.error(`upload failed: ${outcome.failure!.problem}`);
    for (const advice of outcome.failure!.advice) console.error(`  - ${advice}`);
    if (!flags.verbose) console.error("  (--verbose shows everything the Espruino CLI printed)");
    process.exit(1);
  }
  console.log("uploaded and saved to flash: the board runs it now and at every power-up");
  console.log(`its console: npx espruino --no-ble -p ${flags.port}${flags.port!.startsWith("tcp://") ? "" : ` -b ${baud}`}  (Ctrl-C twice leaves)`);
  console.log("if it never says 'WiFi: joined': check wifiSsid/wifiPassword (2.4 GHz networks only) and the signal; see README");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
