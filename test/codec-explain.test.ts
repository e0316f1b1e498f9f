// The packet explainer (`npm run explain`, host-sim/trace.ts): field by field, the first malformed byte named, and
// in agreement with the device codec on every input (fixed seed; EXPLAIN_SEED overrides it).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { encodeConnect, encodePublishHeader } from "../firmware/mqtt/packet.ts";
import { describePacket, explainStream, formatExplained, parseHex, watchMqtt } from "../host-sim/trace.ts";
import type { SimSocket } from "../host-sim/runtime.ts";

const EXAMPLE = "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 66 65";

function explainCli(args: string[], input?: string) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/explain.ts", ...args], {
    encoding: "utf8",
    ...(input !== undefined ? { input } : {}),
    timeout: 30_000,
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
}

describe("npm run explain", () => {
  test("the issue's CONNECT, byte by byte", () => {
    const { status, out } = explainCli(EXAMPLE.split(" "));
    assert.equal(status, 0, out);
    for (const line of [
      /packet 1 at byte 0: CONNECT, 16 bytes/,
      /^ {2}0 +10 +fixed header: type 1 = CONNECT \(client to broker\), flags 0000/m,
      /^ {2}1 +0e +remaining length: 14$/m,
      /^ {2}2-3 +00 04 +protocol name length: 4$/m,
      /^ {2}4-7 +4d 51 54 54 +protocol name: "MQTT"$/m,
      /^ {2}8 +04 +protocol level: 4 \(MQTT 3\.1\.1\)$/m,
      /^ {2}9 +02 +connect flags: 0000 0010$/m,
      /bit 7 +user name flag: 0/,
      /bit 6 +password flag: 0/,
      /bit 5 +will retain: 0/,
      /bits 4-3 will QoS: 0/,
      /bit 2 +will flag: 0/,
      /bit 1 +clean session: 1/,
      /bit 0 +reserved: 0/,
      /^ {2}10-11 +00 3c +keepalive: 60 s$/m,
      /^ {2}12-13 +00 02 +client id length: 2$/m,
      /^ {2}14-15 +66 65 +client id: "fe"$/m,
      /device codec: encodeConnect writes exactly these bytes/,
    ]) {
      assert.match(out, line);
    }
  });

  test("a malformed packet: the first malformed byte is named, exit status 1", () => {
    const { status, out } = explainCli(["30 03 00 05 74"]);
    assert.equal(status, 1);
    assert.match(out, /MALFORMED at byte 2 \(0x00\): topic length 5 runs past the end of the packet \(1 byte left\) \[DecodeError 4 BadSize\]/);
    assert.match(out, /device codec: decodePacket refuses it: error 4 \(BadSize\)/);
  });

  test("bytes on standard input, several packets, an unfinished one", () => {
    const { status, out } = explainCli([], "20020100 d000 30");
    assert.equal(status, 1);
    assert.match(out, /packet 1 at byte 0: CONNACK/);
    assert.match(out, /session present: 1/);
    assert.match(out, /packet 2 at byte 4: PINGRESP/);
    assert.match(out, /packet 3 at byte 6: PUBLISH, 1 bytes of an unfinished header/);
    assert.match(out, /INCOMPLETE/);
  });

  test("input that is not hex: exit status 2", () => {
    const { status, err } = explainCli(["10", "zz"]);
    assert.equal(status, 2);
    assert.match(err, /not hex: "zz"/);
  });
});

describe("the explainer's forms", () => {
  test("hex in several spellings", () => {
    assert.equal(parseHex("10 0e"), "\x10\x0e");
    assert.equal(parseHex("100E"), "\x10\x0e");
    assert.equal(parseHex("0x10,0x0e"), "\x10\x0e");
    assert.equal(parseHex("10:e"), "\x10\x0e");
    assert.throws(() => parseHex("100"), /odd number/);
  });

  test("the compact form, as --trace prints it", () => {
    assert.equal(describePacket(parseHex(EXAMPLE)), 'CONNECT client-id="fe" keepalive=60 clean (16 bytes)');
    const publish = encodePublishHeader({ topic: "led/state", payload: "on", qos: 1, retain: true, id: 7 }, false) + "on";
    assert.equal(describePacket(publish), 'PUBLISH topic="led/state" payload="on" qos=1 id=7 retain (17 bytes)');
    assert.equal(describePacket(parseHex("20 02 00 04")), "CONNACK code=4 (refused: bad user name or password) (4 bytes)");
    assert.equal(describePacket(parseHex("90 04 00 07 01 80")), "SUBACK id=7 granted=1,failure (6 bytes)");
    assert.equal(
      describePacket(parseHex("30 05 00 03 61 00 62")),
      "PUBLISH MALFORMED at byte 5: topic: U+0000 (a NUL byte): not allowed in a topic (7 bytes)",
    );
    const connect = encodeConnect({ clientId: "led1", keepalive: 30, clean: true, will: { topic: "led/availability", payload: "offline", qos: 1, retain: true }, username: "u", password: "secret" });
    assert.equal(
      describePacket(connect),
      `CONNECT client-id="led1" keepalive=30 clean will=(topic="led/availability" message="offline" qos=1 retain) user="u" password=(6 bytes) (${connect.length} bytes)`,
    );
  });

  test("the simulator's trace describes each packet in and out", () => {
    const socket = new EventEmitter();
    const lines: string[] = [];
    const states: string[] = [];
    watchMqtt(socket as unknown as SimSocket, {
      connection: (state) => states.push(state),
      packet: (direction, text) => lines.push(`${direction} ${text}`),
    });
    const connect = parseHex(EXAMPLE);
    socket.emit("out", Buffer.from(connect.slice(0, 5), "latin1"));
    socket.emit("out", Buffer.from(connect.slice(5) + "\xc0\x00", "latin1"));
    socket.emit("in", Buffer.from("\x20\x02\x00\x00\x30\x07\x00\x03led", "latin1"));
    socket.emit("in", Buffer.from("on", "latin1"));
    socket.emit("closed");
    assert.deepEqual(lines, [
      'out CONNECT client-id="fe" keepalive=60 clean (16 bytes)',
      "out PINGREQ (2 bytes)",
      "in CONNACK code=0 (connection accepted) (4 bytes)",
      'in PUBLISH topic="led" payload="on" (9 bytes)',
    ]);
    assert.deepEqual(states, ["connected", "disconnected"]);
  });

  test("a packet with a 2 MB payload is shown cut, not whole", () => {
    const payload = "x".repeat(2_097_149);
    const big = encodePublishHeader({ topic: "a", payload, qos: 0, retain: false, id: 0 }, false) + payload;
    const text = formatExplained(big);
    assert.ok(text.length < 4000, `${text.length} characters`);
    assert.match(text, /remaining length: 2097152 \(7 bits a byte, low first: 0x1 \+ 0x128 \+ 0x16384 \+ 1x2097152\)/);
  });
});

