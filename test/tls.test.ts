// mqtts:// end to end: the built bundle on a simulated board (host-sim's `tls` module, Node's TLS underneath) against
// Mosquitto with TLS listeners, using a CA and certificates this test makes with openssl. The right CA connects and
// the LED obeys; an unrelated CA is refused, said so on the console and retried with backoff, and nothing is ever
// sent in plain MQTT; a broker that asks for client certificates takes the device's. The settings refuse what the
// device could not use (a missing CA, a wrong file, an encrypted key) without printing secrets.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware } from "../esbuild.config.mjs";
import { ConfigError, loadConfig } from "../scripts/firmware-config.mjs";
import { freePort, startMosquitto } from "./support/brokers.ts";
import { bootBoard, type Board, until } from "./support/board.ts";
import { Phone } from "./support/phone.ts";
import { makeCa, makeCert, tlsListener, type Pem } from "./support/certs.ts";

const dir = mkdtempSync(join(tmpdir(), "tls-test-"));
chmodSync(dir, 0o755); // Mosquitto, started as root, reads the certificates as the user mosquitto.

let ca: Pem;
let otherCa: Pem;
let server: Pem;
let client: Pem;
let broker: Awaited<ReturnType<typeof startMosquitto>>;
/** A second listener on the same broker that asks for a client certificate signed by `ca`. */
let mutualPort: number;
const boards: Board[] = [];
const watchers: Phone[] = [];

before(async () => {
  ca = makeCa(dir, "test-ca");
  otherCa = makeCa(dir, "other-ca");
  server = makeCert(dir, "broker", ca, "server");
  client = makeCert(dir, "device", ca, "client");
  mutualPort = await freePort();
  broker = await startMosquitto([...tlsListener(ca, server), `listener ${mutualPort} 127.0.0.1`, ...tlsListener(ca, server, true)]);
});

