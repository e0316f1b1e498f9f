// An Espruino runtime for Node: runs dist/firmware.js unchanged in a vm context that provides the parts of
// Espruino's API the firmware uses, with the semantics ../shared/ESPRUINO.md records. Where a board and this
// emulation could differ, it takes the stricter behaviour (see host-sim/README.md).
import { EventEmitter } from "node:events";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as nodeNet from "node:net";
import * as nodeTls from "node:tls";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as vm from "node:vm";
import { assertEspruinoCompatible } from "../scripts/espruino-compat.mjs";

/** Largest chunk one 'data' event carries: 536 bytes on Espruino's Linux build (268 on ESP8266). */
export const DEFAULT_READ_SIZE = 536;
const PIN_COUNT = 40;

/** How a refused connect shows: thrown at once (Espruino on Linux) or as 'error' then 'close' events (ESP8266). */
export type RefusalStyle = "throw" | "event";

export interface SimOptions {
  /** The bundle's source text, run as it is. */
  code: string;
  fileName?: string;
  /** What getSerial() returns. */
  serial?: string;
  /** The Espruino version process.env.VERSION reports (default 2v29, the one emulated): only what the CLI reads. */
  version?: string;
  /** Provide the Wifi module (an ESP board) or not (Espruino's Linux build). */
  wifi?: boolean;
  /** Bytes per 'data' event at most. */
  readSize?: number;
  refusal?: RefusalStyle;
  /** Provide the `tls` module (an ESP32 build; default) or not (the ESP8266's Espruino has none). */
  tls?: boolean;
  /**
   * Check the broker's certificate against the `ca` given to tls.connect, and its name against the host (default).
   * Espruino 2v29 does not (its mbedtls runs with MBEDTLS_SSL_VERIFY_NONE): `false` behaves like that.
   */
  tlsVerify?: boolean;
  /** The board's flash: gives the firmware `require("Storage")` and `E.setBootCode`. None: no Storage module. */
  storage?: SimStorage;
}

export interface PinChange {
  pin: string;
  value: number;
  /** getTime() of the change, in seconds. */
  time: number;
}

/**
 * Events: 'console' (text), 'pin' (PinChange: digital levels), 'pwm' (PinChange: analogWrite duty cycles, 0 to 1),
 * 'socket' (SimSocket), 'uncaught' (error text).
 */
export class EspruinoSim extends EventEmitter {
  readonly pins = new Map<string, number>();
  /** The last duty cycle analogWrite() set on each pin, 0 to 1. */
  readonly pwm = new Map<string, number>();
  readonly pinModes = new Map<string, string>();
  /** Byte-level taps on every socket the firmware opens, for tracing and for tests. */
  readonly sockets = new Set<SimSocket>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly context: vm.Context;
  /** The sandbox's own Error, so that errors the sim throws are `instanceof Error` inside it, as on Espruino. */
  private contextError: ErrorConstructor = Error;
  private readonly started = performance.now();
  private readonly eHandlers: Record<string, Array<() => void>> = {};
  private wifiUp = true;
  /** Levels driven onto input pins from outside (a button), and the firmware's setWatch()es. */
  private readonly inputs = new Map<string, number>();
  private readonly watches = new Map<number, { pin: string; callback: (event: { state: boolean; time: number; lastTime: number }) => void; repeat: boolean; edge: string; lastTime: number }>();
  private wifiModule: ReturnType<EspruinoSim["makeWifi"]> | null = null;
  private dead = false;
  private contextArray: ArrayConstructor = Array;

