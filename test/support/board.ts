// A built bundle on a simulated board in this process (host-sim's EspruinoSim), with everything it does recorded.
// Its owner ends it.
import { buildFirmware } from "../../esbuild.config.mjs";
import { EspruinoSim, type PinChange, type SimOptions, type SimSocket } from "../../host-sim/runtime.ts";

export interface Board {
  sim: EspruinoSim;
  code: string;
  lines: string[];
  pins: PinChange[];
  pwm: PinChange[];
  sockets: SimSocket[];
  uncaught: string[];
  /** Waits for a console line matching `pattern`, at index `from` or later, and returns it. */
  line(pattern: RegExp | string, from?: number, ms?: number): Promise<string>;
  /** Console lines matching `pattern`. */
  matching(pattern: RegExp): RegExpMatchArray[];
}

/** Resolves once `check` gives a truthy value (polled every 10 ms), or rejects naming `what` after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | null | false, ms = 10_000, context = () => ""): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Builds the firmware with these settings (no config.json, no environment) and boots it on a simulated board. */
export async function bootBoard(overrides: Record<string, unknown>, options: Partial<SimOptions> = {}): Promise<Board> {
  const { code } = await buildFirmware({ outfile: null, configFile: null, env: {}, overrides });
  return bootBundle(code, options);
}

/** Boots this code (a bundle, or a module with code that uses it) on a simulated board, recording what it does. */
export function bootBundle(code: string, options: Partial<SimOptions> = {}): Board {
  const sim = new EspruinoSim({ code, fileName: "firmware.js", wifi: false, ...options });
  const board: Board = {
    sim,
    code,
    lines: [],
    pins: [],
    pwm: [],
    sockets: [],
    uncaught: [],
    line: (pattern, from = 0, ms = 10_000) =>
      until(
        `console line ${pattern}`,
        () => board.lines.slice(from).find((line) => (typeof pattern === "string" ? line.includes(pattern) : pattern.test(line))),
        ms,
        () => `; console:\n${board.lines.join("\n")}`,
      ),
    matching: (pattern) => board.lines.map((line) => line.match(pattern)).filter((match): match is RegExpMatchArray => match !== null),
  };
  sim.on("console", (text: string) => board.lines.push(text));
  sim.on("pin", (change: PinChange) => board.pins.push(change));
  sim.on("pwm", (change: PinChange) => board.pwm.push(change));
  sim.on("socket", (socket: SimSocket) => board.sockets.push(socket));
  sim.on("uncaught", (text: string) => board.uncaught.push(text));
  sim.start();
  return board;
}

