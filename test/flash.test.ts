// `npm run flash`: the upload command it builds, and how it reads the Espruino CLI's output into progress and
// failures. The upload itself, into the simulated board's REPL, is in flash-upload.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { checkPort, espruinoArgs, espruinoTooOld, UploadProgress } from "../scripts/flash.ts";

test("uploads with the Espruino CLI as boot code in flash, to the given port and speed, verbose (for progress) and offline", () => {
  assert.deepEqual(espruinoArgs({ port: "/dev/ttyUSB0", baud: 115200, bundle: "dist/firmware.js", offlineDir: "/tmp/x" }), [
    "--verbose",
    "--no-ble",
    "-p", "/dev/ttyUSB0",
    "-b", "115200",
    "--config", "RESET_BEFORE_SEND=true",
    "--config", "SAVE_ON_SEND=1",
    "--config", "BOARD_JSON_URL=/tmp/x",
    "--config", "MODULE_URL=/tmp/x",
    "dist/firmware.js",
  ]);
});

test("ports: serial names and tcp://host:port pass; a missing port or another scheme is explained", () => {
  assert.equal(checkPort("/dev/ttyUSB0"), null);
  assert.equal(checkPort("COM3"), null);
  assert.equal(checkPort("tcp://127.0.0.1:2323"), null);
  assert.match(checkPort(undefined) ?? "", /--port is required/);
  assert.match(checkPort("http://board") ?? "", /only serial ports and tcp:\/\/host:port/);
});

test("--dry-run builds and prints the exact upload command", () => {
  const out = execFileSync(process.execPath, ["--import", "tsx", "scripts/flash.ts", "--port", "tcp://127.0.0.1:2323", "--dry-run"], {
    encoding: "utf8",
    env: { ...process.env, MQTT_URL: "mqtt://127.0.0.1:1883" },
  });
  assert.match(out, /built dist\/firmware\.js: \d+ bytes/);
  assert.match(
    out,
    /uploading: espruino --verbose --no-ble -p tcp:\/\/127\.0\.0\.1:2323 -b 115200 --config RESET_BEFORE_SEND=true --config SAVE_ON_SEND=1 --config BOARD_JSON_URL=\S+ --config MODULE_URL=\S+ dist\/firmware\.js/,
  );
});

test("no --port: exits 2 with the usage", () => {
  assert.throws(
    () => execFileSync(process.execPath, ["--import", "tsx", "scripts/flash.ts"], { encoding: "utf8", stdio: "pipe" }),
    (error: { status: number; stderr: string }) => error.status === 2 && /--port is required/.test(error.stderr),
  );
});

/** Feeds CLI lines to an UploadProgress; returns what it showed, its verdict, and after how many lines it said stop. */
function read(port: string, lines: string[], exitCode: number | null = 0) {
  const shown: string[] = [];
  let linesFed = 0;
  let stoppedAfter: number | null = null;
  const progress = new UploadProgress(port, (line) => shown.push(line), () => (stoppedAfter ??= linesFed));
  for (const line of lines) {
    linesFed++;
    progress.line(line);
  }
  return { shown, stoppedAfter, ...progress.result(exitCode) };
}

// Lines as the verbose CLI printed them during an upload into a real Espruino (2v29, ESP8266-shaped, over telnet).
const START = [
  "Connecting to 'tcp://127.0.0.1:2323'",
  "serial: Connected Ok",
  'serial: Sending "\\n"',
  "Found LINUX_ESP8266SHAPED, 2v29.277",
  "Connected",
  "Uploading 2500 bytes to flash",
  'serial: Sending "\\u0010reset();\\n"',
  "--] ",
  "--]  2v29.277 (c) 2026 G.Williams",
];
const CHUNKS = [
  'serial: Sending "\\u0010print()\\n\\u0010require(\\"Storage\\").write(\\".bootcde\\",\\"function be(n){"',
  'serial: Sending "return 1}\\",0,2500);\\n"',
  'serial: Sending "\\u0010require(\\"Stora"', // a slow (serial) link logs pieces of 19 bytes
  'serial: Sending "ge\\").write(\\".bootcde\\",\\"x\\",1024);\\n"',
  'serial: Sending "\\u0010require(\\"Storage\\").write(\\".bootcde\\",\\"y\\",2048);\\n"',
  'serial: Sending "\\u0010load()\\n"',
];