describe("the explainer agrees with the device codec", () => {
  const seed = Number(process.env.EXPLAIN_SEED ?? 4242);
  let state = seed;
  const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  const int = (n: number) => Math.floor(random() * n);
  const SAMPLES = [
    EXAMPLE,
    "20 02 01 00", "20 02 00 05", "30 07 00 03 6c 65 64 6f 6e", "33 07 00 01 74 00 05 6f 6e", "3d 06 00 01 74 00 01 31",
    "30 0b 00 09 63 61 66 c3 a9 2f e2 82 ac", "40 02 01 02", "50 02 00 07", "62 02 00 07", "70 02 ff ff",
    "90 06 00 07 00 01 02 80", "b0 02 00 09", "d0 00", "c0 00", "e0 00",
    "82 14 01 00 00 03 6c 65 64 00 00 03 61 2f 23 01 00 03 2b 2f 78 02", "a2 07 00 03 00 03 6c 65 64",
    "10 30 00 04 4d 51 54 54 04 ee 01 2c 00 02 69 64 00 10 6c 65 64 2f 61 76 61 69 6c 61 62 69 6c 69 74 79 00 07 6f 66 66 6c 69 6e 65 00 01 75 00 02 70 77",
  ].map(parseHex);
  const EDGE = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xbf, 0xc0, 0xe0, 0xed, 0xf0, 0xf4, 0xff];

  function input(): string {
    if (random() < 0.3) {
      let out = "";
      for (let n = int(40); n > 0; n--) out += String.fromCharCode(random() < 0.3 ? EDGE[int(EDGE.length)]! : int(256));
      return out;
    }
    let out = "";
    for (let n = 1 + int(3); n > 0; n--) out += SAMPLES[int(SAMPLES.length)]!;
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(out.length + 1);
      const byte = String.fromCharCode(random() < 0.5 ? EDGE[int(EDGE.length)]! : int(256));
      const kind = int(3);
      out = kind == 0 ? out.slice(0, at) + byte + out.slice(at + 1) : kind == 1 ? out.slice(0, at) + byte + out.slice(at) : out.slice(0, at) + out.slice(at + 1);
    }
    return out;
  }

  test("on 10,000 random and mutated streams: no exception, no disagreement", () => {
    let malformed = 0;
    let packets = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = input();
      const hex = Buffer.from(bytes, "latin1").toString("hex");
      let explained;
      try {
        explained = explainStream(bytes);
        formatExplained(bytes, explained);
      } catch (error) {
        throw new Error(`the explainer threw on ${hex} (EXPLAIN_SEED=${seed}): ${(error as Error).stack}`);
      }
      for (const p of explained) {
        packets++;
        if (p.error) malformed++;
        assert.equal(p.disagreement, undefined, `${hex} packet at ${p.at}: ${p.disagreement}`);
        if (p.error) assert.ok(p.error.at >= p.at && p.error.at < p.at + Math.max(p.length, 5), `${hex}: error at ${p.error.at}`);
      }
    }
    console.log(`# codec-explain: 10000 inputs, ${packets} packets, ${malformed} malformed, EXPLAIN_SEED=${seed}`);
    assert.ok(malformed > 1000 && packets - malformed > 1000);
  });
});

test("npm run explain is wired in package.json", () => {
  const scripts = JSON.parse(execFileSync("node", ["-e", "process.stdout.write(JSON.stringify(require('./package.json').scripts))"], { encoding: "utf8" }));
  assert.equal(scripts.explain, "tsx scripts/explain.ts");
});