  constructor(private readonly options: SimOptions) {
    super();
    // Refuse a bundle Espruino would refuse: Node's V8 would run it and hide the problem.
    assertEspruinoCompatible(options.code, options.fileName ?? "firmware.js");
    this.context = vm.createContext(this.makeGlobals());
    this.contextError = vm.runInContext("Error", this.context) as ErrorConstructor;
    this.contextArray = vm.runInContext("Array", this.context) as ArrayConstructor;
    // V8 has built-ins Espruino lacks; remove them so the bundle fails here as it would on a board.
    vm.runInContext(
      "delete globalThis.Map; delete globalThis.Set; delete globalThis.WeakMap; delete globalThis.WeakSet;" +
        "delete globalThis.Symbol; delete globalThis.Proxy; delete globalThis.Reflect; delete globalThis.WeakRef;" +
        "delete globalThis.RangeError; delete Number.isInteger; delete Number.isNaN; delete Number.parseInt;" +
        "delete Math.trunc; delete Array.from; delete Object.freeze; delete Array.prototype.at;" +
        "delete String.prototype.at; delete String.prototype.lastIndexOf; delete Array.prototype.lastIndexOf;" +
        "delete Promise.race; delete Promise.allSettled; delete Promise.prototype.finally;",
      this.context,
    );
    // Espruino's JSON.stringify writes every char from 127 up as \u00XX (strings are bytes there); V8's keeps them.
    vm.runInContext(
      "(function(){var s=JSON.stringify;JSON.stringify=function(){var t=s.apply(JSON,arguments);" +
        "return typeof t=='string'?t.replace(/[\\u007f-\\uffff]/g,function(c){return '\\\\u'+('000'+c.charCodeAt(0).toString(16).toUpperCase()).slice(-4)}):t}})();",
      this.context,
    );
  }

  /** Runs the bundle, then fires E's 'init' as a board does after loading its boot code. */
  start(): void {
    this.guard(() => vm.runInContext(this.options.code, this.context, { filename: this.options.fileName ?? "firmware.js" }));
    setImmediate(() => this.fireE("init"));
  }

  /** True while E's 'kill' handlers run: what they write to a socket never leaves (see `kill`). */
  killing = false;

  /**
   * E's 'kill' handlers, then every socket closed at once, as Espruino does on reset(), load() and save(): what the
   * handlers wrote never leaves (a write waits in the connection's send buffer for an idle pass, and the kill closes
   * the socket before one comes: socketserver.c), and the firmware gets no 'end' or 'close'. Seen on a real
   * interpreter: after reset() Mosquitto got neither the firmware's `offline` nor its DISCONNECT, and sent the Will.
   */
  private kill() {
    this.killing = true;
    try {
      this.fireE("kill");
    } finally {
      this.killing = false;
    }
    for (const socket of [...this.sockets]) socket.close();
  }

  /** A stop as reset() or save() on a board: 'kill' handlers and the sockets' close, then everything is torn down. */
  async stop(graceMs = 300): Promise<void> {
    if (this.dead) return;
    this.kill();
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    this.powerOff();
  }

  /** As save() on a board, for code that keeps running from the saved image: 'kill' as above, then 'init', later. */
  saveImage(): void {
    if (this.dead) return;
    this.kill();
    setImmediate(() => this.fireE("init"));
  }

  /**
   * Runs more code in this board's context, as Espruino's REPL or its boot loader does: checked first like the
   * bundle (a refusal throws the sandbox's SyntaxError), then run. Returns the completion value and throws whatever
   * the code throws.
   */
  evaluate(code: string, fileName = "REPL"): unknown {
    if (this.dead) throw this.error("This interpreter has been reset or powered off");
    try {
      assertEspruinoCompatible(code, fileName);
    } catch (error) {
      const SyntaxErrorOfContext = vm.runInContext("SyntaxError", this.context) as SyntaxErrorConstructor;
      throw new SyntaxErrorOfContext((error as Error).message);
    }
    return vm.runInContext(code, this.context, { filename: fileName });
  }

  /** Sets a global (`"reset"`) or a property of one (`"E.reboot"`) inside the sandbox: hooks for the board around it. */
  define(path: string, value: unknown): void {
    const names = path.split(".");
    let target = this.context as Record<string, unknown>;
    for (const name of names.slice(0, -1)) target = target[name] as Record<string, unknown>;
    target[names[names.length - 1]!] = value;
  }

  /**
   * As reset() or load() on a board: E's 'kill' handlers run now and every socket is closed (`kill`: what the
   * handlers wrote never leaves), then every timer and watch goes, and no more code of this interpreter runs.
   */
  halt(): void {
    if (this.dead) return;
    this.kill();
    this.dead = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.watches.clear();
  }

  /** Whether this interpreter still runs code (not halted, not powered off). */
  get running(): boolean {
    return !this.dead;
  }

  /** Power cut: every socket is destroyed at once and no code runs; the broker sees the link drop. */
  powerOff(): void {
    this.dead = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.watches.clear();
    for (const socket of this.sockets) socket.destroy();
  }

  /** WiFi lost: open sockets die and connects fail until `wifiRestore()`. */
  wifiDrop(): void {
    this.wifiUp = false;
    for (const socket of this.sockets) socket.destroy();
    if (this.wifiModule) emitLater(this, this.wifiModule, "disconnected", [{}]);
  }

