// An embedded MQTT broker (aedes) for `npm run sim` and the tests: MQTT over TCP, and optionally an HTTP server that
// serves the phone page (phone/) and carries MQTT over WebSocket on the same port.
import { Aedes, AuthenticateError } from "aedes";
import { createServer as createHttpServer, IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import { createServer, Server, Socket } from "node:net";
import { createRequire } from "node:module";
import { readFile, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer, createWebSocketStream } from "ws";

export interface RunningBroker {
  /** `mqtt://host:port`, for the device; a wildcard bind address is given as 127.0.0.1. */
  url: string;
  port: number;
  /** With `http`: the broker over WebSocket (`ws://host:port/mqtt`; any path is accepted). */
  wsUrl?: string;
  /** With `http`: the phone page (`http://host:port/`). */
  pageUrl?: string;
  httpPort?: number;
  close(): Promise<void>;
}

export interface AedesOptions {
  /** Also listen for HTTP on this port (0: a free one): the phone page, and MQTT over WebSocket. */
  http?: { port: number };
  /** Accept only these user names and passwords; anything else gets CONNACK 4 (bad user name or password). */
  users?: Array<{ username: string; password: string }>;
}

/** Where the page lives, and MQTT.js's browser build (served as /mqtt.min.js, so the page needs no build step). */
export const PAGE_DIR = fileURLToPath(new URL("../phone/", import.meta.url));
export const MQTT_BROWSER_BUILD = createRequire(import.meta.url).resolve("mqtt/dist/mqtt.min");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".webmanifest": "application/manifest+json",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** GET and HEAD of the files under phone/ (`/` is index.html) and of /mqtt.min.js; nothing else. */
async function servePage(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const fail = (status: number, text: string) => {
    response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    response.end(text + "\n");
  };
  if (request.method !== "GET" && request.method !== "HEAD") return fail(405, "method not allowed");
  let path: string;
  try {
    path = decodeURIComponent(new URL(request.url ?? "/", "http://page").pathname);
  } catch {
    return fail(400, "bad path");
  }
  const file = path === "/mqtt.min.js" ? MQTT_BROWSER_BUILD : resolve(PAGE_DIR, "." + (path === "/" ? "/index.html" : path));
  const type = CONTENT_TYPES[extname(file)];
  const inPage = file.startsWith(PAGE_DIR.endsWith(sep) ? PAGE_DIR : PAGE_DIR + sep);
  if ((file !== MQTT_BROWSER_BUILD && !inPage) || !type || !(await stat(file).catch(() => null))?.isFile()) return fail(404, "not found");
  const body = await readFile(file);
  // A development server: always revalidate, so an edited page shows on the next reload.
  response.writeHead(200, { "content-type": type, "content-length": body.length, "cache-control": "no-cache", "x-content-type-options": "nosniff" });
  response.end(request.method === "HEAD" ? undefined : body);
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** Listens, keeps track of connections (so that close() can drop them at once) and returns the bound port. */
async function listen(server: Server | HttpServer, port: number, host: string): Promise<{ port: number; close: () => Promise<void> }> {
  const connections = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      }),
  };
}

/**
 * An HTTP server for the phone page alone (for a broker that is not this one, e.g. Mosquitto's WebSocket
 * listener). Listens on `host`:`port` (0: a free one); rejects if the port is taken.
 */
export async function startPageServer(port = 0, host = "127.0.0.1"): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = createHttpServer((request, response) => void servePage(request, response).catch(() => response.destroy()));
  const listening = await listen(server, port, host);
  return { url: `http://${isWildcard(host) ? "127.0.0.1" : host}:${listening.port}/`, port: listening.port, close: listening.close };
}

/**
 * Listens on `host`:`port` (port 0 picks a free one; host 127.0.0.1 unless told otherwise). Rejects if a port is
 * taken. With `options.http`, also serves the phone page and MQTT over WebSocket on that port.
 */
export async function startAedes(port = 0, host = "127.0.0.1", options: AedesOptions = {}): Promise<RunningBroker> {
  const users = options.users;
  const broker = await Aedes.createBroker(
    users
      ? {
          authenticate: (_client, username, password, done) => {
            if (users.some((user) => user.username === username && user.password === password?.toString("utf8"))) return done(null, true);
            const error = new Error("bad user name or password") as AuthenticateError;
            error.returnCode = 4; // AuthErrorCode.BAD_USERNAME_OR_PASSWORD (a const enum, not importable here)
            done(error, null);
          },
        }
      : {},
  );
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    await Promise.all(closers.map((close) => close()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  };
  try {
    const tcp = await listen(createServer(broker.handle), port, host);
    closers.push(tcp.close);
    const shownHost = isWildcard(host) ? "127.0.0.1" : host;
    const running: RunningBroker = { url: `mqtt://${shownHost}:${tcp.port}`, port: tcp.port, close: closeAll };
    if (options.http) {
      const server = createHttpServer((request, response) => void servePage(request, response).catch(() => response.destroy()));
      const wss = new WebSocketServer({ server });
      // ws re-emits the HTTP server's errors (EADDRINUSE when the port is taken); listen() below already reports
      // them, and without a listener here the re-emitted one would crash the process instead of falling back.
      wss.on("error", () => undefined);
      wss.on("connection", (websocket, request) => {
        const stream = createWebSocketStream(websocket);
        stream.on("error", () => websocket.terminate());
        broker.handle(stream, request);
      });
      const http = await listen(server, options.http.port, host);
      closers.push(async () => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        await http.close();
      });
      running.httpPort = http.port;
      running.wsUrl = `ws://${shownHost}:${http.port}/mqtt`;
      running.pageUrl = `http://${shownHost}:${http.port}/`;
    }
    return running;
  } catch (error) {
    await closeAll();
    throw error;
  }
}
