// What the tiny firmware's test files share: its smallest build, a board and phone fixture that ends them after the
// file, and a broker that never answers PINGREQ.
import { after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { eachPacket, headerSize } from "../../scripts/faults.ts";
import { bootBoard, type Board, until } from "./board.ts";
import { packet } from "./hostile-broker.ts";
import { Phone } from "./phone.ts";

/** The tiny firmware at its smallest (the defaults build it too, with JSON commands). */
export const TINY = { jsonCommands: false };

/** Boards and phones for one test file, powered off and ended after it. */
export function tinyFixtures() {
  const boards: Board[] = [];
  const phones: Phone[] = [];
  after(async () => {
    for (const board of boards) board.sim.powerOff();
    for (const phone of phones) await phone.end();
  });
  return {
    boards,
    /** A board running the tiny firmware (TINY, then `overrides`); fails if the build picked the full one. */
    async boot(overrides: Record<string, unknown>): Promise<Board> {
      const board = await bootBoard({ ...TINY, ...overrides });
      boards.push(board);
      // Only the full firmware's client says "(session present)".
      assert.doesNotMatch(board.code, /session present/, "the tiny firmware was built");
      return board;
    },
    watch,
    /** A phone on `url` sends `on`, and the board's LED (D2) must come on. */
    async obeysOn(board: Board, url: string, options = {}): Promise<void> {
      await (await watch(url, [], options)).publish("led", "on");
      await until("the LED on", () => board.sim.pinValue("D2") === 1, 10_000, consoleOf(board));
    },
  };

  /** A phone (MQTT.js) on `url`, subscribed to `topics`, ended after the file. */
  async function watch(url: string, topics: string[], options = {}): Promise<Phone> {
    const phone = await Phone.connect(url, topics, options);
    phones.push(phone);
    return phone;
  }
}

export const consoleOf = (board: Board) => () => `; console:\n${board.lines.join("\n")}`;

/** A broker that accepts and answers CONNECT and SUBSCRIBE as told, and never answers PINGREQ. */
export async function mute(answerConnect: boolean): Promise<{ url: string; pings: () => number; sockets: Socket[]; server: Server }> {
  const sockets: Socket[] = [];
  let pings = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (data) => {
      pending = eachPacket(Buffer.concat([pending, data]), (p) => {
        const type = p[0]! >> 4;
        const id = p.subarray(headerSize(p), headerSize(p) + 2);
        if (type === 1 && answerConnect) socket.write(packet(0x20, [0, 0]));
        if (type === 8) socket.write(packet(0x90, [id[0]!, id[1]!, 0]));
        if (type === 12) pings++;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `mqtt://127.0.0.1:${port}`, pings: () => pings, sockets, server };
}

export async function close(server: Server, sockets: Socket[]) {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

