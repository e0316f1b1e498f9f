// A simulated board across restarts, and Espruino's REPL on a TCP port: enough of both for the Espruino CLI to
// upload code into the simulated board's flash and start it, as `npm run flash` does with a real board.
//
// What the CLI sends, seen on a real Espruino (2v29, over its telnet REPL) with RESET_BEFORE_SEND and SAVE_ON_SEND=1:
//   "\n"                                            -> "\r\n>"            (it looks for the prompt)
//   "\x10print("<","<<",JSON.stringify(process.env),">>",">")\n"  -> "< << {...} >> >\r\n>"
//   "\n", then "\x10reset();\n"                     -> kill output, "\r\n" + banner + "\r\n\r\n>"
//   "\x10print()\n" and one line per 1,024 bytes of code, 250 ms apart:
//   "\x10require("Storage").write(".bootcde","<chunk>",0,<size>);\n", then (...,"<chunk>",<offset>);
//   "\x10load()\n"                                  -> "\r\x1b[J>", then the code's output
// A line that starts with DLE (\x10) is run without echo, without "=result" and without a new prompt. The prompt
// is taken off ("\r\x1b[J") before any output while it shows and put back (">" and the line typed so far) once the
// input at hand is handled. The CLI's upload is done when its last line starts with ">".
import { EventEmitter } from "node:events";
import * as net from "node:net";
import { EspruinoSim, SimOptions, SimStorage } from "./runtime.ts";

export type RestartKind = "reset" | "load" | "reboot";
export type BootKind = "power" | "reset" | "load";

export interface BootReport {
  kind: BootKind;
  /** Storage files run, in order (`.bootcde`...); empty when the flash holds no code. */
  files: string[];
  /** When the board was powered on with a bundle in RAM instead (no flash involved): its file name. */
  bundle?: string;
}

export interface BoardOptions extends Omit<SimOptions, "code" | "fileName" | "storage"> {
  /** The board's flash; a new, empty one (in memory) when not given. */
  storage?: SimStorage;
}

/**
 * One simulated board over time. Each power-up, reset(), load() and E.reboot() gets a fresh interpreter (a new
 * EspruinoSim) over the same flash (SimStorage), and boots as Espruino does: `.boot0`-`.boot3`, then `.bootrst`
 * or else `.bootcde` (after reset(): `.bootrst` only), then E's 'init'.
 * Events: 'sim' (EspruinoSim: a new interpreter, attach listeners to it), 'console' (text, from the interpreter
 * that runs), 'restart' (RestartKind, before the old interpreter goes), 'boot' (BootReport, before the code runs).
 */
export class SimBoard extends EventEmitter {
  readonly storage: SimStorage;
  private current: EspruinoSim | null = null;
  private pending: (() => void) | null = null;

  constructor(private readonly options: BoardOptions = {}) {
    super();
    this.storage = options.storage ?? new SimStorage();
  }

  get poweredOn(): boolean {
    return this.current !== null;
  }

  /** The interpreter that runs now. */
  get sim(): EspruinoSim {
    if (!this.current) throw new Error("the board is not powered on");
    return this.current;
  }

  /**
   * Power-up. With `code`, it runs as code sent to RAM (the bundle, as `npm run sim` runs it; a bundle Espruino
   * would refuse throws here); without, the board boots from its flash, which may hold nothing: a blank board.
   */
  powerOn(code?: string, fileName = "firmware.js"): void {
    if (code === undefined) return this.boot("power");
    const sim = this.fresh(code, fileName);
    this.emit("boot", { kind: "power", files: [], bundle: fileName } satisfies BootReport);
    sim.start();
  }

  /** reset(): at once, inside the code that calls it: 'kill' handlers, then a fresh interpreter (`.bootrst` only). */
  reset(): void {
    this.pending = null;
    this.emit("restart", "reset" satisfies RestartKind);
    this.current?.halt();
    this.boot("reset");
  }

