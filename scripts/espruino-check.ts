// A developer's LOCAL check on a real Espruino interpreter built for Linux: never part of `npm test` or CI.
//
//   ESPRUINO_BIN=/path/to/espruino npx tsx scripts/espruino-check.ts [--label NAME] [--full | --no-json | --qos N | --every-feature] [--tls | --tls-wrong-ca] [--breakdown]
//
// ESPRUINO_BIN is an Espruino binary built for Linux with TELNET (its REPL on TCP 2323 with --telnet): see README,
// "Memory on the real interpreter". The check starts Mosquitto on a free loopback port, builds the bundle for it
// (client id "espcheck", defaults otherwise), starts the interpreter in an empty temp folder (its Storage goes to
// ./espruino.flash there), uploads the bundle as `npm run flash` does (SAVE_ON_SEND=1: saved to flash as .bootcde,
// then load()), and reads `process.memory()` over one telnet connection to the REPL: after start, once connected,
// after 1,000 commands sent one at a time, once a second during 1,000 commands sent back to back (the highest
// reading is kept), after them, and twice more a few seconds apart.
// The telnet console itself costs a few variables: the first row reads the empty interpreter with a console
// attached, before the upload, so the firmware's own share is each later row minus that one.
// With --tls the device talks mqtts:// to a second, TLS listener of the same Mosquitto (a CA and a broker
// certificate made with openssl for the run); the observer stays on the plain one. --tls-wrong-ca builds the device
// with a CA that did not sign the broker's certificate, and says whether it connected anyway.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { connect as tlsConnect } from "node:tls";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { buildFirmware } from "../esbuild.config.mjs";
import { freePort, startMosquitto, waitForPort } from "../test/support/brokers.ts";
import { makeCa, makeCert, tlsListener } from "../test/support/certs.ts";
import { espruinoArgs, UploadProgress } from "./flash.ts";
import { PROFILES } from "./size.mjs";

const TELNET_PORT = 2323;
/** --every-feature: the features of `npm run size`'s full profile, without its WiFi and broker (the check's own). */
const EVERY_FEATURE = Object.fromEntries(
  Object.entries(PROFILES["full firmware"].overrides).filter(([key]) => !["wifiSsid", "wifiPassword", "mqttUrl", "clientId"].includes(key)),
);
const COMMANDS = 1000;
const USAGE = `usage: ESPRUINO_BIN=/path/to/espruino npx tsx scripts/espruino-check.ts [--label NAME] [--full | --no-json | --qos N | --every-feature] [--tls | --tls-wrong-ca] [--breakdown]
  A local check on a real Espruino interpreter built for Linux with TELNET (not part of npm test or CI).
  ESPRUINO_BIN  the interpreter binary (e.g. a build like /work/espruino-local/bin/espruino-esp8266-telnet)
  --label NAME  what to call it in the table (default: the binary's file name)
  --full        build the full firmware (firmware/main.ts) with the defaults, instead of the tiny one they pick
  --no-json     build with jsonCommands false: the tiny firmware at its smallest
  --qos N       build with commandQos and stateQos N (1 or 2: the full firmware), and send every command at QoS N,
                so that the board's acknowledgements both ways run on the real interpreter
  --every-feature  the full firmware with every feature a user can set but TLS, as npm run size's full profile
                (QoS 2 commands, QoS 1 state, a queue of 10, a button on D0, brightness, the error topic, Home
                Assistant discovery), with the check's own broker and no WiFi settings
  --tls         the device on mqtts:// (the full firmware, Espruino's tls module) to a TLS listener of the same
                Mosquitto, with mqttCaFile the CA that signed the broker's certificate (both made for the run); needs
                an interpreter built with TLS, such as the stock Linux build (the ESP8266-shaped ones have none)
  --tls-wrong-ca  the same with a CA that did NOT sign the broker's certificate: says whether the device connected
                anyway (an Espruino that does not verify the broker does), then runs the rest if it did
  --breakdown   once connected, also print the variables each global name holds (E.getSizeOf; a closure's scope is
                counted with every function that shares it); with BREAKDOWN_EXPR set, that expression is also evaluated on
                the board then and its text printed (e.g. E.getSizeOf of one closure's scope)`;

