// The LED on the base topic: obeys on/off/toggle (and 1/0, true/false), where configured JSON commands and a
// brightness; reports its state retained on <base>/state (with brightness also as JSON on <base>/state/json) and
// the device's availability on <base>/availability. Anything else on the topic is refused and reported, never
// acted on.
// Functions are arrows: shorter than `function`, and the same size on Espruino (E.getSizeOf on the ESP8266-shaped
// interpreter); none reads `this`. As declarations were, each is defined before its first call (Espruino does not
// hoist).

// Feature switches, defined by the build from the config (esbuild `define`), so that a build without JSON commands
// or brightness carries none of their code. Whoever runs this module outside a build defines them as globals (the
// unit tests do, and may change them between tests: they are read at each call).
/** JSON commands are accepted ({"state":"on"}). */
declare const LED_JSON: boolean;
/** The LED is dimmed by PWM: {"brightness":0-255}, and the state as JSON on <base>/state/json. */
declare const LED_BRIGHTNESS: boolean;

/**
 * A state report the client refused (its in-flight window, and any queue, full) is tried again after this long,
 * doubling while it is refused, up to REPORT_RETRY_MAX_MS: a broker that stopped acknowledging is dropped only at the
 * keepalive's deadline, and a client with a queue logs each refusal.
 */
const REPORT_RETRY_MS = 100;
const REPORT_RETRY_MAX_MS = 6400;

export const enum Command {
  Invalid = -1,
  Off = 0,
  On = 1,
  Toggle = 2,
}

/** A JSON command without "state" (brightness only). */
export const NO_STATE = -2;

/** What parseCommand reads: a const enum, so that firmware/tiny.ts can write the same test out where it is alone. */
export const enum PlainCommand {
  /** The longest payload worth reading as a plain command: longer ones are refused without copying them. */
  Longest = 8,
  /**
   * The index modulo 3 is the command (off, on, toggle), and -1 % 3 is -1 (Invalid) for a word not found. "X" is
   * never a lowercased word: it only keeps the count.
   */
  Words = "off on toggle 0 1 X false true",
}
/** The longest JSON command read: {"state":"toggle","brightness":255,"transition":10.5} has 53 chars. */
const LONGEST_JSON = 80;

/** Case-insensitive, surrounding white space ignored. */
export const parseCommand = (payload: string): Command => {
  if (payload.length > PlainCommand.Longest) return Command.Invalid;
  return PlainCommand.Words.split(" ").indexOf(payload.trim().toLowerCase()) % 3;
};

/**
 * Reads a JSON command: one flat object with "state" (a plain command: on, off, toggle... any case), "brightness"
 * (a whole number 0-255, only where LED_BRIGHTNESS) and "transition" (a number, which Home Assistant may send: the
 * LED switches at once), holding "state" or "brightness". Returns [state or NO_STATE, brightness or -1], or null
 * for anything else. Checked here, not by JSON.parse: Espruino's accepts some bad input ('[1,]', '{"a":1}x').
 * Every regular expression below is one Espruino matches rightly: its `|` and `?` on a group are not (on 2v29,
 * /^(0|[1-9]\d*)$/ matched "0128" and /^\d+(\.\d+)?$/ missed "15").
 */
export const parseJsonCommand = (text: string): number[] | null => {
  if (text.length > LONGEST_JSON) return null;
  // JSON has white space only around { } : , and there it goes. Anywhere else ("o n", 1 0) it stays, and is refused.
  const compact = text.trim().replace(/\s*([{}:,])\s*/g, "$1");
  // One flat object: its one "}" ends it. No key or value accepted below holds a brace, comma or colon.
  if (compact[0] != "{" || compact.indexOf("}") != compact.length - 1) return null;
  let state = NO_STATE;
  let brightness = -1;
  const pairs = compact.slice(1, -1).split(",");
  for (let i = 0; i < pairs.length; i++) {
    const pair = (pairs[i] as string).split(":");
    if (pair.length != 2) return null;
    const key = pair[0];
    const value = pair[1] as string;
    // Digits, maybe a point and digits, no leading zero: JSON's numbers, less the negative ones and exponents.
    const isNumber = (/^\d+$/.test(value) || /^\d+\.\d+$/.test(value)) && !/^0\d/.test(value);
    if (key == '"state"' && /^"\w+"$/.test(value)) {
      state = parseCommand(value.slice(1, -1));
      if (state == Command.Invalid) return null;
    } else if (LED_BRIGHTNESS && key == '"brightness"' && isNumber && value.indexOf(".") < 0 && +value <= 255) {
      brightness = +value;
    } else if (key != '"transition"' || !isNumber) {
      return null;
    }
  }
  return state == NO_STATE && brightness < 0 ? null : [state, brightness];
};

