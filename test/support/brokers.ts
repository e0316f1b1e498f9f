// Real brokers for end-to-end tests: Mosquitto (its own config, a free loopback port, ended by pid) and aedes.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAedes } from "../../host-sim/broker.ts";

export const MOSQUITTO = "/usr/sbin/mosquitto";

/** Mosquitto pids still running: killed when this process exits, so a test cut short (a timeout) leaks none. */
const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
});

export interface TestBroker {
  name: string;
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` now. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Waits until `port` accepts connections; `failure` may explain early why it never will (a process that exited). */
export async function waitForPort(port: number, what: string, failure: () => string | null = () => null, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const reason = failure();
    if (reason) throw new Error(reason);
    if (await portAccepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not listen on ${port} within ${ms} ms${failure() ?? ""}`);
}

export interface MosquittoPlace {
  /** Listen here instead of on a free port (a restart on the same port). */
  port?: number;
  /** Keep the config and persistence files here (a restart that finds its saved sessions); kept after stop(). */
  dir?: string;
}

/**
 * Starts Mosquitto on a free loopback port with a config of its own; extra lines are appended to the config.
 * `stop()` ends it with SIGTERM (a clean shutdown), `kill()` with SIGKILL (a crash); both by its pid.
 */
export async function startMosquitto(extraConfig: string[] = [], place: MosquittoPlace = {}): Promise<TestBroker & { pid: number; dir: string; kill(): Promise<void> }> {
  const port = place.port ?? (await freePort());
  const dir = place.dir ?? mkdtempSync(join(tmpdir(), "mosquitto-"));
  const configFile = join(dir, "mosquitto.conf");
  writeFileSync(configFile, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_dest stderr", "log_type error", "log_type warning",
    // Nagle's algorithm on this machine's loopback was seen holding Mosquitto's packets behind a delayed ACK for
    // seconds; a test waiting on them would stall. Later lines (extraConfig) may still set what they need.
    "set_tcp_nodelay true", ...extraConfig].join("\n") + "\n");
  const child = spawn(MOSQUITTO, ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await waitForPort(port, "mosquitto", () => (child.exitCode !== null ? `mosquitto exited with ${child.exitCode}:\n${stderr}` : null));
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const pid = child.pid!;
  running.add(pid);
  child.once("exit", () => running.delete(pid));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(pid, signal);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, "SIGKILL");
      await exited;
    }
  };
  return {
    name: "mosquitto",
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid,
    dir,
    kill: () => end("SIGKILL"),
    stop: async () => {
      await end("SIGTERM");
      if (!place.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startAedesBroker(): Promise<TestBroker> {
  const broker = await startAedes(0);
  return { name: "aedes", url: broker.url, port: broker.port, stop: broker.close };
}