  /** load() / load(file): after the current code, as on Espruino: 'kill' handlers, then boot from flash. */
  load(file?: string): void {
    this.later(() => {
      this.emit("restart", "load" satisfies RestartKind);
      this.current?.halt();
      this.boot("load", file);
    });
  }

  /** E.reboot(), a power cycle: no 'kill' handlers, sockets cut, then boot from flash as at power-up. */
  reboot(): void {
    this.later(() => {
      this.emit("restart", "reboot" satisfies RestartKind);
      this.current?.powerOff();
      this.boot("power");
    });
  }

  /** A graceful stop of the running interpreter (see EspruinoSim.stop). */
  async stop(graceMs?: number): Promise<void> {
    this.pending = null;
    await this.current?.stop(graceMs);
  }

  powerOff(): void {
    this.pending = null;
    this.current?.powerOff();
  }

  private later(run: () => void) {
    if (this.pending) return;
    this.pending = run;
    setImmediate(() => {
      if (this.pending !== run) return;
      this.pending = null;
      run();
    });
  }

  private fresh(code: string, fileName: string): EspruinoSim {
    const { storage: _storage, ...options } = this.options;
    const sim = new EspruinoSim({ ...options, code, fileName, storage: this.storage });
    sim.define("reset", () => this.reset());
    sim.define("load", (file?: unknown) => this.load(file === undefined ? undefined : String(file)));
    sim.define("E.reboot", () => this.reboot());
    sim.on("console", (text: string) => {
      if (this.current === sim) this.emit("console", text);
    });
    this.current = sim;
    this.emit("sim", sim);
    return sim;
  }

  private boot(kind: BootKind, file?: string) {
    const sim = this.fresh("", "boot");
    let names: string[];
    if (file !== undefined) names = [file];
    else {
      names = [".boot0", ".boot1", ".boot2", ".boot3"];
      if (kind === "reset") names.push(".bootrst");
      else names.push(this.storage.read(".bootrst") !== undefined ? ".bootrst" : ".bootcde");
    }
    const files = names.filter((name) => this.storage.read(name) !== undefined);
    this.emit("boot", { kind, files } satisfies BootReport);
    for (const name of files) sim.guard(() => sim.evaluate(this.storage.read(name)!, name));
    sim.start();
  }
}

export interface ReplServer {
  port: number;
  /** `tcp://host:port`, as the Espruino CLI takes it with `-p`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Espruino's REPL over TCP (as its telnet server offers it: raw bytes, no telnet negotiation), for one client at a
 * time: a new connection takes the console from the previous one, which is closed. The console's output (the
 * firmware's console.log and print) goes to the client while one is connected.
 * Events on the board's behalf: 'client' ("connected" | "disconnected").
 */
export class EspruinoRepl extends EventEmitter {
  private client: net.Socket | null = null;
  /** The line typed so far (continuation lines joined with \n). */
  private line = "";
  /** DLE at the start of the line: run it without echo. */
  private lineEchoOff = false;
  /** echo(0) turns echo off for good, echo(1) back on. */
  private echo = true;
  /** Whether the prompt (and the line) is on the client's screen. */
  private shown = false;
  private escape: "none" | "esc" | "csi" | "ss3" = "none";
  private lastWasCR = false;
  private promptQueued = false;
  private server: net.Server | null = null;

  constructor(private readonly board: SimBoard) {
    super();
    board.on("console", (text: string) => this.output(text + "\n"));
    board.on("restart", (kind: RestartKind) => {
      this.removePrompt();
      // A reboot restarts the board's network too: its TCP connections die.
      if (kind === "reboot") this.client?.destroy();
    });
    board.on("boot", (report: BootReport) => {
      if (report.kind !== "load") this.output(`\n host-sim: simulated Espruino 2v29 (HOSTSIM)${report.kind === "reset" ? ", reset" : ""}\n\n`);
      this.queuePrompt();
    });
    const defineConsole = (sim: EspruinoSim) => {
      sim.define("echo", (on: unknown) => (this.echo = !!on));
      this.defineConsoleDevice(sim);
    };
    board.on("sim", defineConsole);
    if (board.poweredOn) defineConsole(board.sim);
  }