export interface LedAppOptions {
  baseTopic: string;
  /** Drives the LED; `level` (1-255, where LED_BRIGHTNESS) is the brightness it has when on. */
  setLed(on: boolean, level?: number): void;
  /**
   * Publishes; says false where the client refused it while connected (QoS 1 or 2 with its in-flight window full, and
   * its queue, where it has one), and the app then tries again.
   */
  publish(topic: string, payload: string, retain: boolean): boolean;
  /**
   * Runs `report` after the commands that arrived together, with no argument (Espruino's setTimeout gives it
   * undefined), so that main.ts passes Espruino's setTimeout as it is. `ms` is 0, or 100 ms up to 6.4 s for a report
   * the client refused. Commands that come in one burst then cost one state report, not one each: on an ESP8266-shaped
   * Espruino, 1,000 commands back to back with a report each ran out of memory (every 9-byte command made a 16-byte
   * report, faster than the socket sent them).
   */
  defer(report: () => void, ms: number): void;
  /** Reports a refused payload (main.ts also publishes it on the error topic, where one is configured). */
  log(message: string): void;
}

export interface LedApp {
  /** The Will that marks the device offline when it vanishes without a DISCONNECT. */
  will: { topic: string; payload: string; qos: number; retain: boolean };
  /** Call after every accepted (re)connect. */
  connected(): void;
  /** A message on the command topic (the subscription's handler); the board's button sends "toggle" here too. */
  message(topic: string, payload: string): void;
}

/**
 * The brightness when on, 1-255, kept while off so that "on" brings back the last one. Module state (a device has
 * one LED app), so that a build without brightness does not carry it.
 */
let level = 255;

export const createLedApp = (options: LedAppOptions): LedApp => {
  const stateTopic = options.baseTopic + "/state";
  const availabilityTopic = options.baseTopic + "/availability";
  // isOn and reportPending start undefined (read as off and none), and the flag is 1 or 0: fewer bytes than false/true.
  let isOn: boolean | undefined;
  /** `online` went out after the last connect (false: refused, and tried again with the next report). */
  let online = true;
  if (LED_BRIGHTNESS) level = 255;
  options.setLed(false);

  let reportPending: number | undefined;
  /** The delay before a refused report is tried again; 0 when the last report went out. */
  let retryMs = 0;

  /**
   * Applies a command (Command.Off, On or Toggle; Command.Invalid changes nothing), then has the state reported once
   * the current burst of commands is done: the last state is the one that counts. Called with no command (as `defer`
   * calls it), it reports. One function for both, as each function object costs the board RAM.
   */
  const apply = (command?: number) => {
    if (command == null) {
      reportPending = 0;
      // Whatever was refused goes again after the events now waiting (acknowledgements among them), with the state as
      // it is then: nothing is left stale on the broker.
      if (
        !(
          (online = online || options.publish(availabilityTopic, "online", true)) &&
          options.publish(stateTopic, isOn ? "on" : "off", true) &&
          !(LED_BRIGHTNESS && !options.publish(stateTopic + "/json", '{"state":"' + (isOn ? "ON" : "OFF") + '","brightness":' + level + "}", true))
        )
      ) {
        // Tried again a little later, not at once: the acknowledgements that make room take a round trip, and an
        // immediate retry would run the board flat out until then. Commands meanwhile join this report.
        reportPending = 1;
        options.defer(apply, (retryMs = retryMs < REPORT_RETRY_MAX_MS ? 2 * retryMs || REPORT_RETRY_MS : retryMs));
      } else retryMs = 0;
      return;
    }
    if (command != Command.Invalid) {
      isOn = command == Command.Toggle ? !isOn : command == Command.On;
      if (LED_BRIGHTNESS) options.setLed(isOn, level);
      else options.setLed(isOn);
    }
    if (reportPending) return;
    reportPending = 1;
    options.defer(apply, 0);
  };

  return {
    will: { topic: availabilityTopic, payload: "offline", qos: 0, retain: true },
    connected: () => {
      online = options.publish(availabilityTopic, "online", true);
      apply(Command.Invalid);
    },
    message: (topic: string, payload: string) => {
      if (topic != options.baseTopic) return;
      const command = parseCommand(payload);
      if (command != Command.Invalid) return apply(command);
      if (LED_JSON) {
        const json = parseJsonCommand(payload);
        if (json) {
          let state = json[0] as number;
          const brightness = json[1] as number;
          // Brightness 0 is off, whatever the state says; any other brightness also switches on, unless told otherwise.
          if (LED_BRIGHTNESS && brightness == 0) state = Command.Off;
          else if (LED_BRIGHTNESS && brightness > 0) {
            level = brightness;
            if (state == NO_STATE) state = Command.On;
          }
          return apply(state);
        }
      }
      // As the tiny firmware says it, with what was expected: refused "<payload, 16 bytes at most>" on <topic> (...).
      options.log(
        "refused " + JSON.stringify(payload.substr(0, 16)) + (payload.length > 16 ? "..." : "") + " on " + topic +
          " (expected on/off/toggle/1/0/true/false" + (LED_JSON ? ' or JSON {"state":"on"' + (LED_BRIGHTNESS ? ',"brightness":0-255}' : "}") : "") + ")",
      );
    },
  };
};
