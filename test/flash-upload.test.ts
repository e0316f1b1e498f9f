// Flashing without a board: the simulated board offers Espruino's REPL on a TCP port (`npm run sim -- --repl PORT`),
// the real Espruino CLI uploads the bundle into its simulated flash as `npm run flash` does with a board, and the code
// then runs from flash, switches the LED through a broker, and runs again after a power cycle.
// The REPL's answers are checked against what a real Espruino (2v29, over telnet) answered to the same input.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { startAedes } from "../host-sim/broker.ts";
import { SimBoard, startRepl } from "../host-sim/repl.ts";
import { SimStorage } from "../host-sim/runtime.ts";
import { freePort } from "./support/brokers.ts";
import { ReplClient, runEspruinoCli } from "./support/espruino-cli.ts";
import { Phone } from "./support/phone.ts";
import { SimEvent, SimProcess } from "./support/sim-process.ts";

const workDir = mkdtempSync(join(tmpdir(), "flash-upload-"));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** The bundle exactly as `npm run build` makes it, with this broker baked in, ignoring any local config. */
async function buildFor(mqttUrl: string, name: string): Promise<{ file: string; code: string }> {
  const file = join(workDir, `${name}.js`);
  const { code } = await buildFirmware({ outfile: file, configFile: null, env: {}, overrides: { mqttUrl, clientId: name } });
  return { file, code };
}

/** A simulated board as its own process, blank (no bundle), with its REPL on a free port and its flash in a file. */
async function startBlankBoard(brokerUrl: string, flashFile: string, extraArgs: string[] = []): Promise<{ sim: SimProcess; repl: string }> {
  const sim = new SimProcess(["--blank", "--repl", "0", "--broker", brokerUrl, "--flash", flashFile, "--http-port", "0", ...extraArgs]);
  const event = await sim.waitFor((e) => e.event === "repl" && typeof e.url === "string", "REPL address");
  await sim.waitFor((e) => e.event === "boot", "boot");
  return { sim, repl: event.url as string };
}

const isConnected = (e: SimEvent) => e.event === "mqtt" && e.state === "connected";

