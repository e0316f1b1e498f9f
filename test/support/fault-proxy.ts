// A TCP proxy for fault tests, between a simulated board and a real broker, on loopback only. It forwards whole
// MQTT packets (it frames both directions by the remaining-length varint) and can, while running:
//   split  every byte of broker -> device traffic becomes its own write, spaced so that each is its own read;
//   join   packets in both directions are held for a short window and written together, several per read;
//   delay  every packet waits `ms` before it is forwarded (order is kept);
//   stall  the links open now go silent both ways, without a FIN or RST (a half-open link); new links work;
//   cut    the next packet in a direction is forwarded only in part, then both sides are destroyed;
//   hold   packets of one MQTT type in one direction wait (others pass) until `release()`.
// `close()` ends the server and every socket it holds.
import { createServer, connect, Server, Socket } from "node:net";

export type Direction = "toBroker" | "toDevice";

export interface FaultProxyOptions {
  /** The broker's port on 127.0.0.1; may be changed later (`target`). */
  targetPort: number;
}

interface Pair {
  device: Socket;
  broker: Socket;
  stalled: boolean;
  /** Bytes received but not yet a whole packet, per direction. */
  partial: Record<Direction, Buffer>;
  /** Forwarding of each direction is serialised through this chain, so delays keep order. */
  chain: Record<Direction, Promise<void>>;
  held: Record<Direction, Buffer[]>;
  holdTimer: Record<Direction, NodeJS.Timeout | null>;
}

export interface FaultProxyStats {
  connections: number;
  packets: Record<Direction, number>;
  /** Writes made to the device in split mode (each one byte). */
  splitWrites: number;
  /** Writes to the device that carried more than one packet (join mode). */
  joinedWrites: number;
  cuts: number;
}

export class FaultProxy {
  readonly stats: FaultProxyStats = { connections: 0, packets: { toBroker: 0, toDevice: 0 }, splitWrites: 0, joinedWrites: 0, cuts: 0 };
  mode: { split: boolean; join: number; delay: number } = { split: false, join: 0, delay: 0 };
  private readonly pairs = new Set<Pair>();
  private pendingCut: { direction: Direction; type?: number; resolve: () => void } | null = null;
  private holding: { direction: Direction; type: number } | null = null;
  private readonly heldBack: Array<{ pair: Pair; direction: Direction; packet: Buffer }> = [];
  private constructor(private readonly server: Server, readonly port: number, public targetPort: number) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((device) => proxy!.accept(device));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("proxy has no port");
    proxy = new FaultProxy(server, address.port, options.targetPort);
    return proxy;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Links open now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Normal forwarding from now on (split, join, delay off); stalled links stay stalled. */
  clear(): void {
    this.mode = { split: false, join: 0, delay: 0 };
  }

  /** Every link open now goes silent in both directions and stays open: neither side hears of it. */
  stall(): number {
    let count = 0;
    for (const pair of this.pairs) {
      if (!pair.stalled) count++;
      pair.stalled = true;
    }
    return count;
  }

  /**
   * The next packet in `direction` (of MQTT type `type`, when given) is forwarded up to about half its bytes, then
   * both sockets are destroyed. Resolves when the cut has been made.
   */
  cutNext(direction: Direction, type?: number): Promise<void> {
    return new Promise((resolve) => {
      this.pendingCut = { direction, type, resolve };
    });
  }

  /** Packets of MQTT type `type` (4: PUBACK) going `direction` wait, in order, until `release()`; others pass. */
  hold(direction: Direction, type: number): void {
    this.holding = { direction, type };
  }

  /** Packets held so far. */
  get heldCount(): number {
    return this.heldBack.length;
  }

  /** Stops holding and forwards what was held, in order, on the links still open; returns how many. */
  release(): number {
    this.holding = null;
    const held = this.heldBack.splice(0);
    for (const { pair, direction, packet } of held) if (this.pairs.has(pair)) this.forward(pair, direction, packet);
    return held.length;
  }