  wifiRestore(): void {
    this.wifiUp = true;
  }

  /**
   * Drives an input pin from outside (a button, a sensor) and runs the watches its edge triggers, later, as
   * Espruino's event loop would. Debounce is not emulated: each call is one clean edge.
   */
  setInput(pin: string, level: 0 | 1): void {
    const previous = this.inputs.get(pin) ?? (this.pinModes.get(pin) === "input_pullup" ? 1 : 0);
    this.inputs.set(pin, level);
    if (previous === level) return;
    const time = this.getTime();
    for (const [id, watch] of [...this.watches]) {
      if (watch.pin !== pin || (watch.edge === "rising" && !level) || (watch.edge === "falling" && level)) continue;
      if (!watch.repeat) this.watches.delete(id);
      const event = { state: level === 1, time, lastTime: watch.lastTime };
      watch.lastTime = time;
      setImmediate(() => this.guard(() => watch.callback(event)));
    }
  }

  /** A press and release of a button between `pin` and ground (pulled up): a falling edge, then a rising one. */
  press(pin: string): void {
    this.setInput(pin, 0);
    this.setInput(pin, 1);
  }

  /** Seconds since the simulated board started, as getTime() gives. */
  getTime(): number {
    return (performance.now() - this.started) / 1000;
  }

  pinValue(pin: string): number | undefined {
    return this.pins.get(pin);
  }

  /** The duty cycle (0 to 1) of the pin's PWM, undefined where analogWrite() never ran. */
  pwmValue(pin: string): number | undefined {
    return this.pwm.get(pin);
  }

  /** Runs firmware code as Espruino's idle loop would: an exception is printed and the program goes on. */
  guard(run: () => void): void {
    if (this.dead) return;
    try {
      run();
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.emit("uncaught", text);
      this.emit("console", "Uncaught " + text);
    }
  }

  private fireE(event: string) {
    for (const handler of this.eHandlers[event] ?? []) this.guard(handler);
  }

  /** An Error of the sandbox's realm. */
  error(message: string): Error {
    return new this.contextError(message);
  }

  private pinName(pin: unknown): string {
    const name = pin instanceof SimPin ? pin.name : typeof pin === "number" ? "D" + pin : String(pin);
    const match = /^D(\d+)$/.exec(name);
    if (!match || Number(match[1]) >= PIN_COUNT) throw this.error(`Invalid pin: ${name}`);
    return name;
  }

