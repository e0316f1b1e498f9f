// Watches the bytes on a simulated board's socket with the device's own codec: reports when an MQTT session is
// accepted and lost, and (for --trace) describes each packet in and out.
import { createReader, decodePacket, Packet } from "../firmware/mqtt/packet.ts";
import type { SimSocket } from "./runtime.ts";

const TYPE_NAMES = [
  "reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved(15)",
];

export interface MqttWatcher {
  connection?(state: "connected" | "disconnected"): void;
  packet?(direction: "in" | "out", description: string): void;
}

/** A one-line description of a packet, from its bytes. */
export function describePacket(bytes: string): string {
  const first = bytes.charCodeAt(0);
  const name = TYPE_NAMES[first >> 4] ?? "?";
  const size = `${bytes.length} bytes`;
  let at = 1;
  while (at < bytes.length && bytes.charCodeAt(at) & 128) at++;
  const decoded = decodePacket(first, bytes.substr(at + 1));
  if (typeof decoded === "number") return `${name} (${size})`;
  return `${name} ${fields(decoded)} (${size})`;
}

function fields(packet: Packet): string {
  const parts: string[] = [];
  if (packet.topic !== undefined) parts.push(`topic=${JSON.stringify(Buffer.from(packet.topic, "latin1").toString("utf8"))}`);
  if (packet.payload !== undefined) parts.push(`payload=${JSON.stringify(packet.payload.length > 64 ? packet.payload.slice(0, 64) + "..." : packet.payload)}`);
  if (packet.qos) parts.push(`qos=${packet.qos}`);
  if (packet.retain) parts.push("retain");
  if (packet.dup) parts.push("dup");
  if (packet.id !== undefined) parts.push(`id=${packet.id}`);
  if (packet.code !== undefined) parts.push(`code=${packet.code}`);
  if (packet.sessionPresent) parts.push("session-present");
  if (packet.granted) parts.push(`granted=${packet.granted.join(",")}`);
  return parts.join(" ");
}

/** Splits a byte stream into whole packets (any type, no size cap) and hands each over with its bytes. */
function framer(onPacket: (bytes: string) => void): (chunk: string) => void {
  let buffered = "";
  return (chunk) => {
    buffered += chunk;
    for (;;) {
      let at = 1;
      let length = 0;
      let multiplier = 1;
      let complete = false;
      while (at < buffered.length && at < 5) {
        const digit = buffered.charCodeAt(at++);
        length += (digit & 127) * multiplier;
        multiplier *= 128;
        if (!(digit & 128)) {
          complete = true;
          break;
        }
      }
      if (!complete || buffered.length < at + length) return;
      onPacket(buffered.slice(0, at + length));
      buffered = buffered.slice(at + length);
    }
  };
}

export function watchMqtt(socket: SimSocket, watcher: MqttWatcher): void {
  let connected = false;
  const incoming = framer((bytes) => {
    watcher.packet?.("in", describePacket(bytes));
    if (!connected && bytes.charCodeAt(0) === 0x20 && bytes.charCodeAt(3) === 0) {
      connected = true;
      watcher.connection?.("connected");
    }
  });
  const outgoing = framer((bytes) => watcher.packet?.("out", describePacket(bytes)));
  socket.on("in", (data: Buffer) => incoming(data.toString("latin1")));
  socket.on("out", (data: Buffer) => outgoing(data.toString("latin1")));
  socket.on("closed", () => {
    if (connected) watcher.connection?.("disconnected");
    connected = false;
  });
}