describe("the real Espruino CLI uploads into the simulated board over tcp://", () => {
  test("a blank board takes the bundle into flash (.bootcde), runs it, switches the LED through the broker, and runs it again after a power cycle", async () => {
    const broker = await startAedes(0);
    const { file, code } = await buildFor(broker.url, "flashcli");
    const flashFile = join(workDir, "cli-flash.json");
    let { sim, repl } = await startBlankBoard(broker.url, flashFile);
    let phone: Phone | undefined;
    try {
      const blankBoot = sim.events.find((e) => e.event === "boot")!;
      assert.deepEqual(blankBoot.files, [], "a blank board has no code in flash");
      assert.equal(sim.events.some(isConnected), false);

      // Exactly what npm run flash runs (plus the two offline settings runEspruinoCli adds).
      const run = await runEspruinoCli(["--no-ble", "-p", repl, "--config", "RESET_BEFORE_SEND=true", "--config", "SAVE_ON_SEND=1", file], 30_000);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /Upload Complete/);
      assert.doesNotMatch(run.output, /Prompt not detected|Unable to connect|Uncaught|Module \w+ not found/);

      // reset(), the chunks into Storage, then load(): the board booted its flash and connected.
      const restarts = sim.events.filter((e) => e.event === "restart").map((e) => e.kind);
      assert.deepEqual(restarts, ["reset", "load"]);
      const loaded = await sim.waitFor((e) => e.event === "boot" && e.kind === "load", "boot after load()");
      assert.deepEqual(loaded.files, [".bootcde"]);
      await sim.waitFor(isConnected, "MQTT connection after the upload", sim.events.indexOf(loaded));
      const flash = JSON.parse(readFileSync(flashFile, "utf8")) as Record<string, string>;
      assert.deepEqual(Object.keys(flash), [".bootcde"]);
      assert.equal(flash[".bootcde"]!.trim(), code.trim(), "the flash holds the bundle, byte for byte");

      phone = await Phone.connect(broker.url, ["led/#"]);
      await phone.waitFor("led/state", "off"); // published after the device's SUBSCRIBE: commands now reach it
      let from = sim.events.length;
      await phone.publish("led", "on");
      await sim.waitFor((e) => e.event === "pin" && e.pin === "D2" && e.value === 1, "pin D2=1 after 'on'", from);
      await phone.waitFor("led/state", "on");

      // Power cut and power up: a new process over the same flash runs the code from it at boot.
      await sim.kill();
      const seenBefore = phone.seen.length;
      ({ sim, repl } = await startBlankBoard(broker.url, flashFile));
      const boot = sim.events.find((e) => e.event === "boot")!;
      assert.equal(boot.kind, "power");
      assert.deepEqual(boot.files, [".bootcde"]);
      await sim.waitFor(isConnected, "MQTT connection after the power cycle");
      await phone.waitFor("led/state", "off", seenBefore); // the LED starts off after a power cycle
      from = sim.events.length;
      const seen = phone.seen.length;
      await phone.publish("led", "toggle");
      await sim.waitFor((e) => e.event === "pin" && e.pin === "D2" && e.value === 1, "pin D2=1 after 'toggle'", from);
      await phone.waitFor("led/state", "on", seen);
    } finally {
      await sim.kill();
      await phone?.end();
      await broker.close();
    }
  });

  test("npm run flash (scripts/flash.ts) shows each chunk and the board's answer, and fails clearly when nobody listens", async () => {
    const broker = await startAedes(0);
    const { file } = await buildFor(broker.url, "flashscript");
    const { sim, repl } = await startBlankBoard(broker.url, join(workDir, "script-flash.json"));
    try {
      const ok = await runFlashScript(["--port", repl, "--bundle", file]);
      assert.equal(ok.code, 0, ok.output);
      assert.match(ok.output, /board: HOSTSIM, Espruino 2v29/);
      // The CLI writes 1,024 bytes a chunk.
      const chunks = Math.ceil(readFileSync(file).length / 1024);
      assert.match(ok.output, new RegExp(`writing \\d+ bytes to flash \\(\\.bootcde\\) in ${chunks} chunks`));
      for (let chunk = 1; chunk <= chunks; chunk++) assert.match(ok.output, new RegExp(`chunk ${chunk}/${chunks}`));
      assert.match(ok.output, /starting it from flash: load\(\)/);
      assert.match(ok.output, /board: MQTT connected/);
      assert.match(ok.output, /uploaded and saved to flash/);
      await sim.waitFor(isConnected, "MQTT connection after npm run flash");
    } finally {
      await sim.kill();
      await broker.close();
    }
    const nobody = await runFlashScript(["--port", `tcp://127.0.0.1:${await freePort()}`, "--bundle", file]);
    assert.equal(nobody.code, 1, nobody.output);
    assert.match(nobody.output, /upload failed: could not connect to tcp:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  test("npm run flash refuses a board whose Espruino is older than 2v20, and sends it nothing: no reset(), no code in flash", async () => {
    const broker = await startAedes(0);
    const { file } = await buildFor(broker.url, "flashold");
    const { sim, repl } = await startBlankBoard(broker.url, join(workDir, "old-flash.json"), ["--espruino-version", "2v19"]);
    try {
      const old = await runFlashScript(["--port", repl, "--bundle", file]);
      assert.equal(old.code, 1, old.output);
      assert.match(old.output, /board: HOSTSIM, Espruino 2v19/);
      assert.match(old.output, /upload failed: the board runs Espruino 2v19; the firmware needs 2v20 or later \(nothing was uploaded\)/);
      assert.match(old.output, /flash a newer Espruino onto the board first/);
      assert.doesNotMatch(old.output, /writing \d+ bytes|chunk 1\//);
      // Give a late write time to land, then check the board saw none: it never restarted and its flash is empty.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(sim.events.filter((e) => e.event === "restart"), []);
    } finally {
      await sim.kill();
      await broker.close();
    }
    const flashFile = join(workDir, "old-flash.json");
    assert.deepEqual(existsSync(flashFile) ? JSON.parse(readFileSync(flashFile, "utf8")) : {}, {}, "nothing in the board's flash");
  });
});

/** `npm run flash -- ARGS`, with a time limit: its own for the CLI it runs (--timeout), and ours, by its pid. */
async function runFlashScript(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/flash.ts", "--timeout", "30", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, "SIGKILL"), 40_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  return { code, output };
}

describe("the REPL answers as Espruino's does (checked against a real Espruino 2v29 over telnet)", () => {
  /** An in-process board with its REPL on a free port, and a client connected to it. */
  async function withRepl(run: (client: ReplClient, board: SimBoard, port: number) => Promise<void>, storage = new SimStorage()) {
    const board = new SimBoard({ wifi: false, storage });
    const server = await startRepl(board, 0);
    board.powerOn();
    const client = await ReplClient.connect(server.port);
    try {
      await client.waitFor(">");
      await run(client, board, server.port);
    } finally {
      client.close();
      board.powerOff();
      await server.close();
    }
  }

  test("prompt, echo, results, DLE lines without echo, continuation lines, Ctrl-C and errors", async () => {
    await withRepl(async (client) => {
      assert.equal(client.received, ">");
      assert.equal(await client.exchange("\n"), "\r\n>");
      assert.equal(await client.exchange("1+1\n"), "1+1\r\n=2\r\n>");
      assert.equal(await client.exchange("f(4)\r\n"), "f(4)\r\nUncaught ReferenceError: f is not defined\r\n>");
      assert.equal(await client.exchange("function f(a){\n"), "function f(a){\r\n:");
      assert.equal(await client.exchange("return a*2}\n"), "return a*2}\r\n=undefined\r\n>");
      assert.equal(await client.exchange("f(4)\r\n"), "f(4)\r\n=8\r\n>");
      // DLE (0x10) first on a line: no echo, no result, no new prompt...
      assert.equal(await client.exchange("\x10var x=5\n"), "");
      assert.equal(await client.exchange("x\n"), "x\r\n=5\r\n>");
      // ...but what it prints comes out, and the prompt follows.
      assert.equal(await client.exchange("\x10print(1);print(2)\n\x10print(3)\n"), "1\r\n2\r\n3\r\n>");
      assert.equal(await client.exchange("\x10undefinedThing\n"), "Uncaught ReferenceError: undefinedThing is not defined\r\n>");
      // Ctrl-C drops the line typed so far (here two lines: the cursor goes up one first).
      assert.equal(await client.exchange("foo(\n"), "foo(\r\n:");
      assert.equal(await client.exchange("\x03"), "\x1b[A\r\x1b[J>");
      assert.equal(await client.exchange("12\b3\n"), "12\b \b3\r\n=13\r\n>");
      // Output from a timer takes the prompt off and puts it back.
      assert.equal(await client.exchange('setTimeout(function(){console.log("tick")},50)\n', 300), 'setTimeout(function(){console.log("tick")},50)\r\n=1\r\n>\r\x1b[Jtick\r\n>');
      assert.equal(await client.exchange('({a:1,b:[1,2],c:"s"})\n'), '({a:1,b:[1,2],c:"s"})\r\n={ a: 1, b: [ 1, 2 ], c: "s" }\r\n>');
      // Cursor keys and the CLI's line-number escape are consumed.
      assert.equal(await client.exchange("\x1b[A\x1b[2d"), "");
      // What Espruino cannot run is refused, as the bundle is.
      assert.match(await client.exchange("new Map()\n"), /^new Map\(\)\r\nUncaught SyntaxError: [\s\S]*Map is not present in Espruino/);
    });
  });

  test("the CLI's probe: process.env as JSON between '<<' and '>>', with the built-in modules and the console on Telnet", async () => {
    await withRepl(async (client) => {
      const answer = await client.send('\x10print("<","<<",JSON.stringify(process.env),">>",">")\n', ">> >\r\n>");
      const env = JSON.parse(/^< << (.*) >> >\r\n>$/.exec(answer)![1]!) as Record<string, string>;
      assert.equal(env.VERSION, "2v29");
      assert.equal(env.BOARD, "HOSTSIM");
      assert.equal(env.CONSOLE, "Telnet");
      assert.deepEqual(env.MODULES!.split(",").filter((name) => name !== "tls"), ["net", "Storage"]);
    });
  });

  test("Storage.write in chunks then load() runs .bootcde from flash; reset() does not, E.reboot() does (and cuts the link)", async () => {
    const storage = new SimStorage(join(workDir, "repl-flash.json"));
    const code = 'digitalWrite(D2,1);console.log("booted from flash");';
    await withRepl(async (client, board, port) => {
      const pins: number[] = [];
      const watch = (sim: import("../host-sim/runtime.ts").EspruinoSim) => sim.on("pin", (change: { pin: string; value: number }) => change.pin === "D2" && pins.push(change.value));
      board.on("sim", watch);
      const reset = await client.send("\x10reset();\n", /reset\r\n\r\n>$/);
      assert.match(reset, /^\r\n host-sim: simulated Espruino 2v29 \(HOSTSIM\), reset\r\n\r\n>$/);
      // As the CLI sends it: a first chunk that sizes the file, then one at an offset.
      assert.equal(await client.exchange(`\x10print()\n\x10require("Storage").write(".bootcde",${JSON.stringify(code.slice(0, 20))},0,${code.length});\n`), "\r\n>");
      assert.equal(await client.exchange(`\x10require("Storage").write(".bootcde",${JSON.stringify(code.slice(20))},20);\n`), "");
      assert.equal(storage.read(".bootcde"), code);
      // load() after the line: the prompt comes off, the boot code runs (its output), the prompt returns.
      assert.equal(await client.exchange("\x10load()\n", 200), "\r\x1b[Jbooted from flash\r\n>");
      assert.deepEqual(pins, [1]);
      // reset() clears RAM but does not run .bootcde (that is what .bootrst is for)...
      await client.send("\x10reset();\n", "reset\r\n\r\n>");
      assert.deepEqual(pins, [1]);
      assert.equal(await client.exchange('require("Storage").read(".bootcde").length\n'), `require("Storage").read(".bootcde").length\r\n=${code.length}\r\n>`);
      // ...a reboot does, and like a board's reboot it drops the network connection.
      await client.exchange("E.reboot()\n", 200);
      assert.equal(client.closed, true);
      assert.deepEqual(pins, [1, 1]);
      const again = await ReplClient.connect(port);
      try {
        await again.waitFor(">");
        assert.equal(await again.exchange("digitalRead(D2)\n"), "digitalRead(D2)\r\n=1\r\n>");
        assert.match(await again.exchange('require("Storage").write(".bootcde","x",99)\n'), /Uncaught Error: Storage: too much data for \.bootcde/);
      } finally {
        again.close();
      }
    }, storage);
    // The flash outlives the process: a new board over the same file boots the code at power-up.
    const board = new SimBoard({ wifi: false, storage: new SimStorage(join(workDir, "repl-flash.json")) });
    const lines: string[] = [];
    board.on("console", (text: string) => lines.push(text));
    board.powerOn();
    board.powerOff();
    assert.deepEqual(lines, ["booted from flash"]);
  });
});
