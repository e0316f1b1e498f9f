// The simulated board as a separate process (`host-sim/cli.ts --json`), as a user runs it: its JSON lines are
// collected, and it is ended by its pid (SIGKILL: a power cut, no DISCONNECT).
import { spawn, ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export type SimEvent = Record<string, unknown> & { event: string };

export class SimProcess {
  readonly events: SimEvent[] = [];
  readonly child: ChildProcess;
  private waiters: Array<() => void> = [];
  stderr = "";

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ["--import", "tsx", "host-sim/cli.ts", "--json", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as SimEvent);
      } catch {
        this.events.push({ event: "non-json", text: line });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** Resolves with the first event from index `from` on that matches, or rejects after `ms`. */
  async waitFor(match: (event: SimEvent) => boolean, what: string, from = 0, ms = 10_000): Promise<SimEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`sim: no ${what} within ${ms} ms; events:\n${this.events.map((e) => JSON.stringify(e)).join("\n")}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  pinEvents(from = 0): SimEvent[] {
    return this.events.slice(from).filter((e) => e.event === "pin");
  }

  /** Power cut: SIGKILL by pid, so the firmware gets no chance to say goodbye. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    process.kill(this.child.pid!, "SIGKILL");
    await exited;
  }
}