  private makeGlobals(): Record<string, unknown> {
    const sim = this;
    const globals: Record<string, unknown> = {
      console: { log: (...values: unknown[]) => this.emit("console", values.map(formatValue).join(" ")) },
      print: (...values: unknown[]) => this.emit("console", values.map(formatValue).join(" ")),
      getTime: () => this.getTime(),
      getSerial: () => this.options.serial ?? "5ccf7f00-00000001",
      setTimeout: (callback: () => void, ms: number) => this.addTimer(callback, ms, false),
      setInterval: (callback: () => void, ms: number) => this.addTimer(callback, ms, true),
      clearTimeout: function (...args: unknown[]) {
        sim.clearTimer(args);
      },
      clearInterval: function (...args: unknown[]) {
        sim.clearTimer(args);
      },
      pinMode: (pin: unknown, mode: string) => {
        this.pinModes.set(this.pinName(pin), mode);
      },
      digitalWrite: (pin: unknown, value: unknown) => {
        const name = this.pinName(pin);
        const level = value ? 1 : 0;
        if (this.pins.get(name) === level) return;
        this.pins.set(name, level);
        this.emit("pin", { pin: name, value: level, time: this.getTime() } satisfies PinChange);
      },
      // PWM: Espruino clamps the duty cycle to 0..1. A change is a 'pwm' event; digital 'pin' events are not affected.
      analogWrite: (pin: unknown, value: unknown) => {
        const name = this.pinName(pin);
        const duty = Math.min(1, Math.max(0, Number(value) || 0));
        if (this.pwm.get(name) === duty) return;
        this.pwm.set(name, duty);
        this.emit("pwm", { pin: name, value: duty, time: this.getTime() } satisfies PinChange);
      },
      digitalRead: (pin: unknown) => {
        const name = this.pinName(pin);
        return this.inputs.get(name) ?? this.pins.get(name) ?? (this.pinModes.get(name) === "input_pullup" ? 1 : 0);
      },
      setWatch: (callback: (event: { state: boolean; time: number; lastTime: number }) => void, pin: unknown, options?: { repeat?: boolean; edge?: string }) => {
        if (typeof callback !== "function") throw this.error("setWatch: callback is not a function");
        let id = 1;
        while (this.watches.has(id)) id++;
        this.watches.set(id, { pin: this.pinName(pin), callback, repeat: options?.repeat === true, edge: options?.edge ?? "both", lastTime: this.getTime() });
        return id;
      },
      clearWatch: (...args: unknown[]) => {
        if (args.length === 0) this.watches.clear();
        else this.watches.delete(Number(args[0]));
      },
      require: (name: string) => {
        if (name === "net") return this.makeNet();
        if (name === "tls" && this.options.tls !== false) return this.makeTls();
        if (name === "Wifi" && this.options.wifi) return (this.wifiModule ??= this.makeWifi());
        if (name === "Storage" && this.options.storage) return this.makeStorage(this.options.storage);
        throw this.error(`Module "${name}" not found`);
      },
      E: {
        on: (event: string, handler: () => void) => {
          (this.eHandlers[event] ??= []).push(handler);
        },
        toString: (...data: unknown[]) => Buffer.from(espruinoBytes(data)).toString("latin1"),
        toUint8Array: (...data: unknown[]) => new Uint8Array(espruinoBytes(data)),
        // Boot code in flash: .bootcde runs at power-up and on load(); with alwaysRun, .bootrst runs after reset() too.
        setBootCode: (code: unknown, alwaysRun?: unknown) => {
          const storage = this.options.storage;
          if (!storage) throw this.error("E.setBootCode: this board has no flash");
          storage.erase(".bootcde");
          storage.erase(".bootrst");
          if (code) storage.write(alwaysRun ? ".bootrst" : ".bootcde", String(code));
        },
      },
      process: {
        // What the Espruino CLI reads on connect: VERSION (2v29: it writes code to Storage), BOARD, and MODULES (the
        // built-in modules, which it then does not try to download).
        env: {
          VERSION: this.options.version ?? "2v29",
          BOARD: "HOSTSIM",
          SERIAL: this.options.serial ?? "5ccf7f00-00000001",
          get MODULES() {
            return ["net", "tls", "Wifi", "Storage"]
              .filter((name) => {
                try {
                  (globals.require as (name: string) => unknown)(name);
                  return true;
                } catch {
                  return false;
                }
              })
              .join(",");
          },
        },
        memory: () => ({ free: 0, usage: 0, total: 0, blocksize: 12 }),
      },
      btoa: (text: string) => Buffer.from(text, "latin1").toString("base64"),
      atob: (text: string) => Buffer.from(text, "base64").toString("latin1"),
    };
    for (let i = 0; i < PIN_COUNT; i++) globals["D" + i] = new SimPin("D" + i);
    globals.global = globals;
    return globals;
  }

