// The LED app: which payloads are commands, and what the app does with them (LED, retained state, availability).
import { after, before, test, describe } from "node:test";
import assert from "node:assert/strict";
import { Command, createLedApp, NO_STATE, parseCommand, parseJsonCommand, type LedApp } from "../firmware/app/led.ts";
import { PLAIN_ACCEPTED, PLAIN_REFUSED } from "./support/commands.ts";

// led.ts's build-time feature switches (esbuild `define` in a build): off, as in the default build; the JSON and
// brightness tests turn them on for their own duration. The app reads them at each call.
const switches = globalThis as unknown as { LED_JSON: boolean; LED_BRIGHTNESS: boolean };
Object.assign(switches, { LED_JSON: false, LED_BRIGHTNESS: false });

/** A suite whose tests run with these switches on. */
function withSwitches(on: Partial<typeof switches>, define: () => void) {
  describe(`with ${Object.keys(on).filter((key) => on[key as keyof typeof switches]).join(" and ") || "no switches"}`, () => {
    before(() => Object.assign(switches, on));
    after(() => Object.assign(switches, { LED_JSON: false, LED_BRIGHTNESS: false }));
    define();
  });
}

describe("parseCommand", () => {
  for (const [payload, command] of PLAIN_ACCEPTED) {
    test(`accepts ${JSON.stringify(payload)}`, () => {
      assert.equal(parseCommand(payload), command);
    });
  }

  for (const [payload, why] of PLAIN_REFUSED) {
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
    publish: (topic, payload, retain) => published.push([topic, payload, retain]) > 0,
    // Reports at once, as if each command came alone; the coalescing of a burst is tested below with a real queue.
    defer: (report) => report(),
    log: (message) => log.push(message),
  });
  return { app, led, published, log };
}

