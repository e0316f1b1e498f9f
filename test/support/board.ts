// A built bundle on a simulated board in this process (host-sim's EspruinoSim), with everything it does recorded,
// and an MQTT.js client with options (credentials, a CA) that records what it sees. Both are ended by their owner.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
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

export interface Message {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An MQTT.js client (the phone, or Home Assistant) that records every message it receives. */
export class Watcher {
  readonly seen: Message[] = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => this.seen.push({ topic, payload: payload.toString("utf8"), retain: packet.retain }));
  }

  static async connect(url: string, subscribe: string[], options: IClientOptions = {}): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, {
      clientId: `watch${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    const watcher = new Watcher(client);
    if (subscribe.length) await client.subscribeAsync(subscribe);
    return watcher;
  }

  async publish(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { retain });
  }

  /** The first message on `topic` (with `payload`, if given) seen at index `from` or later. */
  async waitFor(topic: string, payload?: string, from = 0, ms = 10_000): Promise<Message> {
    return until(
      `${topic}${payload === undefined ? "" : "=" + payload}`,
      () => this.seen.slice(from).find((m) => m.topic === topic && (payload === undefined || m.payload === payload)),
      ms,
      () => `; seen: ${JSON.stringify(this.seen)}`,
    );
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}
