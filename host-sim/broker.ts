// An embedded MQTT broker (aedes) on a loopback port, for `npm run sim` and the tests.
import { Aedes } from "aedes";
import { createServer, Server, Socket } from "node:net";

export interface RunningBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port`; port 0 picks a free one. Rejects if the port is taken. */
export async function startAedes(port = 0, host = "127.0.0.1"): Promise<RunningBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  const connections = new Set<Socket>();
  server.on("connection", (socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("aedes: no TCP address");
  return {
    url: `mqtt://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close(() => undefined);
        // Drop lingering client connections so that close() returns promptly.
        for (const socket of connections) socket.destroy();
      }),
  };
}