test("progress: the board, each chunk written to flash, load(), and what the board then prints", () => {
  const result = read("tcp://127.0.0.1:2323", [...START, ...CHUNKS, "--] \r\x1b[J>\r\x1b[JMQTT connected\r", 'serial: Sending "\\n"', "--] >\r", "Sent", "Upload Complete"]);
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal(result.board, "LINUX_ESP8266SHAPED, Espruino 2v29.277");
  assert.deepEqual(result.shown, [
    "connecting to tcp://127.0.0.1:2323...",
    "connected",
    "board: LINUX_ESP8266SHAPED, Espruino 2v29.277",
    "writing 2500 bytes to flash (.bootcde) in 3 chunks, after reset()",
    "  board:  2v29.277 (c) 2026 G.Williams",
    "  [#######.............] chunk 1/3",
    "  [#############.......] chunk 2/3",
    "  [####################] chunk 3/3",
    "starting it from flash: load()",
    "  board: MQTT connected",
  ]);
});

test("failures the CLI exits 0 on are caught: out of memory, an exception at boot, no prompt, no connection", () => {
  // Sent to RAM instead of flash, the bundle ran the ESP8266-shaped interpreter out of memory (seen for real).
  const memory = read("tcp://127.0.0.1:2323", [...START, ...CHUNKS, "--] OUT OF MEMORYUncaught SyntaxError: Got EOF expected '}'", "Upload Complete"]);
  assert.equal(memory.ok, false);
  assert.match(memory.failure!.problem, /OUT OF MEMORY/);
  assert.match(memory.failure!.advice.join("\n"), /smaller/);

  const thrown = read("/dev/ttyUSB0", [...START, ...CHUNKS, "--] Uncaught ReferenceError: \"x\" is not defined", "Upload Complete"]);
  assert.match(thrown.failure!.problem, /the board reported an error: Uncaught ReferenceError/);

  const noPrompt = read("/dev/ttyUSB0", [...START, ...CHUNKS, "Prompt not detected - upload failed. Trying to recover...", "Upload Complete"]);
  assert.match(noPrompt.failure!.problem, /did not come back to its prompt/);
  assert.match(noPrompt.failure!.advice.join("\n"), /baud rate/);

  const refused = read("tcp://127.0.0.1:2399", [
    "Connecting to 'tcp://127.0.0.1:2399'",
    'RECEIVE ERROR: {"errno":-111,"code":"ECONNREFUSED","syscall":"connect","address":"127.0.0.1","port":2399}',
  ]);
  assert.equal(refused.failure!.problem, "could not connect to tcp://127.0.0.1:2399 (ECONNREFUSED)");

  const noPort = read("/dev/ttyUSB7", ["Connecting to '/dev/ttyUSB7'", 'serial: Port "/dev/ttyUSB7" not found', "Unable to connect!"]);
  assert.equal(noPort.failure!.problem, "could not open /dev/ttyUSB7");
  assert.match(noPort.failure!.advice.join("\n"), /dialout/);

  const cut = read("/dev/ttyUSB0", [...START, CHUNKS[0]!]);
  assert.match(cut.failure!.problem, /the upload did not complete/);
  assert.match(read("/dev/ttyUSB0", [...START], null).failure!.problem, /exited with a signal/);
});

test("Espruino older than 2v20 (no catch without a binding) is refused as soon as the CLI names it, before the upload", () => {
  for (const version of ["2v19", "2v19.123", "2v09", "1v99"]) assert.equal(espruinoTooOld(version), true, version);
  for (const version of ["2v20", "2v20.1", "2v29.277", "2v100", "3v00", "HOSTSIM"]) assert.equal(espruinoTooOld(version), false, version);

  const old = START.map((line) => line.replace("2v29.277", "2v19"));
  // The CLI killed at once (as flash.ts does on stop) exits with a signal: the verdict is still the version's.
  const result = read("/dev/ttyUSB0", old.slice(0, 4), null);
  assert.equal(result.ok, false);
  assert.equal(result.stoppedAfter, 4, "stop is asked on the line that names the version");
  assert.equal(result.failure!.problem, "the board runs Espruino 2v19; the firmware needs 2v20 or later (nothing was uploaded)");
  assert.match(result.failure!.advice.join("\n"), /flash a newer Espruino onto the board/);
  assert.deepEqual(result.shown, ["connecting to tcp://127.0.0.1:2323...", "connected", "board: LINUX_ESP8266SHAPED, Espruino 2v19"]);

  assert.equal(read("/dev/ttyUSB0", [...START, ...CHUNKS, "Upload Complete"]).stoppedAfter, null, "2v29 goes on");
});

test("a board without a module the bundle needs is reported (not fatal: the code says so on the board)", () => {
  const result = read("/dev/ttyUSB0", [...START, "Module Wifi not found", ...CHUNKS, "Upload Complete"]);
  assert.equal(result.ok, true);
  assert.match(result.warnings.join("\n"), /no built-in module Wifi/);
});
