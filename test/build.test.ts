// The build: settings validated with messages that name the key, secrets never echoed, only firmware/ code in the
// bundle, and nothing in it that Espruino cannot run.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFirmware, hiddenEspruinoGlobals } from "../esbuild.config.mjs";
import { ConfigError, loadConfig } from "../scripts/firmware-config.mjs";

const dir = mkdtempSync(join(tmpdir(), "build-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function configProblems(options: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

function writeConfig(json: unknown): string {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof json === "string" ? json : JSON.stringify(json));
  return file;
}

describe("settings", () => {
  test("defaults: local broker, base topic led, pin D2 active-high, keepalive 60 s", () => {
    const config = loadConfig({ file: null, env: {} });
    assert.deepEqual(config, {
      wifiSsid: undefined,
      wifiPassword: undefined,
      mqttHost: "127.0.0.1",
      mqttPort: 1883,
      mqttUsername: undefined,
      mqttPassword: undefined,
      clientId: undefined,
      cleanSession: true,
      commandQos: 0,
      stateQos: 0,
      offlineQueue: 0,
      buttonPin: undefined,
      keepalive: 60,
      baseTopic: "led",
      ledPin: "D2",
      ledActiveLow: false,
      maxPacketSize: 1024,
      reconnectMaxSeconds: 60,
      mqttTls: undefined,
      mqttCa: undefined,
      mqttCert: undefined,
      mqttKey: undefined,
      jsonCommands: true,
      ledBrightness: false,
      errorTopic: undefined,
      haPrefix: undefined,
      haConfig: undefined,
    });
  });

  test("MQTT_URL carries host, port and credentials; the environment overrides config.json", () => {
    const file = writeConfig({ mqttUrl: "mqtt://10.0.0.1", baseTopic: "desk", ledActiveLow: true });
    const config = loadConfig({ file, env: { MQTT_URL: "mqtt://bob:s%40cret@broker.local:1884", KEEPALIVE: "30" } });
    assert.equal(config.mqttHost, "broker.local");
    assert.equal(config.mqttPort, 1884);
    assert.equal(config.mqttUsername, "bob");
    assert.equal(config.mqttPassword, "s@cret");
    assert.equal(config.keepalive, 30);
    assert.equal(config.baseTopic, "desk");
    assert.equal(config.ledActiveLow, true);
  });

  test("each bad value is named with its key, its variable and what is expected", () => {
    const message = configProblems({
      file: null,
      env: { KEEPALIVE: "ten", CLIENT_ID: "has spaces", BASE_TOPIC: "led/#", LED_ACTIVE_LOW: "maybe", LED_PIN: "2pin" },
    });
    assert.match(message, /keepalive \(env KEEPALIVE.*"ten" is not a whole number from 0 to 65535/);
    assert.match(message, /clientId \(env CLIENT_ID.*"has spaces" is not 1 to 23 letters and digits.*set allowLongClientId/);
    assert.match(message, /baseTopic \(env BASE_TOPIC.*without the wildcards/);
    assert.match(message, /ledActiveLow \(env LED_ACTIVE_LOW.*is not true or false/);
    assert.match(message, /ledPin \(env LED_PIN.*is not a pin name/);
  });

  test("broker URLs: unsupported schemes and bad ports are refused", () => {
    assert.match(configProblems({ file: null, env: { MQTT_URL: "ws://host" } }), /scheme ws:\/\/ is not supported by this firmware yet; use mqtt:\/\/ or mqtts:\/\//);
    assert.match(configProblems({ file: null, env: { MQTT_URL: "mqtts://host" } }), /mqttCaFile .*required with an mqtts:\/\/ broker URL/);
    assert.match(configProblems({ file: null, env: { MQTT_URL: "mqtt://host:0" } }), /the port is not 1 to 65535/);
    assert.match(configProblems({ file: null, env: { MQTT_URL: "not a url" } }), /mqttUrl .* not a URL/);
  });

  test("config.json: unknown keys, invalid JSON and a non-object are refused", () => {
    assert.match(configProblems({ file: writeConfig({ mqttURL: "mqtt://x" }), env: {} }), /unknown key "mqttURL"/);
    assert.match(configProblems({ file: writeConfig("{ nope"), env: {} }), /is not valid JSON/);
    assert.match(configProblems({ file: writeConfig([1]), env: {} }), /must hold one JSON object/);
  });

  test("secrets are never echoed in an error", () => {
    const message = configProblems({ file: writeConfig({ wifiSsid: "home", wifiPassword: 12345678, mqttPassword: "" }), env: {} });
    assert.match(message, /wifiPassword/);
    assert.match(message, /mqttPassword/);
    assert.doesNotMatch(message, /12345678/);
    for (const url of ["mqtt://u:hunter2@h:99999", "ws://u:hunter2@h", "mqtt://u:hunter2@h/path"]) {
      const urlMessage = configProblems({ file: null, env: { MQTT_URL: url } });
      assert.match(urlMessage, /mqttUrl/);
      assert.doesNotMatch(urlMessage, /hunter2/);
    }
  });

  test("a long client id needs allowLongClientId; a button cannot share the LED's pin", () => {
    const id = "device-with-a-rather-long-name";
    assert.match(configProblems({ file: null, env: { CLIENT_ID: id } }), /set allowLongClientId/);
    assert.equal(loadConfig({ file: null, env: { CLIENT_ID: id, ALLOW_LONG_CLIENT_ID: "true" } }).clientId, id);
    assert.match(configProblems({ file: null, env: { BUTTON_PIN: "D2" } }), /buttonPin .*the same pin as ledPin/);
  });

  test("LED options: brightness on an input-only pin, and JSON commands that brightness implies", () => {
    assert.match(configProblems({ file: null, env: { LED_BRIGHTNESS: "true", LED_PIN: "D35" } }), /ledBrightness .*D35 is input-only on the ESP32/);
    assert.equal(loadConfig({ file: null, env: { LED_BRIGHTNESS: "1" } }).jsonCommands, true);
    assert.equal(loadConfig({ file: null, env: { JSON_COMMANDS: "true" } }).ledBrightness, false);
    assert.match(configProblems({ file: null, env: { ERROR_TOPIC: "led/#" } }), /errorTopic \(env ERROR_TOPIC.*without the wildcards/);
  });

  test("the error topic cannot be one of the device's own topics (on the command topic it would loop)", () => {
    assert.match(configProblems({ file: null, env: { ERROR_TOPIC: "led" } }), /errorTopic .*"led" is one of the device's own topics/);
    assert.match(configProblems({ file: null, env: { ERROR_TOPIC: "desk/state", BASE_TOPIC: "desk" } }), /errorTopic/);
    assert.equal(loadConfig({ file: null, env: { ERROR_TOPIC: "led/error" } }).errorTopic, "led/error");
  });

  test("a WiFi password without an SSID is refused", () => {
    assert.match(configProblems({ file: null, env: { WIFI_PASSWORD: "pw" } }), /set, but wifiSsid is not/);
  });
});

describe("the bundle", () => {
  test("non-ASCII settings reach the bundle as UTF-8 byte escapes, and the bundle is ASCII without control bytes", async () => {
    const { code } = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { wifiSsid: "Café", baseTopic: "maison/lumière" } });
    assert.ok(code.includes('"Caf\\xC3\\xA9"'), "SSID as UTF-8 bytes");
    assert.ok(code.includes('"maison/lumi\\xC3\\xA8re"'), "topic as UTF-8 bytes");
    assert.doesNotMatch(code, /[^\x0a\x20-\x7e]/);
    assert.ok(code.includes('"\\0\\x04MQTT\\x04'), "CONNECT's protocol name with escaped control bytes");
    // A client id of 10 bytes puts a newline (its length) in the folded CONNECT: escaped, the bundle is one line.
    const folded = (await buildFirmware({ outfile: null, configFile: null, env: {}, overrides: { clientId: "tinystable", keepalive: 10 } })).code;
    assert.ok(folded.includes("\\0\\ntinystable"), "the client id's field with its length escaped");
    assert.equal(folded.indexOf("\n"), folded.length - 1, "no newline but the last");
  });

  test("settings that are not configured cost no bytes", async () => {
    const build = async (env: Record<string, string>) => (await buildFirmware({ outfile: null, configFile: null, env })).code;
    // The defaults build the tiny firmware, with JSON commands; QoS 1 reports the full one.
    const defaults = await build({});
    assert.match(defaults, /"state"/, "JSON commands are on by default");
    assert.doesNotMatch(await build({ JSON_COMMANDS: "false" }), /"state"/);
    // The tiny firmware's CONNECT holds them as fields, folded into one string by the build.
    assert.match(await build({ MQTT_URL: "mqtt://user:pw@127.0.0.1" }), /\\0\\x04user\\0\\x02pw/);
    const full = await build({ STATE_QOS: "1" });
    for (const code of [defaults, full]) {
      assert.doesNotMatch(code, /CONFIG/);
      // Neither TLS, brightness, an error topic, discovery nor credentials leaves a trace in a build without them.
      assert.doesNotMatch(code, /tls|atob|analogWrite|brightness|homeassistant|\/json|"user"|\\x04user|username="/);
    }
    assert.match(await build({ STATE_QOS: "1", MQTT_URL: "mqtt://user:pw@127.0.0.1" }), /username="user"/);
    const withErrors = await build({ STATE_QOS: "1", ERROR_TOPIC: "led/error" });
    assert.match(withErrors, /"led\/error"/);
    assert.ok(withErrors.length - full.length < 80, `an error topic costs ${withErrors.length - full.length} bytes`);
  });

  async function buildEntry(source: string) {
    const entry = join(dir, `entry-${Math.random().toString(36).slice(2)}.ts`);
    writeFileSync(entry, source);
    return buildFirmware({ outfile: null, configFile: null, env: {}, entry });
  }

  test("a Node built-in in firmware fails the build, naming it", async () => {
    await assert.rejects(buildEntry('import { readFileSync } from "node:fs";\nreadFileSync("x");\n'), /imports "node:fs": firmware may import only files under firmware\//);
  });

  test("an npm package in firmware fails the build, naming it", async () => {
    await assert.rejects(buildEntry('import mqtt from "mqtt";\nmqtt.connect("x");\n'), /imports "mqtt"/);
  });

  test("require() of a module Espruino does not have fails the build", async () => {
    await assert.rejects(buildEntry('declare function require(m: string): any;\nrequire("fs").readFile("x");\n'), /imports "fs"/);
  });

  test("a construct Espruino rejects fails the build, naming it and its place", async () => {
    await assert.rejects(
      buildEntry("function go(n: number, ...rest: number[]) { return n + rest.length; }\nconsole.log(go(1, 2));\n"),
      /rest parameter/,
    );
  });

  test("top-level names that would hide an Espruino global are found", () => {
    assert.deepEqual(hiddenEspruinoGlobals("var D2=1;function E(){}let ok=2;const A0=3;"), ["D2", "E", "A0"]);
  });
});