  /** Espruino's Storage module over the board's flash: files of bytes (binary strings) that outlive a reset. */
  private makeStorage(storage: SimStorage) {
    const sim = this;
    const attempt = <T>(run: () => T): T => {
      try {
        return run();
      } catch (error) {
        throw sim.error((error as Error).message);
      }
    };
    const bytes = (data: unknown) => (ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1") : String(data));
    return {
      read: (name: string, offset?: number, length?: number) => {
        const data = storage.read(String(name));
        if (data === undefined) return undefined;
        const from = offset ?? 0;
        return data.substring(from, length === undefined ? undefined : from + length);
      },
      readJSON: (name: string, noExceptions?: boolean) => {
        const data = storage.read(String(name));
        if (data === undefined) return undefined;
        try {
          return (vm.runInContext("JSON", this.context) as JSON).parse(data);
        } catch (error) {
          if (noExceptions) return undefined;
          throw error;
        }
      },
      write: (name: string, data: unknown, offset?: number, size?: number) => attempt(() => storage.write(String(name), bytes(data), offset, size)),
      writeJSON: (name: string, data: unknown) => attempt(() => storage.write(String(name), (vm.runInContext("JSON", this.context) as JSON).stringify(data))),
      erase: (name: string) => storage.erase(String(name)),
      eraseAll: () => storage.eraseAll(),
      list: (pattern?: { test(name: string): boolean }) => {
        const names = new sim.contextArray<string>();
        for (const name of storage.list()) if (!pattern || pattern.test(name)) names.push(name);
        return names;
      },
      getFree: () => storage.free(),
      compact: () => undefined,
    };
  }

  /** Timer ids are small numbers, and reused after a clear, as on Espruino. */
  private addTimer(callback: () => void, ms: number, repeat: boolean): number {
    if (typeof callback !== "function") throw this.error("Function or String not supplied!");
    let id = 1;
    while (this.timers.has(id)) id++;
    const delay = Math.max(0, Number(ms) || 0);
    const fire = () => {
      if (!repeat) this.timers.delete(id);
      this.guard(callback);
    };
    this.timers.set(id, repeat ? setInterval(fire, delay) : setTimeout(fire, delay));
    return id;
  }

  /** No argument clears every timer (Espruino's trap); an undefined id throws. */
  private clearTimer(args: unknown[]) {
    if (args.length === 0) {
      for (const timer of this.timers.values()) clearTimeout(timer);
      this.timers.clear();
      return;
    }
    const id = args[0];
    if (typeof id !== "number") throw this.error(`clearTimeout: expected a timer id, got ${String(id)}`);
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }

  /** How many timers the firmware has pending: tests check it does not grow. */
  timerCount(): number {
    return this.timers.size;
  }

  private makeNet() {
    return {
      connect: (options: { host: string; port: number }, onConnect?: (socket: unknown) => void) => this.openSocket(options, onConnect),
    };
  }

  /**
   * Espruino's `tls`: connect() as net's, plus `ca`, `cert` and `key` as binary strings of DER bytes. One that does
   * not parse throws an InternalError at once, as mbedtls's parse failure does on Espruino.
   */
  private makeTls() {
    return {
      connect: (options: { host: string; port: number; ca?: unknown; cert?: unknown; key?: unknown }, onConnect?: (socket: unknown) => void) =>
        this.openSocket(options, onConnect, () => ({
          ca: options.ca === undefined ? undefined : derCertificate(options.ca, "ca"),
          cert: options.cert === undefined ? undefined : derCertificate(options.cert, "cert"),
          key: options.key === undefined ? undefined : derKey(options.key),
          verify: this.options.tlsVerify !== false,
        })),
    };
  }

  /**
   * connect() of `net` and `tls`: no network without WiFi; then (for `tls`) the certificates are read, a refused
   * connect throws at once (refusal "throw"), and the socket is opened and announced.
   */
  private openSocket(options: { host: string; port: number }, onConnect: ((socket: unknown) => void) | undefined, secure?: () => SimTlsOptions) {
    if (!this.wifiUp) throw internalError("Unable to create socket");
    const tls = secure?.();
    if (this.options.refusal !== "event") probeSynchronously(options.host, options.port);
    const socket = new SimSocket(this, options.host, options.port, this.options.readSize ?? DEFAULT_READ_SIZE, onConnect, tls);
    this.sockets.add(socket);
    this.emit("socket", socket);
    return socket.espruinoFace;
  }

  private makeWifi() {
    const sim = this;
    const wifi = espruinoEmitter(this, {
      connect(ssid: string, _options: unknown, callback?: (error: string | null) => void) {
        setTimeout(() => {
          const error = sim.wifiUp ? null : "connection failed";
          if (callback) sim.guard(() => callback(error));
          if (!error) emitLater(sim, wifi, "connected", [{ ip: "127.0.0.1", ssid }]);
        }, 20);
      },
      disconnect() {
        emitLater(sim, wifi, "disconnected", [{}]);
      },
    });
    return wifi;
  }
}

/**
 * The bytes of E.toString's and E.toUint8Array's arguments, read as Espruino reads them (jsvIterateCallback): a number
 * is a byte, a string its chars, an array or typed array its elements, {data, count} `data` `count` times, {callback}
 * what the function returns.
 */
function espruinoBytes(values: ArrayLike<unknown>, out: number[] = []): number[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value === "string") for (let at = 0; at < value.length; at++) out.push(value.charCodeAt(at) & 255);
    else if (Array.isArray(value) || ArrayBuffer.isView(value)) espruinoBytes(value as ArrayLike<unknown>, out);
    else if (value !== null && typeof value === "object") {
      const spec = value as { data?: unknown; count?: unknown; callback?: unknown };
      if (typeof spec.callback === "function") espruinoBytes([spec.callback()], out);
      else for (let n = Number(spec.count ?? 1); n > 0; n--) espruinoBytes([spec.data], out);
    } else out.push(Number(value) & 255);
  }
  return out;
}