  async listen(port: number, host = "127.0.0.1"): Promise<ReplServer> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as net.AddressInfo;
    const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    return {
      port: address.port,
      url: `tcp://${shownHost}:${address.port}`,
      close: () =>
        new Promise<void>((resolve) => {
          this.client?.destroy();
          server.close(() => resolve());
        }),
    };
  }

  /**
   * process.env.CONSOLE: where the console is, "Telnet" while a client is connected ("Serial1" otherwise, as on an
   * ESP board). The Espruino CLI sends faster (512-byte writes, no pauses) to a console on Telnet, as to a real one.
   */
  private defineConsoleDevice(sim: EspruinoSim) {
    sim.define("process.env.CONSOLE", this.client ? "Telnet" : "Serial1");
  }

  private accept(socket: net.Socket) {
    this.client?.destroy();
    this.client = socket;
    socket.setNoDelay(true);
    this.line = "";
    this.lineEchoOff = false;
    this.escape = "none";
    this.shown = false;
    if (this.board.poweredOn) this.defineConsoleDevice(this.board.sim);
    this.emit("client", "connected");
    this.returnPrompt();
    socket.on("data", (data: Buffer) => this.input(data.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (this.client !== socket) return;
      this.client = null;
      if (this.board.poweredOn) this.defineConsoleDevice(this.board.sim);
      this.emit("client", "disconnected");
    });
  }

  private send(text: string) {
    if (this.client && !this.client.destroyed) this.client.write(Buffer.from(text, "latin1"));
  }

  /** Console output: the prompt is taken off first and put back once the board is idle again. */
  private output(text: string) {
    this.removePrompt();
    this.send(text.replace(/\r?\n/g, "\r\n"));
    this.queuePrompt();
  }

  private echoing() {
    return this.echo && !this.lineEchoOff;
  }

  private removePrompt() {
    if (!this.shown) return;
    this.shown = false;
    if (this.echoing()) this.send("\x1b[A".repeat(this.line.split("\n").length - 1) + "\r\x1b[J");
  }

  private returnPrompt() {
    if (this.shown) return;
    this.shown = true;
    if (this.echoing()) this.send(">" + this.line.replace(/\n/g, "\r\n:"));
  }

  private queuePrompt() {
    if (this.promptQueued) return;
    this.promptQueued = true;
    setImmediate(() => {
      this.promptQueued = false;
      this.returnPrompt();
    });
  }

  /** One read from the client: every character in order, then the prompt comes back (Espruino's idle loop). */
  private input(data: string) {
    for (const char of data) this.character(char);
    this.returnPrompt();
  }

  private character(char: string) {
    const code = char.charCodeAt(0);
    const afterCR = this.lastWasCR;
    this.lastWasCR = code === 13;
    if (this.escape !== "none") {
      // Cursor keys and the CLI's line-number escape (ESC [ n d): consumed, not acted on (no history here).
      if (this.escape === "esc") this.escape = char === "[" ? "csi" : char === "O" ? "ss3" : "none";
      else if (this.escape === "ss3" || (code >= 0x40 && code <= 0x7e)) this.escape = "none";
      return;
    }
    if (code === 27) this.escape = "esc";
    else if (code === 3) this.interrupt();
    else if (code === 16) {
      if (this.line === "") this.lineEchoOff = true;
    } else if (code === 8 || code === 127) this.backspace();
    else if (code === 13 || (code === 10 && !afterCR)) this.newLine();
    else if (code >= 32 || code === 9) {
      this.line += char;
      if (this.shown && this.echoing()) this.send(char);
    }
  }