describe("createLedApp", () => {
  test("a burst of commands costs one state report, with the final state, after the LED followed each one", () => {
    const led: boolean[] = [];
    const published: string[] = [];
    const deferred: Array<() => void> = [];
    const app = createLedApp({
      baseTopic: "led",
      setLed: (on) => led.push(on),
      publish: (topic, payload) => published.push(`${topic}=${payload}`) > 0,
      defer: (report) => deferred.push(report),
      log: () => undefined,
    });
    app.connected();
    for (const command of ["on", "off", "toggle", "toggle", "1"]) app.message("led", command);
    assert.deepEqual(led, [false, true, false, true, false, true], "every command applied, in order");
    assert.deepEqual(published, ["led/availability=online"], "no report while the burst is being read");
    assert.equal(deferred.length, 1, "one report pending for the whole burst");
    deferred.shift()!();
    assert.deepEqual(published, ["led/availability=online", "led/state=on"]);
    app.message("led", "off");
    deferred.shift()!();
    assert.deepEqual(published.slice(2), ["led/state=off"], "the next command gets its own report");
  });

  test("a publish the client refuses (its window full) goes again with the next report, with the state as it is then", () => {
    const published: string[] = [];
    const deferred: Array<() => void> = [];
    const delays: number[] = [];
    /** Topics whose next publish is refused, as main.ts's publish says a refusal. */
    const refuse = new Set<string>();
    const app = createLedApp({
      baseTopic: "led",
      setLed: () => undefined,
      publish: (topic, payload) => !refuse.delete(topic) && published.push(`${topic}=${payload}`) > 0,
      defer: (report, ms) => deferred.push(report) && delays.push(ms),
      log: () => undefined,
    });
    refuse.add("led/availability").add("led/state");
    app.connected();
    assert.deepEqual(published, [], "online refused");
    assert.deepEqual(delays, [0], "the state report follows the connect's burst");
    deferred.shift()!();
    assert.deepEqual(published, ["led/availability=online"], "online again; then the state refused");
    assert.equal(deferred.length, 1, "another report pending");
    assert.deepEqual(delays, [0, 100], "a refused report is tried again after 100 ms, not at once");
    app.message("led", "on");
    assert.equal(deferred.length, 1, "still one report pending for the command too");
    deferred.shift()!();
    assert.deepEqual(published, ["led/availability=online", "led/state=on"], "the state as it is now; online not twice");
    assert.equal(deferred.length, 0, "nothing pending once all went out");
  });

  test("a report refused again and again is tried after 100 ms, doubling to 6.4 s; once one goes out, 100 ms again", () => {
    const deferred: Array<() => void> = [];
    const delays: number[] = [];
    let refusing = true;
    const published: string[] = [];
    const app = createLedApp({
      baseTopic: "led",
      setLed: () => undefined,
      publish: (topic, payload) => !refusing && published.push(`${topic}=${payload}`) > 0,
      defer: (report, ms) => deferred.push(report) && delays.push(ms),
      log: () => undefined,
    });
    app.connected();
    for (let i = 0; i < 9; i++) deferred.shift()!();
    assert.deepEqual(delays, [0, 100, 200, 400, 800, 1600, 3200, 6400, 6400, 6400], "one pending report at a time, backing off");
    assert.deepEqual(published, []);
    refusing = false;
    deferred.shift()!();
    assert.deepEqual(published, ["led/availability=online", "led/state=off"]);
    assert.equal(deferred.length, 0);
    refusing = true;
    app.message("led", "on");
    deferred.shift()!();
    assert.deepEqual(delays.slice(10), [0, 100], "after a report that went out, the first retry is 100 ms again");
  });

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

  test("toggle, as the board's button sends it, flips the LED and reports each state", () => {
    const r = createRecordedApp();
    r.app.message("led", "toggle");
    r.app.message("led", "toggle");
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

  for (const payload of ["blink", "", '{"state":"on"}', "\x00\xff", "x".repeat(500)]) {
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

describe("parseJsonCommand", () => {
  withSwitches({ LED_JSON: true, LED_BRIGHTNESS: true }, () => {
    const accepted: Array<[payload: string, state: number, brightness: number]> = [
      ['{"state":"on"}', Command.On, -1],
      ['{"state":"OFF"}', Command.Off, -1],
      ['{"state":"Toggle"}', Command.Toggle, -1],
      ['{"state":"1"}', Command.On, -1],
      [' {\n  "state" : "on" \t}\r\n', Command.On, -1],
      ['{"brightness":128}', NO_STATE, 128],
      ['{"brightness":0}', NO_STATE, 0],
      ['{"brightness":255}', NO_STATE, 255],
      ['{"state":"ON","brightness":128}', Command.On, 128],
      ['{"brightness":7,"state":"off"}', Command.Off, 7],
      ['{"state":"ON","transition":2.5}', Command.On, -1],
      ['{"state":"ON","brightness":200,"transition":0}', Command.On, 200],
      ['{"state":"on","state":"off"}', Command.Off, -1],
      ['{ "state" : "off" , "transition" : 10 }', Command.Off, -1],
      ['{"state":"on","transition":2.50}', Command.On, -1],
    ];
    for (const [payload, state, brightness] of accepted) {
      test(`accepts ${payload.trim()}`, () => {
        assert.deepEqual(parseJsonCommand(payload), [state, brightness]);
      });
    }

    const refused: Array<[payload: string, why: string]> = [
      ["", "empty"],
      ["{}", "no state, no brightness"],
      ["[1,]", "an array with a trailing comma (Espruino's JSON.parse takes it)"],
      ['{"a":1}x', "trailing garbage (Espruino's JSON.parse takes it)"],
      ['{"state":"on"}x', "trailing garbage after a good command"],
      ['{"state":"on"}{}', "two objects"],
      ['{"state":"on",}', "a trailing comma"],
      ['{"state":"on"', "no closing brace"],
      ['{state:"on"}', "an unquoted key"],
      ["{'state':'on'}", "single quotes"],
      ['{"state":on}', "an unquoted value"],
      ['{"state":"blink"}', "an unknown state"],
      ['{"state":" on"}', "white space inside the string"],
      ['{"state":"o\\u006e"}', "an escape inside the string"],
      ['{"state":1}', "a number for state"],
      ['{"state":true}', "a boolean for state"],
      ['{"state":null}', "null"],
      ['{"state":{"on":1}}', "a nested object"],
      ['{"State":"on"}', "keys are case-sensitive"],
      ['{"color":"red"}', "an unknown key"],
      ['{"state":"on","flash":"short"}', "an unknown key next to a good one"],
      ['{"brightness":256}', "brightness over 255"],
      ['{"brightness":-1}', "a negative brightness"],
      ['{"brightness":12.5}', "a fractional brightness"],
      ['{"brightness":"128"}', "brightness as a string"],
      ['{"brightness":0128}', "a leading zero"],
      ['{"brightness":1e2}', "an exponent"],
      ['{"transition":2}', "a transition alone"],
      ['{"state":"on","transition":"slow"}', "a transition that is no number"],
      ['{"state":"on","transition":1.}', "a number ending in a point"],
      ['{"state":"on" "brightness":1}', "a missing comma"],
      ['{"state"::"on"}', "two colons"],
      ['{"state":"on",,"transition":1}', "two commas"],
      ['{,"state":"on"}', "a comma first"],
      ['{{"state":"on"}}', "an object in an object"],
      ['{"state":"on"}}', "a second closing brace"],
      ['{"st ate":"on"}', "white space inside a key"],
      ['{"state":"o n"}', "white space inside a value"],
      ['{"state":"on","transition":1 0}', "white space inside a number"],
      ['{"state":"on","transition":01}', "a number with a leading zero"],
      ['{"state":"on","transition":.5}', "a number starting with a point"],
      ["\xff\xfe{}", "binary bytes"],
      ['{"state":"on"}' + " ".repeat(80), "too long, even if only white space"],
    ];
    for (const [payload, why] of refused) {
      test(`refuses ${JSON.stringify(payload.length > 40 ? payload.slice(0, 40) + "..." : payload)} (${why})`, () => {
        assert.equal(parseJsonCommand(payload), null);
      });
    }
  });

  withSwitches({ LED_JSON: true, LED_BRIGHTNESS: false }, () => {
    test("without brightness configured, a brightness is refused", () => {
      assert.equal(parseJsonCommand('{"brightness":128}'), null);
      assert.equal(parseJsonCommand('{"state":"on","brightness":128}'), null);
      assert.deepEqual(parseJsonCommand('{"state":"on"}'), [Command.On, -1]);
    });
  });
});

interface Dimmed extends Recorded {
  /** Every setLed() call with its level. */
  levels: Array<[on: boolean, level: number | undefined]>;
}

function createDimmedApp(): Dimmed {
  const levels: Dimmed["levels"] = [];
  const led: boolean[] = [];
  const published: Recorded["published"] = [];
  const log: string[] = [];
  const app = createLedApp({
    baseTopic: "led",
    setLed: (on, level) => {
      led.push(on);
      levels.push([on, level]);
    },
    publish: (topic, payload, retain) => published.push([topic, payload, retain]) > 0,
    defer: (report) => report(),
    log: (message) => log.push(message),
  });
  return { app, led, published, log, levels };
}

describe("createLedApp with JSON commands", () => {
  withSwitches({ LED_JSON: true, LED_BRIGHTNESS: false }, () => {
    test('{"state":"on"} and {"state":"toggle"} switch the LED and report on/off', () => {
      const r = createRecordedApp();
      r.app.message("led", '{"state":"on"}');
      r.app.message("led", '{"state":"TOGGLE"}');
      assert.deepEqual(r.led, [false, true, false]);
      assert.deepEqual(r.published, [
        ["led/state", "on", true],
        ["led/state", "off", true],
      ]);
    });

    for (const payload of ['{"state":"on"}x', "[1,]", '{"brightness":9}', "x".repeat(100)]) {
      test(`refuses ${JSON.stringify(payload.slice(0, 16))}, naming JSON among what is expected`, () => {
        const r = createRecordedApp();
        r.app.message("led", payload);
        assert.deepEqual(r.led, [false]);
        assert.deepEqual(r.published, []);
        assert.equal(r.log.length, 1);
        assert.match(r.log[0]!, /^refused .* on led \(expected on\/off\/toggle\/1\/0\/true\/false or JSON \{"state":"on"\}\)$/);
      });
    }
  });
});

describe("createLedApp with brightness", () => {
  withSwitches({ LED_JSON: true, LED_BRIGHTNESS: true }, () => {
    test("brightness dims the LED, switches it on, and is reported as JSON on <base>/state/json besides on/off", () => {
      const r = createDimmedApp();
      r.app.message("led", '{"brightness":128}');
      assert.deepEqual(r.levels.at(-1), [true, 128]);
      assert.deepEqual(r.published, [
        ["led/state", "on", true],
        ["led/state/json", '{"state":"ON","brightness":128}', true],
      ]);
    });

    test("off keeps the brightness, and on (plain or JSON) brings it back", () => {
      const r = createDimmedApp();
      r.app.message("led", '{"state":"on","brightness":40}');
      r.app.message("led", "off");
      r.app.message("led", "on");
      r.app.message("led", '{"state":"OFF"}');
      r.app.message("led", '{"state":"ON"}');
      assert.deepEqual(r.levels.slice(1), [
        [true, 40],
        [false, 40],
        [true, 40],
        [false, 40],
        [true, 40],
      ]);
      assert.equal(r.published.at(-1)![1], '{"state":"ON","brightness":40}');
    });

    test('brightness 0 is off, whatever the state says; {"state":"off","brightness":N} sets N for later', () => {
      const r = createDimmedApp();
      r.app.message("led", '{"state":"on","brightness":0}');
      assert.deepEqual(r.levels.at(-1), [false, 255]);
      r.app.message("led", '{"state":"off","brightness":90}');
      assert.deepEqual(r.levels.at(-1), [false, 90]);
      r.app.message("led", "toggle");
      assert.deepEqual(r.levels.at(-1), [true, 90]);
    });

    test("connected() reports both states; a new app starts at full brightness", () => {
      createDimmedApp().app.message("led", '{"brightness":3}');
      const r = createDimmedApp();
      r.app.connected();
      assert.deepEqual(r.published, [
        ["led/availability", "online", true],
        ["led/state", "off", true],
        ["led/state/json", '{"state":"OFF","brightness":255}', true],
      ]);
    });

    for (const payload of ['{"brightness":256}', '{"brightness":-5}', '{"brightness":1.5}', '{"brightness":"9"}']) {
      test(`refuses ${payload}: no LED change, nothing published`, () => {
        const r = createDimmedApp();
        r.app.message("led", payload);
        assert.deepEqual(r.levels, [[false, undefined]]);
        assert.deepEqual(r.published, []);
        assert.match(r.log[0]!, /or JSON \{"state":"on","brightness":0-255\}\)$/);
      });
    }
  });
});