/** Espruino's `Pin` objects: D0, D1...; they print as their name. */
class SimPin {
  constructor(readonly name: string) {}
  toString() {
    return this.name;
  }
}

/** Espruino's exceptions from native code are not Error instances: { type: "InternalError", message }. */
function internalError(message: string) {
  return { type: "InternalError", message, toString: () => "InternalError: " + message };
}

/** What a `tls` socket is opened with: PEM texts for Node, and whether the broker's certificate is checked. */
interface SimTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

/** A certificate given to tls.connect as a binary string of DER bytes, as PEM; an InternalError if it does not parse. */
function derCertificate(value: unknown, field: "ca" | "cert"): string {
  try {
    if (typeof value !== "string") throw new Error("not a string");
    return new X509Certificate(Buffer.from(value, "latin1")).toString();
  } catch {
    throw internalError(`HTTPS init failed! mbedtls_x509_crt_parse of '${field}': not a DER certificate`);
  }
}

/** A private key given as a binary string of DER bytes (PKCS#8, PKCS#1 or SEC1), as PEM. */
function derKey(value: unknown): string {
  if (typeof value === "string") {
    for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
      try {
        return createPrivateKey({ key: Buffer.from(value, "latin1"), format: "der", type }).export({ format: "pem", type: "pkcs8" }).toString();
      } catch {
        // Try the next form.
      }
    }
  }
  throw internalError("HTTPS init failed! mbedtls_pk_parse_key: not a DER private key");
}

/**
 * Espruino on Linux refuses a connect synchronously, which Node's sockets cannot. On Linux the kernel's table of
 * listening sockets answers synchronously without opening a connection; elsewhere a short blocking probe connect in
 * a child process gives the same answer (and the peer sees that extra connection).
 */
function probeSynchronously(host: string, port: number) {
  if (!nodeNet.isIP(host) && host !== "localhost") throw internalError("Unable to locate host");
  const listening = isListeningLocally(host === "localhost" ? "127.0.0.1" : host, port);
  if (listening === false) throw internalError("Unable to create socket");
  if (listening === true) return;
  const script = `const s=require("net").connect(${JSON.stringify(port)},${JSON.stringify(host)});` +
    `s.on("connect",()=>{s.destroy();process.exit(0)});s.on("error",()=>process.exit(3));setTimeout(()=>process.exit(3),2000)`;
  const result = spawnSync(process.execPath, ["-e", script], { stdio: "ignore", timeout: 5000 });
  if (result.status !== 0) throw internalError("Unable to create socket");
}

/** Whether something listens on host:port, from /proc/net/tcp{,6}; undefined where that cannot be told. */
function isListeningLocally(host: string, port: number): boolean | undefined {
  if (nodeNet.isIPv4(host) === false) return undefined;
  const wanted = new Set([hexIPv4(host), "00000000"]);
  const wanted6 = new Set(["00000000000000000000000000000000", "0000000000000000FFFF0000" + hexIPv4(host)]);
  let tables: string[];
  try {
    tables = [readFileSync("/proc/net/tcp", "utf8"), existsSync("/proc/net/tcp6") ? readFileSync("/proc/net/tcp6", "utf8") : ""];
  } catch {
    return undefined;
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of tables) {
    for (const line of table.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== "0A") continue; // 0A: LISTEN
      const [address, listenPort] = local.split(":");
      if (listenPort === portHex && (wanted.has(address ?? "") || wanted6.has(address ?? ""))) return true;
    }
  }
  return false;
}

/** An IPv4 address as /proc/net/tcp writes it: the 32-bit value in host (little-endian) byte order, in hex. */
function hexIPv4(address: string): string {
  return address.split(".").map((part) => Number(part).toString(16).toUpperCase().padStart(2, "0")).reverse().join("");
}

type Listener = (...args: unknown[]) => void;

function listenersOf(object: object, event: string): Listener[] | undefined {
  return (object as Record<string, Listener[] | undefined>)["#on" + event];
}

/**
 * Queues an event on an Espruino object: Espruino runs handlers after the current code, never inside emit(), with
 * the object as `this` (jsiQueueEvents; seen on the interpreter for a socket's connect callback, 'data' and 'end').
 */
