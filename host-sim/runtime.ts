// An Espruino runtime for Node: runs dist/firmware.js unchanged in a vm context that provides the parts of
// Espruino's API the firmware uses, with the semantics ../shared/ESPRUINO.md records. Where a board and this
// emulation could differ, it takes the stricter behaviour (see host-sim/README.md).
import { EventEmitter } from "node:events";
import * as nodeNet from "node:net";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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
  /** Provide the Wifi module (an ESP board) or not (Espruino's Linux build). */
  wifi?: boolean;
  /** Bytes per 'data' event at most. */
  readSize?: number;
  refusal?: RefusalStyle;
}

export interface PinChange {
  pin: string;
  value: number;
  /** getTime() of the change, in seconds. */
  time: number;
}

/** Events: 'console' (text), 'pin' (PinChange), 'socket' (SimSocketInfo), 'uncaught' (error text). */
export class EspruinoSim extends EventEmitter {
  readonly pins = new Map<string, number>();
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

  constructor(private readonly options: SimOptions) {
    super();
    // Refuse a bundle Espruino would refuse: Node's V8 would run it and hide the problem.
    assertEspruinoCompatible(options.code, options.fileName ?? "firmware.js");
    this.context = vm.createContext(this.makeGlobals());
    this.contextError = vm.runInContext("Error", this.context) as ErrorConstructor;
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
  }

  /** Runs the bundle, then fires E's 'init' as a board does after loading its boot code. */
  start(): void {
    this.guard(() => vm.runInContext(this.options.code, this.context, { filename: this.options.fileName ?? "firmware.js" }));
    setImmediate(() => this.fireE("init"));
  }

  /** A graceful stop, as reset() or save() on a board: 'kill' handlers run, then everything is torn down. */
  async stop(graceMs = 300): Promise<void> {
    if (this.dead) return;
    this.fireE("kill");
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    this.powerOff();
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
        if (name === "Wifi" && this.options.wifi) return (this.wifiModule ??= this.makeWifi());
        throw this.error(`Module "${name}" not found`);
      },
      E: {
        on: (event: string, handler: () => void) => {
          (this.eHandlers[event] ??= []).push(handler);
        },
        toString: (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1"),
        toUint8Array: (text: string) => new Uint8Array(Buffer.from(text, "latin1")),
      },
      process: {
        env: { VERSION: "2v29", BOARD: "HOSTSIM" },
        memory: () => ({ free: 0, usage: 0, total: 0, blocksize: 12 }),
      },
      btoa: (text: string) => Buffer.from(text, "latin1").toString("base64"),
      atob: (text: string) => Buffer.from(text, "base64").toString("latin1"),
    };
    for (let i = 0; i < PIN_COUNT; i++) globals["D" + i] = new SimPin("D" + i);
    globals.global = globals;
    return globals;
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
      connect: (options: { host: string; port: number }, onConnect?: () => void) => {
        if (!this.wifiUp) throw internalError("Unable to create socket");
        if (this.options.refusal !== "event") probeSynchronously(options.host, options.port);
        const socket = new SimSocket(this, options.host, options.port, this.options.readSize ?? DEFAULT_READ_SIZE, onConnect);
        this.sockets.add(socket);
        this.emit("socket", socket);
        return socket.espruinoFace;
      },
    };
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

/** Queues an event on an Espruino object: Espruino runs handlers after the current code, never inside emit(). */
function emitLater(sim: EspruinoSim, object: object, event: string, args: unknown[]) {
  const list = listenersOf(object, event);
  if (!list || !list.length) return;
  const snapshot = list.slice();
  setImmediate(() => {
    for (const listener of snapshot) sim.guard(() => listener(...args));
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

/** One socket the firmware opened, with its Espruino face and byte counters for tests and tracing. */
export class SimSocket extends EventEmitter {
  readonly espruinoFace;
  bytesIn = 0;
  bytesOut = 0;
  private readonly node: nodeNet.Socket;
  private closed = false;
  private opened = false;
  private failed = false;

  constructor(
    private readonly sim: EspruinoSim,
    readonly host: string,
    readonly port: number,
    private readonly readSize: number,
    onConnect?: () => void,
  ) {
    super();
    const self = this;
    this.espruinoFace = espruinoEmitter(sim, {
      write(data: unknown) {
        if (self.closed) throw sim.error("This socket is closed");
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
    this.node = nodeNet.connect({ host, port });
    this.node.setNoDelay(true);
    // Espruino offers both the connect callback and a 'connect' event (firmware should use one of them).
    this.node.on("connect", () => {
      this.opened = true;
      if (onConnect) sim.guard(onConnect);
      emitLater(sim, this.espruinoFace, "connect", []);
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

  private markClosed() {
    if (this.closed) return;
    this.closed = true;
    this.sim.sockets.delete(this);
    // A connect that failed before it opened (the ESP8266 way, refusal "event") is reported as 'error' first; a
    // reset of an open link gives only 'end' and 'close', as on Linux.
    if (this.failed && !this.opened) emitLater(this.sim, this.espruinoFace, "error", [{ type: "InternalError", message: "connection refused" }]);
    emitLater(this.sim, this.espruinoFace, "end", []);
    emitLater(this.sim, this.espruinoFace, "close", [false]);
    this.emit("closed");
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
