// `npm run flash`: the upload command it builds. The upload itself needs a board (or, later, the sim's REPL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { checkPort, espruinoArgs } from "../scripts/flash.ts";

test("uploads with the Espruino CLI as boot code in flash, to the given port and speed", () => {
  assert.deepEqual(espruinoArgs({ port: "/dev/ttyUSB0", baud: 115200, bundle: "dist/firmware.js" }), [
    "--no-ble",
    "-p", "/dev/ttyUSB0",
    "-b", "115200",
    "--config", "RESET_BEFORE_SEND=true",
    "--config", "SAVE_ON_SEND=1",
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
  assert.match(out, /uploading: espruino --no-ble -p tcp:\/\/127\.0\.0\.1:2323 -b 115200 --config RESET_BEFORE_SEND=true --config SAVE_ON_SEND=1 dist\/firmware\.js/);
});

test("no --port: exits 2 with the usage", () => {
  assert.throws(
    () => execFileSync(process.execPath, ["--import", "tsx", "scripts/flash.ts"], { encoding: "utf8", stdio: "pipe" }),
    (error: { status: number; stderr: string }) => error.status === 2 && /--port is required/.test(error.stderr),
  );
});