after(async () => {
  for (const board of boards) board.sim.powerOff();
  for (const watcher of watchers) await watcher.end();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function boot(overrides: Record<string, unknown>, options = {}): Promise<Board> {
  const board = await bootBoard({ keepalive: 10, ...overrides }, options);
  boards.push(board);
  return board;
}

async function phone(port = broker.port): Promise<Phone> {
  const watcher = await Phone.connect(`mqtts://127.0.0.1:${port}`, ["led/#"], { ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) });
  watchers.push(watcher);
  return watcher;
}

/** The reconnect delays the client reported, in seconds, in order. */
function delays(board: Board): number[] {
  return board.matching(/retry in (\d+\.\d) s/).map((match) => Number(match[1]));
}

describe("mqtts:// against Mosquitto's TLS listener", () => {
  test("with the CA that signed the broker's certificate the device connects over TLS, and the LED obeys", async () => {
    const board = await boot({ mqttUrl: `mqtts://127.0.0.1:${broker.port}`, mqttCaFile: ca.cert, clientId: "tlsgood" });
    assert.doesNotMatch(board.code, /require\("net"\)/, "a TLS build has no plain socket to fall back to");
    await board.line("MQTT connected");
    const watcher = await phone();
    await watcher.waitFor("led/availability", "online");
    const from = watcher.seen.length;
    await watcher.publish("led", "on");
    await until("the LED on", () => board.sim.pinValue("D2") === 1);
    await watcher.waitFor("led/state", "on", from);
    assert.ok(board.sockets.length >= 1);
    for (const socket of board.sockets) assert.ok(socket.secure && socket.handshaken, "every link is TLS, and handshaken");
    assert.deepEqual(board.uncaught, []);
  });

  test("with an unrelated CA the handshake fails: said so on the console, retried with growing delays, never in plain MQTT", async () => {
    const board = await boot({ mqttUrl: `mqtts://127.0.0.1:${broker.port}`, mqttCaFile: otherCa.cert, clientId: "tlsbad" });
    await until("two reconnect delays", () => delays(board).length >= 2, 10_000, () => `; console:\n${board.lines.join("\n")}`);
    // Espruino's interpreter reports the failed handshake itself; the firmware says what it means.
    assert.ok(board.lines.some((line) => /^Uncaught InternalError: TLS handshake with 127\.0\.0\.1:\d+ failed: .*certificate/.test(line)), board.lines.join("\n"));
    assert.ok(board.lines.some((line) => /^TLS: 127\.0\.0\.1:\d+ closed the link before the broker answered: handshake failed\? \(check mqttCaFile/.test(line)), board.lines.join("\n"));
    const [first, second] = delays(board) as [number, number];
    assert.ok(first >= 0.5 && first <= 1 && second >= first && second <= 2, `backoff 1 s then 2 s, with jitter: ${first}, ${second}`);
    assert.ok(!board.lines.some((line) => line.startsWith("MQTT connected")));
    assert.ok(board.sockets.length >= 2);
    for (const socket of board.sockets) {
      assert.ok(socket.secure, "only TLS sockets are opened");
      assert.equal(socket.handshaken, false);
      assert.equal(socket.bytesIn, 0, "nothing came back from the broker");
    }
    // No hot loop: the attempts are spread out by the backoff.
    const times = board.sockets.map((socket) => socket.dialedAt);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 0.45, `attempts ${times.join(", ")} s apart enough`);
  });

  test("a broker that asks for client certificates takes the device's, and refuses a device without one", async () => {
    const withCert = await boot({ mqttUrl: `mqtts://127.0.0.1:${mutualPort}`, mqttCaFile: ca.cert, mqttCertFile: client.cert, mqttKeyFile: client.key, clientId: "tlsmutual" });
    const without = await boot({ mqttUrl: `mqtts://127.0.0.1:${mutualPort}`, mqttCaFile: ca.cert, clientId: "tlsnocert" });
    await withCert.line("MQTT connected");
    const watcher = await phone(mutualPort);
    await watcher.publish("led", "on");
    await until("the LED on", () => withCert.sim.pinValue("D2") === 1);
    await until("a refusal", () => delays(without).length >= 1, 10_000, () => `; console:\n${without.lines.join("\n")}`);
    assert.ok(!without.lines.some((line) => line.startsWith("MQTT connected")));
    const secrets = readFileSync(client.key, "latin1").split("\n")[1]!;
    for (const line of [...withCert.lines, ...without.lines]) assert.ok(!line.includes(secrets.slice(0, 20)), "the key never reaches the console");
  });
});

describe("host-sim's tls module", () => {
  test("with tlsVerify: false it connects whatever the CA, as Espruino 2v29 does (no certificate check)", async () => {
    const board = await boot({ mqttUrl: `mqtts://127.0.0.1:${broker.port}`, mqttCaFile: otherCa.cert, clientId: "tlsnoverify" }, { tlsVerify: false });
    await board.line("MQTT connected");
    assert.ok(board.sockets[0]!.secure);
  });

  test("on a board without tls (the ESP8266's Espruino) the device says so and retries, without a plain link", async () => {
    const board = await boot({ mqttUrl: `mqtts://127.0.0.1:${broker.port}`, mqttCaFile: ca.cert, clientId: "tlsnone" }, { tls: false });
    await board.line(/^MQTT: cannot connect: this Espruino has no tls module \(mqtts:\/\/ needs an ESP32 build\); retry in/);
    assert.equal(board.sockets.length, 0);
  });
});

describe("TLS settings", () => {
  function problems(overrides: Record<string, unknown>): string {
    try {
      loadConfig({ file: null, env: {}, overrides });
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    assert.fail("expected a ConfigError");
  }

  test("the build carries the CA, certificate and key as base64 of their DER bytes, and the mqtts port defaults to 8883", () => {
    const config = loadConfig({ file: null, env: {}, overrides: { mqttUrl: "mqtts://broker.local", mqttCaFile: ca.cert, mqttCertFile: client.cert, mqttKeyFile: client.key } });
    assert.equal(config.mqttTls, true);
    assert.equal(config.mqttPort, 8883);
    const der = execFileSync("openssl", ["x509", "-in", ca.cert, "-outform", "DER"]);
    assert.equal(config.mqttCa, der.toString("base64"));
    assert.equal(typeof config.mqttKey, "string");
    assert.equal(loadConfig({ file: null, env: {} }).mqttTls, undefined);
  });

  test("settings that would leave the link unchecked or make it fail are refused, naming the key and the file", () => {
    assert.match(problems({ mqttUrl: "mqtts://host" }), /mqttCaFile \(env MQTT_CA_FILE.*required with an mqtts:\/\/ broker URL/);
    assert.match(problems({ mqttUrl: "mqtt://host", mqttCaFile: ca.cert }), /mqttCaFile .*set, but mqttUrl is not mqtts:\/\//);
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: join(dir, "nope.pem") }), /mqttCaFile .*nope\.pem" cannot be read \(no such file\)/);
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: dir }), /mqttCaFile .* is not a file/);
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: ca.key }), /mqttCaFile .* holds no PEM certificate/);
    const two = join(dir, "two.pem");
    writeFileSync(two, readFileSync(ca.cert, "utf8") + readFileSync(otherCa.cert, "utf8"));
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: two }), /holds 2 certificates, and the device loads only the first/);
    const broken = join(dir, "broken.pem");
    writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: broken }), /is not a valid PEM certificate/);
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: ca.cert, mqttCertFile: client.cert }), /mqttCertFile .*set, but mqttKeyFile is not/);
    assert.match(problems({ mqttUrl: "mqtts://host", mqttCaFile: ca.cert, mqttCertFile: client.cert, mqttKeyFile: server.key }), /mqttKeyFile .*not the private key of the certificate/);
  });

  test("an encrypted key is refused, and no problem ever prints a key", () => {
    const encrypted = join(dir, "encrypted.key");
    execFileSync("openssl", ["pkey", "-in", client.key, "-out", encrypted, "-aes256", "-passout", "pass:hunter2"]);
    const message = problems({ mqttUrl: "mqtts://host", mqttCaFile: ca.cert, mqttCertFile: client.cert, mqttKeyFile: encrypted });
    assert.match(message, /mqttKeyFile .*is encrypted, and the device has no passphrase/);
    const keyMessage = problems({ mqttUrl: "mqtts://host", mqttCaFile: client.key });
    const body = readFileSync(client.key, "utf8").split("\n").slice(1, -2).join("");
    for (const text of [message, keyMessage]) {
      assert.doesNotMatch(text, /hunter2|PRIVATE KEY-----/);
      assert.ok(!text.includes(body.slice(0, 24)));
    }
  });

  test("the bundle is the same bytes whatever the key's PEM form (PKCS#1 or PKCS#8), and plain builds carry no TLS code", async () => {
    const pkcs1 = join(dir, "device-pkcs1.key");
    execFileSync("openssl", ["pkey", "-in", client.key, "-out", pkcs1, "-traditional"]);
    const build = (key: string) =>
      buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { mqttUrl: "mqtts://127.0.0.1", mqttCaFile: ca.cert, mqttCertFile: client.cert, mqttKeyFile: key } });
    assert.equal((await build(pkcs1)).code, (await build(client.key)).code);
    const plain = (await buildFirmware({ outfile: null, configFile: null, env: {} })).code;
    assert.doesNotMatch(plain, /tls|atob/);
  });
});