function emitLater(sim: EspruinoSim, object: object, event: string, args: unknown[]) {
  const list = listenersOf(object, event);
  if (!list || !list.length) return;
  const snapshot = list.slice();
  setImmediate(() => {
    for (const listener of snapshot) sim.guard(() => listener.apply(object, args));
  });
}

/** Espruino's event methods on a plain object: listeners kept as own properties `#onX`, emit runs them later. */
function espruinoEmitter<T extends object>(sim: EspruinoSim, target: T) {
  const methods = {
    on(this: Record<string, unknown>, event: string, listener: Listener) {
      ((this["#on" + event] as Listener[] | undefined) ??= []).push(listener);
    },
    removeListener(this: Record<string, unknown>, event: string, listener: Listener) {
      const list = listenersOf(this, event);
      const at = list ? list.indexOf(listener) : -1;
      if (list && at >= 0) list.splice(at, 1);
    },
    removeAllListeners(this: Record<string, unknown>, event?: string) {
      for (const key of Object.keys(this)) if (key.startsWith("#on") && (event === undefined || key === "#on" + event)) delete this[key];
    },
    emit(this: Record<string, unknown>, event: string, ...args: unknown[]) {
      emitLater(sim, this, event, args);
    },
  };
  return Object.assign(target, methods);
}

/**
 * One socket the firmware opened (`net`, or `tls` when `secure`), with its Espruino face and byte counters for tests
 * and tracing. On a `tls` socket the counters and 'in'/'out' taps see the plain bytes the firmware reads and writes.
 */
export class SimSocket extends EventEmitter {
  readonly espruinoFace;
  bytesIn = 0;
  bytesOut = 0;
  /** Opened with require("tls"). */
  readonly secure: boolean;
  /** The TLS handshake completed (a `tls` socket only). */
  handshaken = false;
  /** getTime() when the firmware asked for this connection, in seconds. */
  readonly dialedAt: number;
  private readonly node: nodeNet.Socket;
  private closed = false;
  private opened = false;
  private failed = false;

  constructor(
    private readonly sim: EspruinoSim,
    readonly host: string,
    readonly port: number,
    private readonly readSize: number,
    onConnect?: (socket: unknown) => void,
    tls?: SimTlsOptions,
  ) {
    super();
    this.secure = tls !== undefined;
    this.dialedAt = sim.getTime();
    const self = this;
    this.espruinoFace = espruinoEmitter(sim, {
      write(data: unknown) {
        if (self.closed) throw sim.error("This socket is closed");
        // Written by a 'kill' handler: Espruino closes the socket before it sends this (EspruinoSim.kill).
        if (sim.killing) return false;
        // Espruino sends a non-string as its text: a Uint8Array goes out as "1,2,200".
        const text = typeof data === "string" ? data : String(data);
        const bytes = Buffer.from(text, "latin1");
        self.bytesOut += bytes.length;
        self.emit("out", bytes);
        self.node.write(bytes);
        return false;
      },
      end() {
        if (self.closed) return;
        self.node.end();
      },
    });
    if (tls) {
      // Espruino's mbedtls speaks TLS 1.2 at most. Writes made before the handshake is done are held until it is.
      this.node = nodeTls.connect({
        host,
        port,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.verify,
        servername: nodeNet.isIP(host) ? undefined : host,
        maxVersion: "TLSv1.2",
      });
      this.node.on("secureConnect", () => {
        this.handshaken = true;
      });
      // A failed handshake: the interpreter prints an InternalError (raised in its idle loop, outside any firmware
      // code); the socket then gives 'end' and 'close', and no 'error' event.
      this.node.on("error", (error: Error) => {
        if (!this.handshaken && !this.closed) sim.emit("console", `Uncaught InternalError: TLS handshake with ${host}:${port} failed: ${error.message}`);
      });
    } else {
      this.node = nodeNet.connect({ host, port });
    }
    this.node.setNoDelay(true);
    // Espruino offers both the connect callback and a 'connect' event (firmware should use one of them); both are
    // given the socket (socketserver.c queues them with the connection as their one argument).
    this.node.on("connect", () => {
      this.opened = true;
      if (onConnect) sim.guard(() => onConnect.call(this.espruinoFace, this.espruinoFace));
      emitLater(sim, this.espruinoFace, "connect", [this.espruinoFace]);
    });
    this.node.on("data", (data: Buffer) => {
      this.bytesIn += data.length;
      this.emit("in", data);
      for (let at = 0; at < data.length; at += this.readSize) {
        const chunk = data.subarray(at, at + this.readSize).toString("latin1");
        emitLater(sim, this.espruinoFace, "data", [chunk]);
      }
    });
    // Espruino's 'error' never fired on Linux; ESP8266 may report one. Either way a close gives 'end' then 'close'.
    this.node.on("error", () => {
      this.failed = true;
    });
    this.node.on("close", () => this.markClosed());
  }

