// The LED on the base topic: obeys on/off/toggle (and 1/0), reports its state retained on <base>/state and the
// device's availability on <base>/availability. Anything else on the topic is refused and reported, never acted on.

export const enum Command {
  Invalid = -1,
  Off = 0,
  On = 1,
  Toggle = 2,
}

/** The longest payload worth reading as a command: longer ones are refused without copying them. */
const LONGEST_COMMAND = 8;

/** Case-insensitive, surrounding white space ignored. */
export function parseCommand(payload: string): Command {
  if (payload.length > LONGEST_COMMAND) return Command.Invalid;
  const word = payload.trim().toLowerCase();
  if (word == "on" || word == "1") return Command.On;
  if (word == "off" || word == "0") return Command.Off;
  if (word == "toggle") return Command.Toggle;
  return Command.Invalid;
}

export interface LedAppOptions {
  baseTopic: string;
  setLed(on: boolean): void;
  publish(topic: string, payload: string, retain: boolean): void;
  log(message: string): void;
}

export interface LedApp {
  /** The Will that marks the device offline when it vanishes without a DISCONNECT. */
  will: { topic: string; payload: string; qos: number; retain: boolean };
  /** Call after every accepted (re)connect. */
  connected(): void;
  /** A message on the command topic (the subscription's handler). */
  message(topic: string, payload: string): void;
  /** A toggle from the board itself (its button). */
  toggle(): void;
}

export function createLedApp(options: LedAppOptions): LedApp {
  const stateTopic = options.baseTopic + "/state";
  const availabilityTopic = options.baseTopic + "/availability";
  let isOn = false;
  options.setLed(false);

  function reportState() {
    options.publish(stateTopic, isOn ? "on" : "off", true);
  }

  function apply(command: Command) {
    isOn = command == Command.Toggle ? !isOn : command == Command.On;
    options.setLed(isOn);
    reportState();
  }

  return {
    will: { topic: availabilityTopic, payload: "offline", qos: 0, retain: true },
    connected: function () {
      options.publish(availabilityTopic, "online", true);
      reportState();
    },
    message: function (topic: string, payload: string) {
      if (topic != options.baseTopic) return;
      const command = parseCommand(payload);
      if (command == Command.Invalid) {
        options.log("refused payload on " + topic + ": " + JSON.stringify(payload.substr(0, 16)) + (payload.length > 16 ? "..." : "") + " (expected on, off, toggle, 1 or 0)");
        return;
      }
      apply(command);
    },
    toggle: function () {
      apply(Command.Toggle);
    },
  };
}