  /** Ctrl-C at the prompt: the line typed so far is dropped. (Code that runs cannot be interrupted here.) */
  private interrupt() {
    if (this.line !== "") {
      this.removePrompt();
      this.line = "";
    }
    this.lineEchoOff = false;
  }

  private backspace() {
    if (this.line === "" || this.line.endsWith("\n")) return;
    this.line = this.line.slice(0, -1);
    if (this.shown && this.echoing()) this.send("\b \b");
  }

  private newLine() {
    if (openBrackets(this.line) > 0) {
      this.line += "\n";
      if (this.shown && this.echoing()) this.send("\r\n:");
      return;
    }
    const echoed = this.echoing();
    if (echoed && this.shown) this.send("\r\n");
    // A line run without echo leaves the prompt where it was: no new one follows unless something is printed.
    if (!this.lineEchoOff) this.shown = false;
    const code = this.line.replace(/\s+$/, "");
    this.line = "";
    if (code) {
      try {
        const value = this.board.sim.evaluate(code);
        if (echoed && this.echo) this.output("=" + formatResult(value) + "\n");
      } catch (error) {
        this.output("Uncaught " + describeError(error) + "\n");
      }
    }
    this.lineEchoOff = false;
  }
}

/** Starts a board's REPL on host:port (0: a free port). */
export async function startRepl(board: SimBoard, port: number, host = "127.0.0.1"): Promise<ReplServer & { repl: EspruinoRepl }> {
  const repl = new EspruinoRepl(board);
  return { ...(await repl.listen(port, host)), repl };
}

/**
 * Unclosed brackets in the code typed so far, outside strings and comments: Espruino runs a line only when none
 * are left open, and otherwise waits for more (a ':' prompt). An open template literal or comment also waits.
 */
export function openBrackets(code: string): number {
  let depth = 0;
  for (let at = 0; at < code.length; at++) {
    const char = code[at]!;
    if (char === '"' || char === "'" || char === "`") {
      let end = at + 1;
      while (end < code.length && code[end] !== char && (char === "`" || code[end] !== "\n")) end += code[end] === "\\" ? 2 : 1;
      if (end >= code.length && char === "`") return depth + 1;
      at = end;
    } else if (char === "/" && code[at + 1] === "/") {
      const end = code.indexOf("\n", at);
      if (end < 0) break;
      at = end;
    } else if (char === "/" && code[at + 1] === "*") {
      const end = code.indexOf("*/", at + 2);
      if (end < 0) return depth + 1;
      at = end + 1;
    } else if (char === "(" || char === "[" || char === "{") depth++;
    else if (char === ")" || char === "]" || char === "}") depth--;
  }
  return depth;
}

/** The REPL's "=value", roughly as Espruino prints it: `=2`, `="text"`, `=[ 1, 2 ]`, `={ a: 1 }`, `=undefined`. */
export function formatResult(value: unknown, depth = 0): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "function") return "function () { ... }";
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[ ]";
    return depth > 2 ? "[ ... ]" : "[ " + value.map((item) => formatResult(item, depth + 1)).join(", ") + " ]";
  }
  const prototype = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  if (prototype?.constructor?.name === "SimPin") return String(value);
  const keys = Object.keys(value).filter((key) => !key.startsWith("#"));
  if (!keys.length) return "{ }";
  if (depth > 2) return "{ ... }";
  const record = value as Record<string, unknown>;
  return "{ " + keys.map((key) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)) + ": " + formatResult(record[key], depth + 1)).join(", ") + " }";
}

/** "ReferenceError: x is not defined"; Espruino's own exceptions are `{ type, message }`. */
function describeError(error: unknown): string {
  if (error && typeof error === "object") {
    const fields = error as { name?: unknown; type?: unknown; message?: unknown };
    if (typeof fields.message === "string") return `${String(fields.type ?? fields.name ?? "Error")}: ${fields.message}`;
  }
  return formatResult(error);
}
