// The LED app: which payloads are commands, and what the app does with them (LED, retained state, availability).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Command, createLedApp, parseCommand, type LedApp } from "../firmware/app/led.ts";

describe("parseCommand", () => {
  const accepted: Array<[payload: string, command: Command]> = [
    ["on", Command.On],
    ["ON", Command.On],
    ["oN", Command.On],
    [" on ", Command.On],
    ["\ton\r\n", Command.On],
    ["off", Command.Off],
    ["OFF", Command.Off],
    ["Off", Command.Off],
    ["  off\n", Command.Off],
    ["toggle", Command.Toggle],
    ["TOGGLE", Command.Toggle],
    ["ToGgLe", Command.Toggle],
    [" toggle ", Command.Toggle],
    ["toggle\r\n", Command.Toggle],
    ["1", Command.On],
    [" 1\n", Command.On],
    ["0", Command.Off],
    ["\t0 ", Command.Off],
  ];
  for (const [payload, command] of accepted) {
    test(`accepts ${JSON.stringify(payload)}`, () => {
      assert.equal(parseCommand(payload), command);
    });
  }

  const refused: Array<[payload: string, why: string]> = [
    ["", "empty"],
    ["   ", "white space only"],
    ["onn", "a near miss"],
    ["of", "a prefix"],
    ["2", "another digit"],
    ["01", "a number that is not 0 or 1"],
    ["ON!", "trailing punctuation"],
    ["o n", "white space inside"],
    ["toggle on", "two words"],
    ["offoffoff", "9 characters"],
    ["   on    ", "9 characters, even if it trims to a command"],
    ["x".repeat(1000), "a long payload"],
    ["\x00on", "a NUL byte before the command"],
    ["on\x00", "a NUL byte after the command"],
    ["\xff\xfe", "binary bytes"],
    ["true", "true/false are not accepted yet"],
    ["false", "true/false are not accepted yet"],
    ['{"state":"on"}', "JSON is not accepted yet"],
  ];
  for (const [payload, why] of refused) {
    test(`refuses ${JSON.stringify(payload.length > 20 ? payload.slice(0, 20) + "..." : payload)} (${why})`, () => {
      assert.equal(parseCommand(payload), Command.Invalid);
    });
  }
});

interface Recorded {
  app: LedApp;
  /** Every setLed() call, in order. */
  led: boolean[];
  published: Array<[topic: string, payload: string, retain: boolean]>;
  log: string[];
}

function createRecordedApp(baseTopic = "led"): Recorded {
  const led: boolean[] = [];
  const published: Recorded["published"] = [];
  const log: string[] = [];
  const app = createLedApp({
    baseTopic,
    setLed: (on) => led.push(on),
    publish: (topic, payload, retain) => published.push([topic, payload, retain]),
    log: (message) => log.push(message),
  });
  return { app, led, published, log };
}

describe("createLedApp", () => {
  test("sets the LED off at creation and publishes nothing yet", () => {
    const r = createRecordedApp();
    assert.deepEqual(r.led, [false]);
    assert.deepEqual(r.published, []);
  });

  test("the Will says offline, retained, on <base>/availability", () => {
    assert.deepEqual(createRecordedApp().app.will, {
      topic: "led/availability",
      payload: "offline",
      qos: 0,
      retain: true,
    });
  });

  test("toggle() (the board's button) flips the LED and reports each state, like a toggle command", () => {
    const r = createRecordedApp();
    r.app.toggle();
    r.app.toggle();
    r.app.message("led", "toggle");
    assert.deepEqual(r.led, [false, true, false, true]);
    assert.deepEqual(r.published.map((p) => p[1]), ["on", "off", "on"]);
  });

  test("connected() publishes online retained on <base>/availability, then the state", () => {
    const r = createRecordedApp();
    r.app.connected();
    assert.deepEqual(r.published, [
      ["led/availability", "online", true],
      ["led/state", "off", true],
    ]);
  });

  test("connected() after a command reports the current state", () => {
    const r = createRecordedApp();
    r.app.message("led", "on");
    r.published.length = 0;
    r.app.connected();
    assert.deepEqual(r.published, [
      ["led/availability", "online", true],
      ["led/state", "on", true],
    ]);
  });

  test("on and off set the LED and publish the state retained after each command", () => {
    const r = createRecordedApp();
    r.app.message("led", "on");
    r.app.message("led", "OFF");
    r.app.message("led", " 1 ");
    r.app.message("led", "0");
    assert.deepEqual(r.led, [false, true, false, true, false]);
    assert.deepEqual(r.published, [
      ["led/state", "on", true],
      ["led/state", "off", true],
      ["led/state", "on", true],
      ["led/state", "off", true],
    ]);
    assert.deepEqual(r.log, []);
  });

  test("a command that matches the current state is still applied and reported", () => {
    const r = createRecordedApp();
    r.app.message("led", "off");
    assert.deepEqual(r.led, [false, false]);
    assert.deepEqual(r.published, [["led/state", "off", true]]);
  });

  test("toggle flips the LED each time and reports it", () => {
    const r = createRecordedApp();
    r.app.message("led", "toggle");
    r.app.message("led", "Toggle");
    r.app.message("led", "on");
    r.app.message("led", "toggle");
    assert.deepEqual(r.led, [false, true, false, true, false]);
    assert.deepEqual(
      r.published.map((p) => p[1]),
      ["on", "off", "on", "off"],
    );
  });

  for (const payload of ["blink", "", "true", "\x00\xff", "x".repeat(500)]) {
    test(`refuses ${JSON.stringify(payload.slice(0, 10))}: one log line, no LED change, no publish`, () => {
      const r = createRecordedApp();
      r.app.message("led", "on");
      r.app.message("led", payload);
      assert.deepEqual(r.led, [false, true], "the LED is left on");
      assert.deepEqual(r.published, [["led/state", "on", true]], "nothing published for the refusal");
      assert.equal(r.log.length, 1);
      assert.match(r.log[0]!, /refused/);
    });
  }

  test("the refusal log line quotes a long payload only in part", () => {
    const r = createRecordedApp();
    r.app.message("led", "y".repeat(500));
    assert.equal(r.log.length, 1);
    assert.ok(r.log[0]!.length < 200, r.log[0]);
  });

  test("ignores commands on other topics", () => {
    const r = createRecordedApp();
    for (const topic of ["led/state", "led/availability", "led/set", "LED", "other", ""]) r.app.message(topic, "on");
    assert.deepEqual(r.led, [false]);
    assert.deepEqual(r.published, []);
    assert.deepEqual(r.log, []);
  });

  test('a custom base topic "home/desk" is used for commands, state, availability and the Will', () => {
    const r = createRecordedApp("home/desk");
    assert.equal(r.app.will.topic, "home/desk/availability");
    r.app.message("led", "on"); // the default base topic is just another topic now
    assert.deepEqual(r.led, [false]);
    r.app.message("home/desk", "on");
    r.app.connected();
    assert.deepEqual(r.led, [false, true]);
    assert.deepEqual(r.published, [
      ["home/desk/state", "on", true],
      ["home/desk/availability", "online", true],
      ["home/desk/state", "on", true],
    ]);
  });
});
