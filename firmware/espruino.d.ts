// Ambient types for the parts of Espruino's API that the firmware uses (none exist on npm).
// Only what firmware/ really calls is declared here, so the compiler catches anything else.

/** Espruino's module loader: built-in modules such as "net", "tls" and "Wifi". Throws when absent. */
declare function require(moduleName: string): any;

/** Seconds since start, as a float. */
declare function getTime(): number;
/** The board's serial number, e.g. "5ccf7f00-0abc1234". */
declare function getSerial(): string;

/** Without `ms`, as with 0 (seen on the real interpreter). An id is never 0 (from the source). */
declare function setTimeout(callback: () => void, ms?: number): number;
declare function setInterval(callback: () => void, ms: number): number;
/** Called without an id it clears every timer, and with undefined it throws: always pass a real id. */
declare function clearTimeout(id: number): void;
declare function clearInterval(id: number): void;

/** A pin: a Pin object, its name ("D2") or its number. */
type PinLike = any;
declare function digitalWrite(pin: PinLike, value: number | boolean): void;
declare function digitalRead(pin: PinLike): number;
/** PWM: `value` is the duty cycle, 0 to 1. */
declare function analogWrite(pin: PinLike, value: number): void;
declare function pinMode(pin: PinLike, mode: "output" | "input" | "input_pullup" | "opendrain" | "auto"): void;
/** Calls `callback` on the pin's edges; `debounce` in milliseconds. Returns the watch's id. */
declare function setWatch(
  callback: (event: { state: boolean; time: number; lastTime: number }) => void,
  pin: PinLike,
  options: { repeat: boolean; edge: "rising" | "falling" | "both"; debounce?: number },
): number;

declare const console: { log(...values: unknown[]): void };
/** console.log under a shorter name: on Espruino both are jswrap_print. */
declare function print(...values: unknown[]): void;

interface String {
  /** The first char's code, as with 0 (an absent index is 0 in the spec, and on the interpreter). */
  charCodeAt(): number;
}

/** Base64 to a binary string (one char per byte). */
declare function atob(base64: string): string;

interface EspruinoE {
  on(event: "init" | "kill", handler: () => void): void;
  /**
   * Its arguments' bytes as one string: a number is a byte, a string its chars. (Since 2v18 never undefined: before,
   * it made a flat string, or undefined where none could be had.)
   */
  toString(...data: (number | string)[]): string;
}
declare const E: EspruinoE;

/** Every Espruino object has on/emit; emit runs its handlers later, not at once. */
interface EspruinoEmitter {
  on(event: string, handler: (...args: any[]) => void): void;
  removeAllListeners(event?: string): void;
}

interface EspruinoSocket extends EspruinoEmitter {
  /** Takes a binary string; anything else is sent as its toString() text. */
  write(data: string): boolean;
  /** Returns undefined. */
  end(): undefined;
}

interface EspruinoNet {
  /**
   * Returns the socket at once; `onConnect` runs on a later pass, given the socket. A refused connect may throw
   * synchronously. Events: 'data' (a string), 'end' (no argument; always once, before 'close', whatever closed it),
   * 'close' (hadError, a boolean), 'error' (an object with code and message).
   */
  connect(options: { host: string; port: number }, onConnect?: (socket: EspruinoSocket) => void): EspruinoSocket;
}

/**
 * Espruino's `tls` (ESP32 builds; the ESP8266 has none): the same socket as `net`. `ca`, `cert` and `key` are binary
 * strings of DER bytes (a string of 100 chars or less is taken as a file name). A certificate or key that does not
 * parse throws at once; a failed handshake prints an InternalError and closes the socket ('end', 'close').
 */
interface EspruinoTls {
  connect(options: { host: string; port: number; ca?: string; cert?: string; key?: string }, onConnect: (socket: EspruinoSocket) => void): EspruinoSocket;
}

interface EspruinoWifi extends EspruinoEmitter {
  connect(ssid: string, options: { password?: string }, callback: (error: string | null) => void): void;
}
