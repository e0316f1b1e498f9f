// Brokers that the phone page can reach: MQTT over WebSocket as well as TCP, with user names and passwords.
// Mosquitto gets a WebSocket listener and a password file (mosquitto_passwd); aedes an authenticate handler.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAedes, startPageServer } from "../../host-sim/broker.ts";
import { freePort, startMosquitto, waitForPort } from "./brokers.ts";

export const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd";

export interface User {
  username: string;
  password: string;
}

export interface WsBroker {
  name: string;
  /** `mqtt://user:password@127.0.0.1:port`: the TCP listener, with the device's credentials (for its bundle). */
  deviceUrl: string;
  /** `mqtt://127.0.0.1:port`: the TCP listener without credentials (give them as options). */
  url: string;
  /** The WebSocket listener, for the page. */
  wsUrl: string;
  /** Where the page is served from (aedes: the broker's own HTTP port; Mosquitto: a page server beside it). */
  pageUrl: string;
  stop(): Promise<void>;
}

function withUser(url: string, user: User): string {
  const parsed = new URL(url);
  parsed.username = user.username;
  parsed.password = user.password;
  return parsed.toString().replace(/\/$/, "");
}

/**
 * Mosquitto with a WebSocket listener on loopback and only the given users. Mosquitto 2.0.11 (Debian 12) needs
 * `socket_domain ipv4` there: without it, the WebSocket listener binds to every address whatever `listener` names
 * (eclipse-mosquitto/mosquitto#3045). And it must have a TCP listener as well: a WebSocket-only config does not
 * start (#2284).
 */
export async function startMosquittoWs(users: User[]): Promise<WsBroker> {
  const dir = mkdtempSync(join(tmpdir(), "mosquitto-ws-"));
  // Mosquitto started as root reads its password file after dropping to the user "mosquitto".
  chmodSync(dir, 0o755);
  const passwordFile = join(dir, "passwords");
  users.forEach((user, i) => execFileSync(MOSQUITTO_PASSWD, [...(i === 0 ? ["-c"] : []), "-b", passwordFile, user.username, user.password]));
  chmodSync(passwordFile, 0o644);
  const wsPort = await freePort();
  let mosquitto: Awaited<ReturnType<typeof startMosquitto>> | undefined;
  let page: Awaited<ReturnType<typeof startPageServer>> | undefined;
  try {
    mosquitto = await startMosquitto([
      `listener ${wsPort} 127.0.0.1`,
      "protocol websockets",
      "socket_domain ipv4",
      "allow_anonymous false",
      `password_file ${passwordFile}`,
    ]);
    await waitForPort(wsPort, "mosquitto's WebSocket listener");
    page = await startPageServer(0);
  } catch (error) {
    await mosquitto?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const started = mosquitto;
  const pageServer = page;
  return {
    name: "mosquitto",
    url: started.url,
    deviceUrl: withUser(started.url, users[0]!),
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    pageUrl: pageServer.url,
    stop: async () => {
      await pageServer.close();
      await started.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** aedes as `npm run sim` runs it (TCP, and HTTP with the page and WebSocket), accepting only `users`. */
export async function startAedesWs(users: User[]): Promise<WsBroker> {
  const broker = await startAedes(0, "127.0.0.1", { http: { port: 0 }, users });
  return {
    name: "aedes",
    url: broker.url,
    deviceUrl: withUser(broker.url, users[0]!),
    wsUrl: broker.wsUrl!,
    pageUrl: broker.pageUrl!,
    stop: broker.close,
  };
}
