// A broker that speaks just enough MQTT 3.1.1 to be connected to (CONNACK, SUBACK, PUBACK, PINGRESP), so that a test
// can then send the device anything at all on the live link: malformed packets, oversized ones in pieces, wrong
// packet ids, types a broker never sends, random bytes. Loopback only; `close()` ends the server and every socket.
import { EventEmitter } from "node:events";
import { createServer, Server, Socket } from "node:net";
import { packetSize } from "./fault-proxy.ts";

/** The remaining-length varint. */
export function varint(length: number): Buffer {
  const out: number[] = [];
  do {
    let digit = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) digit |= 128;
    out.push(digit);
  } while (length > 0);
  return Buffer.from(out);
}

/** A packet from its first byte and body. */
export function packet(firstByte: number, body: Buffer | number[] = []): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([Buffer.from([firstByte]), varint(bytes.length), bytes]);
}

/** A PUBLISH (QoS 0 unless `id` is given with `qos`). */
export function publish(topic: string | Buffer, payload: string | Buffer, qos = 0, id = 0): Buffer {
  const name = typeof topic === "string" ? Buffer.from(topic, "utf8") : topic;
  const length = Buffer.alloc(2);
  length.writeUInt16BE(name.length);
  const idBytes = qos ? Buffer.from([id >> 8, id & 255]) : Buffer.alloc(0);
  return packet(0x30 | (qos << 1), Buffer.concat([length, name, idBytes, Buffer.from(payload)]));
}

export interface HostileConnection {
  socket: Socket;
  /** Packet types the device sent, in order. */
  received: number[];
  subscribed: boolean;
}

/** Events: 'connection' (HostileConnection, after CONNECT), 'subscribed' (HostileConnection), 'closed'. */
export class HostileBroker extends EventEmitter {
  readonly connections: HostileConnection[] = [];
  /** Sent instead of the CONNACK on the next connection only. */
  nextConnack: Buffer | null = null;
  private readonly sockets = new Set<Socket>();
  /** While a bulk send is under way, replies wait, so that they never land inside a packet being sent. */
  private bulk = false;
  private deferred: Array<() => void> = [];

  private constructor(private readonly server: Server, readonly port: number) {
    super();
  }

  static async start(): Promise<HostileBroker> {
    let broker: HostileBroker | undefined;
    const server = createServer((socket) => broker!.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("no port");
    broker = new HostileBroker(server, address.port);
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The newest connection. */
  get current(): HostileConnection | undefined {
    return this.connections.at(-1);
  }

  /** Writes raw bytes on the newest connection. */
  send(bytes: Buffer): void {
    const socket = this.current?.socket;
    if (!socket || socket.destroyed) throw new Error("no open connection to the device");
    socket.write(bytes);
  }

  /**
   * Sends one packet of `total` bytes announced by `header`, its body in pieces of `piece` bytes, waiting for each
   * to drain; stops early after `limit` bytes of body if given. `onProgress` sees the body bytes sent so far.
   */
  async sendBulk(header: Buffer, total: number, piece: number, fill = 0x61, limit = total, onProgress?: (sent: number) => Promise<void> | void): Promise<void> {
    const socket = this.current?.socket;
    if (!socket) throw new Error("no open connection to the device");
    this.bulk = true;
    try {
      socket.write(header);
      const block = Buffer.alloc(piece, fill);
      for (let sent = 0; sent < Math.min(total, limit) && !socket.destroyed; ) {
        const n = Math.min(piece, Math.min(total, limit) - sent);
        const ok = socket.write(n === piece ? block : block.subarray(0, n));
        sent += n;
        if (!ok) await new Promise((resolve) => socket.once("drain", resolve));
        await onProgress?.(sent);
      }
    } finally {
      this.bulk = false;
      const deferred = this.deferred;
      this.deferred = [];
      for (const reply of deferred) reply();
    }
  }

  /** Closes the newest connection from the broker's side. */
  hangUp(): void {
    this.current?.socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket) {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const connection: HostileConnection = { socket, received: [], subscribed: false };
    let buffer = Buffer.alloc(0);
    const reply = (bytes: Buffer) => {
      const write = () => {
        if (!socket.destroyed) socket.write(bytes);
      };
      if (this.bulk && this.current === connection) this.deferred.push(write);
      else write();
    };
    socket.on("data", (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const size = packetSize(buffer);
        if (size === null || size > buffer.length) break;
        const p = buffer.subarray(0, size);
        buffer = buffer.subarray(size);
        const type = p[0]! >> 4;
        connection.received.push(type);
        const body = p.subarray(headerLength(p));
        if (type === 1) {
          this.connections.push(connection);
          const connack = this.nextConnack ?? packet(0x20, [0, 0]);
          this.nextConnack = null;
          reply(connack);
          this.emit("connection", connection);
        } else if (type === 8) {
          const granted: number[] = [];
          for (let at = 2; at + 2 <= body.length; at += 3 + body.readUInt16BE(at)) granted.push(Math.min(1, body[at + 2 + body.readUInt16BE(at)] ?? 0));
          reply(packet(0x90, [body[0]!, body[1]!, ...granted]));
          connection.subscribed = true;
          this.emit("subscribed", connection);
        } else if (type === 3 && (p[0]! & 6) === 2) {
          const topicLength = body.readUInt16BE(0);
          reply(packet(0x40, [body[2 + topicLength]!, body[3 + topicLength]!]));
        } else if (type === 12) {
          reply(packet(0xd0));
        } else if (type === 14) {
          socket.end();
        }
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.sockets.delete(socket);
      this.emit("closed", connection);
    });
  }
}

function headerLength(p: Buffer): number {
  let at = 1;
  while (p[at]! & 128) at++;
  return at + 1;
}
