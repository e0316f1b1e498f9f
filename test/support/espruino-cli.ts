// The real Espruino CLI (npm package `espruino`) as a user runs it, with a time limit, and a raw client for a REPL
// on a TCP port (the simulated board's, as `npm run sim -- --repl PORT` offers it).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ESPRUINO_CLI = "node_modules/espruino/bin/espruino-cli.js";

export interface CliRun {
  /** Exit code; null when it was killed at the time limit. */
  code: number | null;
  /** stdout and stderr, interleaved as they came. */
  output: string;
}

/**
 * Runs the Espruino CLI with `args` and `--config BOARD_JSON_URL=… --config MODULE_URL=…` pointing at an empty
 * local folder, so that it talks to nothing but the port it is given (by default it looks up the board's JSON and
 * modules on espruino.com). Killed by its pid (SIGKILL) after `timeoutMs`.
 */
export async function runEspruinoCli(args: string[], timeoutMs = 30_000): Promise<CliRun> {
  const offline = mkdtempSync(join(tmpdir(), "espruino-offline-"));
  const child = spawn(process.execPath, [ESPRUINO_CLI, "--config", `BOARD_JSON_URL=${offline}`, "--config", `MODULE_URL=${offline}`, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  rmSync(offline, { recursive: true, force: true });
  return { code, output };
}

/** A bare TCP client of a REPL: what it sends, byte for byte, and everything that comes back. */
export class ReplClient {
  received = "";
  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => (this.received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<ReplClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    return new ReplClient(socket);
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.readyState === "closed";
  }

  /** Sends `text` (bytes as latin1) and returns what comes back until `until` is seen, or after `ms` of waiting. */
  async send(text: string, until: string | RegExp, ms = 3000): Promise<string> {
    const from = this.received.length;
    this.socket.write(Buffer.from(text, "latin1"));
    return this.waitFor(until, from, ms);
  }

  /** What came in from index `from` on, once it holds `until`; throws after `ms`. */
  async waitFor(until: string | RegExp, from = 0, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = this.received.slice(from);
      if (typeof until === "string" ? got.includes(until) : until.test(got)) return got;
      if (Date.now() > deadline) throw new Error(`REPL: no ${String(until)} within ${ms} ms; got ${JSON.stringify(got)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Sends and waits `ms`, then returns everything that came back (for answers that must be exact). */
  async exchange(text: string, ms = 150): Promise<string> {
    const from = this.received.length;
    this.socket.write(Buffer.from(text, "latin1"));
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.received.slice(from);
  }

  close(): void {
    this.socket.destroy();
  }
}