  /** Destroys every open link at once (an RST to both sides). */
  dropAll(): void {
    for (const pair of [...this.pairs]) this.end(pair);
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(device: Socket) {
    this.stats.connections++;
    const broker = connect(this.targetPort, "127.0.0.1");
    device.setNoDelay(true);
    broker.setNoDelay(true);
    const pair: Pair = {
      device,
      broker,
      stalled: false,
      partial: { toBroker: Buffer.alloc(0), toDevice: Buffer.alloc(0) },
      chain: { toBroker: Promise.resolve(), toDevice: Promise.resolve() },
      held: { toBroker: [], toDevice: [] },
      holdTimer: { toBroker: null, toDevice: null },
    };
    this.pairs.add(pair);
    device.on("data", (data: Buffer) => this.receive(pair, "toBroker", data));
    broker.on("data", (data: Buffer) => this.receive(pair, "toDevice", data));
    // Either side closing closes the other, as a transparent middlebox would. On a stalled link the broker hears
    // nothing when the device gives up: its side stays open until the broker's own keepalive (or a takeover by the
    // device's next connection) ends it, as with a real half-open link.
    device.on("close", () => {
      if (!pair.stalled) this.end(pair);
    });
    broker.on("close", () => this.end(pair));
    device.on("error", () => {});
    broker.on("error", () => {});
  }

  private end(pair: Pair) {
    if (!this.pairs.delete(pair)) return;
    for (const direction of ["toBroker", "toDevice"] as const) {
      const timer = pair.holdTimer[direction];
      if (timer) clearTimeout(timer);
    }
    pair.device.destroy();
    pair.broker.destroy();
  }

  /** Splits the stream of one direction into whole packets. */
  private receive(pair: Pair, direction: Direction, data: Buffer) {
    if (pair.stalled) return;
    let buffer = Buffer.concat([pair.partial[direction], data]);
    for (;;) {
      const size = packetSize(buffer);
      if (size === null || size > buffer.length) break;
      this.forward(pair, direction, buffer.subarray(0, size));
      buffer = buffer.subarray(size);
    }
    pair.partial[direction] = Buffer.from(buffer);
  }

  private forward(pair: Pair, direction: Direction, packet: Buffer) {
    if (this.holding && this.holding.direction === direction && packet[0]! >> 4 === this.holding.type) {
      this.heldBack.push({ pair, direction, packet });
      return;
    }
    this.stats.packets[direction]++;
    const cut = this.pendingCut;
    if (cut && cut.direction === direction && (cut.type === undefined || packet[0]! >> 4 === cut.type)) {
      this.pendingCut = null;
      this.stats.cuts++;
      const keep = Math.max(1, Math.floor(packet.length / 2));
      const out = direction === "toBroker" ? pair.broker : pair.device;
      pair.chain[direction] = pair.chain[direction].then(
        () =>
          new Promise<void>((resolve) => {
            out.write(packet.subarray(0, keep), () => {
              this.end(pair);
              cut.resolve();
              resolve();
            });
          }),
      );
      return;
    }
    const delay = this.mode.delay;
    const split = this.mode.split && direction === "toDevice";
    const join = this.mode.join;
    pair.chain[direction] = pair.chain[direction].then(async () => {
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
      if (pair.stalled || !this.pairs.has(pair)) return;
      const out = direction === "toBroker" ? pair.broker : pair.device;
      if (split) {
        for (let i = 0; i < packet.length; i++) {
          if (pair.stalled || !this.pairs.has(pair)) return;
          out.write(packet.subarray(i, i + 1));
          this.stats.splitWrites++;
          // A turn of the event loop between bytes, so the receiver reads each one on its own.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      } else if (join) {
        pair.held[direction].push(packet);
        if (!pair.holdTimer[direction]) {
          pair.holdTimer[direction] = setTimeout(() => {
            pair.holdTimer[direction] = null;
            const held = pair.held[direction];
            pair.held[direction] = [];
            if (pair.stalled || !this.pairs.has(pair)) return;
            if (held.length > 1 && direction === "toDevice") this.stats.joinedWrites++;
            out.write(Buffer.concat(held));
          }, join);
        }
      } else {
        out.write(packet);
      }
    });
  }
}

/** The whole size of the MQTT packet at the start of `buffer`, or null while its header is incomplete. */
export function packetSize(buffer: Buffer): number | null {
  let length = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= buffer.length) return null;
    const digit = buffer[i]!;
    length += (digit & 127) * 128 ** (i - 1);
    if (!(digit & 128)) return 1 + i + length;
  }
  // A length past 4 bytes: treat the rest as one packet so that the far end sees the malformed bytes.
  return buffer.length;
}