interface Memory {
  usage: number;
  total: number;
  free: number;
  blocksize: number;
}
interface Row {
  stage: string;
  memory: Memory;
  obeyed: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether TCP port `port` can be bound on every address now (the interpreter's telnet server binds it so). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** One telnet connection to the interpreter's REPL, kept open for every reading. */
class Console {
  received = "";
  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => (this.received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
  }

  static async open(port: number): Promise<Console> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    return new Console(socket);
  }

  /** process.memory() (which runs a GC first), read as one line "OUT{...}". */
  async memory(): Promise<Memory> {
    const m = JSON.parse(await this.evaluate("JSON.stringify(process.memory())")) as Memory;
    return { usage: m.usage, total: m.total, free: m.free, blocksize: m.blocksize };
  }

  /** Runs `expression` on the board and returns its text, read as one line "OUT...". \x10 keeps it out of the echo. */
  async evaluate(expression: string): Promise<string> {
    const from = this.received.length;
    this.socket.write(Buffer.from(`\x10console.log("OUT"+(${expression}))\n`, "latin1"));
    const deadline = Date.now() + 5000;
    for (;;) {
      const match = /OUT(.*?)\r?\n/.exec(this.received.slice(from));
      if (match) return match[1]!;
      if (this.socket.destroyed) throw new Error("the telnet connection to the REPL closed");
      if (Date.now() > deadline) throw new Error(`no answer to ${expression} within 5 s; the console said ${JSON.stringify(this.received.slice(from).slice(-400))}`);
      await sleep(10);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Uploads with the same Espruino CLI arguments as `npm run flash` (SAVE_ON_SEND=1), judged the same way. */
async function upload(bundle: string, offlineDir: string): Promise<string[]> {
  const port = `tcp://127.0.0.1:${TELNET_PORT}`;
  const args = espruinoArgs({ port, baud: 115200, bundle, offlineDir });
  const cli = createRequire(import.meta.url).resolve("espruino/bin/espruino-cli.js");
  console.log(`uploading: espruino ${args.join(" ")}`);
  const progress = new UploadProgress(port, () => undefined);
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = "";
    stream.on("data", (chunk: Buffer) => {
      const parts = (pending + chunk.toString("latin1")).split("\n");
      pending = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        progress.line(line);
      }
    });
  }
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
  }, 120_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  const outcome = progress.result(code);
  for (const line of progress.boardLines) console.log(`  board: ${line}`);
  if (!outcome.ok) throw new Error(`upload failed: ${outcome.failure!.problem}\n${lines.slice(-30).join("\n")}`);
  console.log(`uploaded (${outcome.board ?? "board not named"})`);
  return progress.boardLines;
}

/** What Node's own TLS says of the broker's certificate with `caFile` as the only CA: "verified" or its error code. */
function nodeVerdict(port: number, caFile: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca: readFileSync(caFile) }, () => {
      socket.destroy();
      resolve("verified");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** The distinct lines of a console's text (escape sequences, prompts and our readings' OUT lines removed), with counts. */
function consoleLines(text: string): Map<string, number> {
  const said = new Map<string, number>();
  for (const raw of text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split(/\r?\n/)) {
    const line = raw.replace(/\r/g, "").replace(/^>+/, "").trim();
    if (line && !line.startsWith("OUT")) said.set(line, (said.get(line) ?? 0) + 1);
  }
  return said;
}

/** Waits until `test` holds, polling; false after `ms`. */
async function until(test: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

async function main(): Promise<number> {
  let label: string | undefined;
  let breakdown = false;
  let full = false;
  let noJson = false;
  let everyFeature = false;
  let qos: 0 | 1 | 2 = 0;
  let tls: "" | "right CA" | "wrong CA" = "";
  try {
    const { values } = parseArgs({ options: { label: { type: "string" }, breakdown: { type: "boolean" }, full: { type: "boolean" }, "no-json": { type: "boolean" }, qos: { type: "string" }, tls: { type: "boolean" }, "tls-wrong-ca": { type: "boolean" }, "every-feature": { type: "boolean" }, help: { type: "boolean" } } });
    breakdown = values.breakdown ?? false;
    full = values.full ?? false;
    noJson = values["no-json"] ?? false;
    everyFeature = values["every-feature"] ?? false;
    if (everyFeature && (noJson || values.qos !== undefined)) throw new Error("--every-feature sets JSON commands and QoS itself: not with --no-json or --qos");
    if (values.qos !== undefined) {
      if (values.qos !== "1" && values.qos !== "2") throw new Error(`--qos takes 1 or 2, not ${JSON.stringify(values.qos)}`);
      qos = Number(values.qos) as 1 | 2;
    }
    if (values.tls && values["tls-wrong-ca"]) throw new Error("--tls and --tls-wrong-ca: one or the other");
    tls = values.tls ? "right CA" : values["tls-wrong-ca"] ? "wrong CA" : "";
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    label = values.label;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.error(`ESPRUINO_BIN is not set: this check needs an Espruino interpreter built locally for Linux (with TELNET).\n${USAGE}`);
    return 2;
  }
  try {
    if (!statSync(bin).isFile()) throw new Error("not a file");
    accessSync(bin, constants.X_OK);
  } catch (error) {
    console.error(`ESPRUINO_BIN=${bin} is not an executable file (${(error as Error).message}): build Espruino for Linux locally first.\n${USAGE}`);
    return 2;
  }
  label ??= basename(bin);
  if (!(await portFree(TELNET_PORT))) {
    console.error(`TCP port ${TELNET_PORT} is taken (another interpreter, a simulated board with --repl ${TELNET_PORT}?): the interpreter's telnet REPL needs it. Free it and run again.`);
    return 1;
  }

  const temps: string[] = [];
  let broker: Awaited<ReturnType<typeof startMosquitto>> | null = null;
  let interpreter: ChildProcess | null = null;
  let repl: Console | null = null;
  let observer: MqttClient | null = null;
  let output = "";
  const cleanup = async () => {
    repl?.close();
    if (observer) await observer.endAsync(true).catch(() => undefined);
    if (interpreter && interpreter.exitCode === null && interpreter.signalCode === null) {
      const exited = new Promise((resolve) => interpreter!.once("exit", resolve));
      process.kill(interpreter.pid!, "SIGKILL"); // SIGTERM only interrupts its JavaScript
      await exited;
    }
    if (broker) await broker.stop();
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const rows: Row[] = [];
  try {
    // 1. The broker, and the bundle built for it. With TLS: a CA, the broker's certificate signed by it and, for the
    // wrong-CA run, a second CA for the device; Mosquitto gets a TLS listener for the device besides its plain one.
    const config = ["set_tcp_nodelay true"];
    let tlsPort = 0;
    let caFile: string | undefined;
    if (tls) {
      const certDir = mkdtempSync(join(tmpdir(), "espcheck-certs-"));
      temps.push(certDir);
      chmodSync(certDir, 0o755); // Mosquitto, started as root, reads the certificates as the user mosquitto.
      const ca = makeCa(certDir, "espcheck-ca");
      const server = makeCert(certDir, "broker", ca, "server");
      caFile = tls === "right CA" ? ca.cert : makeCa(certDir, "espcheck-other-ca").cert;
      tlsPort = await freePort();
      config.push(`listener ${tlsPort} 127.0.0.1`, ...tlsListener(ca, server));
    }
    broker = await startMosquitto(config);
    const deviceUrl = tls ? `mqtts://127.0.0.1:${tlsPort}` : broker.url;
    console.log(`mosquitto (pid ${broker.pid}) on ${broker.url}${tls ? `, TLS listener for the device on ${deviceUrl}` : ""}`);
    if (tls) {
      await waitForPort(tlsPort, "mosquitto's TLS listener");
      console.log(`the device's CA (${tls}), checked by Node's TLS against the broker's certificate: ${await nodeVerdict(tlsPort, caFile!)}`);
    }
    const buildDir = mkdtempSync(join(tmpdir(), "espcheck-build-"));
    temps.push(buildDir);
    const bundle = join(buildDir, "firmware.js");
    const overrides = { mqttUrl: deviceUrl, clientId: "espcheck", ...(caFile ? { mqttCaFile: caFile } : {}), ...(noJson ? { jsonCommands: false } : {}), ...(qos ? { commandQos: qos, stateQos: qos } : {}), ...(everyFeature ? EVERY_FEATURE : {}) };
    const built = await buildFirmware({ outfile: bundle, env: {}, configFile: null, overrides, entry: full ? "firmware/main.ts" : undefined });
    console.log(`bundle: ${readFileSync(bundle).length} bytes from ${built.entry} (clientId espcheck${tls ? `, ${deviceUrl} with mqttCaFile the ${tls}` : ""}${noJson ? ", jsonCommands false" : ""}${qos ? `, commandQos and stateQos ${qos}` : ""}${everyFeature ? `, ${JSON.stringify(EVERY_FEATURE)}` : ""}, defaults otherwise)`);

    // The observer: sees the device come online and every state report it publishes.
    const states: string[] = [];
    let availability = "";
    let wentOffline = 0;
    observer = await mqtt.connectAsync(broker.url, { clientId: "espcheck-observer", reconnectPeriod: 0 });
    observer.on("message", (topic, payload) => {
      if (topic === "led/state") states.push(payload.toString());
      if (topic === "led/availability") {
        availability = payload.toString();
        if (availability === "offline") wentOffline++;
      }
    });
    await observer.subscribeAsync(["led/state", "led/availability"], { qos });

    // 2. The interpreter, in an empty folder, stdin an idle pipe (at EOF it reads junk); then the upload.
    const workDir = mkdtempSync(join(tmpdir(), "espcheck-run-"));
    temps.push(workDir);
    const offlineDir = mkdtempSync(join(tmpdir(), "espruino-offline-"));
    temps.push(offlineDir);
    interpreter = spawn(bin, ["--telnet"], { cwd: workDir, stdio: ["pipe", "pipe", "pipe"] });
    interpreter.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    interpreter.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    interpreter.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") console.error(`the interpreter exited (${code ?? signal}); its output ended: ${JSON.stringify(output.slice(-400))}`);
    });
    console.log(`interpreter ${bin} (pid ${interpreter.pid}) --telnet in ${workDir}`);
    const child = interpreter;
    await waitForPort(TELNET_PORT, "the interpreter's telnet REPL", () => (child.exitCode !== null ? `the interpreter exited with ${child.exitCode}` : null));
    // The empty interpreter with its telnet console attached: what the console itself costs, to subtract.
    const empty = await Console.open(TELNET_PORT);
    await sleep(200);
    rows.push({ stage: "empty interpreter, telnet console only", memory: await empty.memory(), obeyed: "" });
    empty.close();
    await sleep(200);
    const uploadLines = await upload(bundle, offlineDir);

    // 3. Memory, over one telnet connection kept to the end.
    repl = await Console.open(TELNET_PORT);
    await sleep(200);
    const onlineAtStart = availability === "online";
    rows.push({ stage: `after upload and boot${onlineAtStart ? " (already online)" : ""}`, memory: await repl.memory(), obeyed: "" });

    const online = await until(() => availability === "online", 15_000);
    if (tls) {
      // Whatever the device said so far, wherever its console was (the upload's connection, the interpreter's own
      // output, the REPL's connection).
      const said = [...consoleLines([...uploadLines, output, repl.received].join("\n")).keys()];
      const noTls = said.find((line) => /no tls module/.test(line));
      if (noTls) throw new Error(`this interpreter has no tls module (require("tls") failed on the device, which said: ${JSON.stringify(noTls)}): --tls needs an Espruino built with TLS, such as the stock Linux build; the ESP8266-shaped builds have none`);
      const tlsSaid = said.filter((line) => /TLS|MQTT|handshake|SSL/i.test(line));
      if (tls === "wrong CA") {
        console.log(online
          ? `WRONG CA: the device CONNECTED anyway (led/availability online over ${deviceUrl}): this Espruino did not verify the broker's certificate against its CA`
          : `WRONG CA: the device did NOT connect within 15 s: this Espruino refused the broker's certificate (it verifies)`);
      }
      if (tlsSaid.length) console.log(`the device's console about TLS and MQTT so far:\n${tlsSaid.map((line) => `  ${line}`).join("\n")}`);
      if (!online && tls === "wrong CA") return 0;
    }
    if (!online) throw new Error("the device never published led/availability online");
    await until(() => states.length > 0, 5000);
    await sleep(500);
    rows.push({ stage: "connected (led/availability online)", memory: await repl.memory(), obeyed: "" });
    if (breakdown) {
      // Each global and the vars it holds, biggest first; built-in objects Espruino keeps there are listed too.
      const sizes = await repl.evaluate('JSON.stringify(E.getSizeOf(global,1).map(function(e){return [e.name,e.size]}))');
      const entries = (JSON.parse(sizes) as Array<[string, number]>).sort((a, b) => b[1] - a[1]);
      console.log("vars held by each global name, once connected (a shared closure scope is counted in each function):");
      for (const [name, size] of entries) console.log(`  ${JSON.stringify(name)}: ${size}`);
      const extra = process.env.BREAKDOWN_EXPR;
      if (extra) console.log(await repl.evaluate(extra));
    }

    // 1,000 commands one at a time, alternating on/off, each waiting for its state report.
    let obeyed = 0;
    let misses = 0;
    let started = Date.now();
    for (let i = 0; i < COMMANDS && misses < 3; i++) {
      const command = i % 2 === 0 ? "on" : "off";
      const before = states.length;
      observer.publish("led", command, { qos });
      if (await until(() => states.length > before && states[states.length - 1] === command, 5000)) {
        obeyed++;
        misses = 0;
      } else misses++;
    }
    const serialSeconds = (Date.now() - started) / 1000;
    console.log(`one at a time: ${obeyed}/${COMMANDS} obeyed in ${serialSeconds.toFixed(1)} s`);
    rows.push({ stage: `after ${COMMANDS} commands, one at a time`, memory: await repl.memory(), obeyed: `${obeyed}/${COMMANDS}` });

    // 1,000 commands back to back: off, on, ... on; the LED must end on. The Linux build's GPIO cannot be read back,
    // so the board counts its own LED writes: digitalWrite (analogWrite with brightness, --every-feature), which the
    // firmware calls by its global name once per command, is wrapped for the burst (this costs the board a few vars of
    // its own) and unwrapped after it.
    const write = everyFeature ? "analogWrite" : "digitalWrite";
    await repl.evaluate(`(global.ledWrites=0,global.realWrite=${write},global.${write}=function(p,v){ledWrites++;realWrite(p,v)},"counting")`);
    const before = states.length;
    started = Date.now();
    // Once a second through the burst, the board's LED writes and its memory (process.memory() collects garbage
    // first, so this is what the board holds then): the REPL's only reader until the burst is over.
    let writes = 0;
    let peak: Memory | undefined;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const [count, m] = JSON.parse(await repl.evaluate("JSON.stringify([ledWrites,process.memory()])")) as [number, Memory];
        writes = count;
        if (!peak || m.usage > peak.usage) peak = { usage: m.usage, total: m.total, free: m.free, blocksize: m.blocksize };
        await sleep(1000);
      }
    })();
    if (!qos) {
      for (let i = 0; i < COMMANDS; i++) observer.publish("led", i % 2 === 0 ? "off" : "on", { qos });
    } else {
      // At QoS 1 and 2, 20 at a time, each 20 sent once the last 20 are acknowledged: Mosquitto (2.0.11) takes at
      // most 20 unacknowledged QoS 2 messages from a 3.1.1 publisher (max_inflight_messages) and drops the rest. It
      // still sends the board up to 20 at once.
      for (let i = 0; i < COMMANDS; i += 20) {
        const batch: Array<Promise<unknown>> = [];
        for (let k = i; k < Math.min(i + 20, COMMANDS); k++) batch.push(observer.publishAsync("led", k % 2 === 0 ? "off" : "on", { qos }));
        await Promise.all(batch);
      }
    }
    // Until neither a report nor an LED write has come for 5 s (at QoS 1 and 2 the broker holds back what the board
    // has not acknowledged, and the reports can lag the commands).
    let seen = `${before}/0`;
    let quietSince = Date.now();
    while (Date.now() - quietSince < 5000) {
      const progress = `${states.length}/${writes}`;
      if (progress !== seen) {
        seen = progress;
        quietSince = Date.now();
      }
      await sleep(20);
    }
    polling = false;
    await poller;
    const reports = states.length - before;
    const burstSeconds = (Date.now() - started) / 1000;
    const applied = Number(await repl.evaluate("ledWrites"));
    if (peak) rows.push({ stage: "highest read during the burst (once a second)", memory: peak, obeyed: "" });
    await repl.evaluate(`(global.${write}=realWrite,delete global.realWrite,delete global.ledWrites,"restored")`);
    const lastReport = states[states.length - 1];
    // The Linux build's GPIO is not readable here (sysfs), so the LED's state is the one the device reports: the
    // retained led/state, read by a fresh subscription.
    const reader = await mqtt.connectAsync(broker.url, { clientId: "espcheck-reader", reconnectPeriod: 0 });
    let retained: string | undefined;
    reader.on("message", (topic, payload) => {
      if (topic === "led/state") retained = payload.toString();
    });
    await reader.subscribeAsync("led/state", { qos: 0 });
    await until(() => retained !== undefined, 3000);
    await reader.endAsync(true);
    const endsRight = lastReport === "on" && retained === "on";
    console.log(`back to back: ${applied}/${COMMANDS} applied to the LED, ${reports} state reports (one per burst read together) in ${burstSeconds.toFixed(1)} s; last report ${lastReport}, retained led/state ${retained} (expected on)`);
    rows.push({
      stage: `after ${COMMANDS} commands, back to back`,
      memory: await repl.memory(),
      obeyed:
        `${applied}/${COMMANDS} applied, ${reports} reports, ends ${retained ?? "?"}` +
        (wentOffline ? " (went offline mid-burst)" : endsRight ? " (right)" : " (WRONG: expected on)"),
    });

    // No growth over time.
    rows.push({ stage: "idle, +0 s", memory: await repl.memory(), obeyed: "" });
    await sleep(5000);
    rows.push({ stage: "idle, +5 s", memory: await repl.memory(), obeyed: "" });
    if (wentOffline) console.log(`note: the device was reported offline ${wentOffline} time(s) during the run`);
    if (/OUT OF MEMORY|LOW_MEMORY/i.test(output + repl.received)) console.log("note: the interpreter printed OUT OF MEMORY / LOW_MEMORY");
    console.log(`availability at the end: ${availability}`);
    // What the device printed on its console (the telnet connection) besides our readings, repeats counted.
    const said = consoleLines(repl.received);
    if (said.size) console.log("the device's console during the run:");
    for (const [text, count] of [...said].slice(0, 25)) console.log(`  ${text}${count > 1 ? ` (x${count})` : ""}`);

    // 4. The table.
    console.log(`\n${label}${tls ? ` (mqtts://, ${tls})` : ""}: process.memory() over the telnet REPL (one connection; its console costs the vars of the first row)`);
    const header = ["stage", "usage (vars)", "total", "blocksize", "commands obeyed"];
    const body = rows.map((r) => [r.stage, String(r.memory.usage), String(r.memory.total), String(r.memory.blocksize), r.obeyed]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
    const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
    console.log(line(header));
    console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
    for (const row of body) console.log(line(row));
    const ok = obeyed === COMMANDS && endsRight && applied === COMMANDS && wentOffline === 0 && !/OUT OF MEMORY|LOW_MEMORY/i.test(output + repl.received);
    if (!ok) console.log("\nNOT all commands were shown obeyed, or the device failed on the way: see the notes above");
    return ok ? 0 : 1;
  } catch (error) {
    console.error(`espruino-check failed: ${error instanceof Error ? error.message : String(error)}`);
    if (output) console.error(`interpreter output (last 600 chars): ${JSON.stringify(output.slice(-600))}`);
    return 1;
  } finally {
    await cleanup();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

process.exitCode = await main();