  destroy() {
    this.node.destroy();
    this.markClosed();
  }

  /**
   * Closes the link as Espruino does when it is killed (reset(), load(), save()): a plain close after what was
   * sent before, and no 'end' or 'close' for the firmware (its connection is gone from Espruino's lists).
   */
  close() {
    this.node.end();
    this.markClosed(true);
  }

  private markClosed(silent = false) {
    if (this.closed) return;
    this.closed = true;
    this.sim.sockets.delete(this);
    if (silent) return void this.emit("closed");
    // A connect that failed before it opened (the ESP8266 way, refusal "event") is reported as 'error' first; a
    // reset of an open link gives only 'end' and 'close', as on Linux.
    if (this.failed && !this.opened) emitLater(this.sim, this.espruinoFace, "error", [{ type: "InternalError", message: "connection refused" }]);
    emitLater(this.sim, this.espruinoFace, "end", []);
    emitLater(this.sim, this.espruinoFace, "close", [false]);
    this.emit("closed");
  }
}

/**
 * A board's flash as Espruino's Storage module sees it: named files of bytes (binary strings). It outlives the
 * interpreters of one board (reset(), load(), a power cycle) and, with a path, the process: it is then kept in that
 * file (JSON), as a board keeps its flash when unplugged.
 */
export class SimStorage {
  /** Espruino's limit on a Storage file name. */
  static readonly MAX_NAME = 28;
  private readonly files = new Map<string, string>();

  constructor(
    readonly path?: string,
    /** Bytes of flash for files (Espruino's ESP8266 builds have far less than the ESP32's). */
    readonly capacity = 1 << 20,
  ) {
    if (path && existsSync(path)) {
      const saved = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
      for (const [name, data] of Object.entries(saved)) if (typeof data === "string") this.files.set(name, data);
    }
  }

  read(name: string): string | undefined {
    return this.files.get(name);
  }

  list(): string[] {
    return [...this.files.keys()];
  }

  free(): number {
    let used = 0;
    for (const data of this.files.values()) used += data.length;
    return this.capacity - used;
  }

  /**
   * Espruino's `write(name, data, offset, size)`: without an offset the file becomes `data`; with a size a file of
   * that many bytes is made (unwritten bytes read 0xFF, as erased flash) and `data` written at `offset`, which is how
   * the Espruino CLI writes code in chunks; with an offset alone `data` goes into the file made that way.
   */
  write(name: string, data: string, offset?: number, size?: number): boolean {
    if (!name || name.length > SimStorage.MAX_NAME) throw new Error(`Storage: a file name has 1 to ${SimStorage.MAX_NAME} characters, not ${JSON.stringify(name)}`);
    let file: string;
    if (offset === undefined) {
      file = data;
    } else {
      const at = Number(offset);
      const base = size !== undefined ? "\xff".repeat(Number(size)) : this.files.get(name);
      if (base === undefined) throw new Error(`Storage: ${name} does not exist: give its size on the first write`);
      if (!(at >= 0) || at + data.length > base.length) throw new Error(`Storage: too much data for ${name} (${base.length} bytes)`);
      file = base.substring(0, at) + data + base.substring(at + data.length);
    }
    const grows = file.length - (this.files.get(name)?.length ?? 0);
    if (grows > this.free()) throw new Error(`Storage: not enough free space for ${name}`);
    this.files.set(name, file);
    this.persist();
    return true;
  }

  erase(name: string): void {
    if (this.files.delete(name)) this.persist();
  }

  eraseAll(): void {
    this.files.clear();
    this.persist();
  }

  private persist() {
    if (this.path) writeFileSync(this.path, JSON.stringify(Object.fromEntries(this.files)));
  }
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && "type" in value && "message" in value) return `${String(value.type)}: ${String(value.message)}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
