// `npm run explain -- 10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 66 65`: annotates MQTT 3.1.1 bytes field by field,
// as a packet-capture walk-through does, and names the first malformed byte. Several packets may follow each other.
// The bytes are checked with the device codec itself (firmware/mqtt/packet.ts): see host-sim/trace.ts.
// Hex comes as arguments ("10 0e", "100e", "0x10,0x0e") or, with no arguments, on standard input.
// Exit status: 0 when every packet is whole and well-formed, 1 when one is malformed or cut short, 2 for bad input.
import { readFileSync } from "node:fs";
import { explainStream, formatExplained, parseHex } from "../host-sim/trace.ts";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(`usage: npm run explain -- HEX...     (or: echo HEX | npm run explain)
  e.g. npm run explain -- 10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 66 65
  Prints each byte or field of each MQTT 3.1.1 packet with its meaning, and the first malformed byte if any.`);
  process.exit(0);
}

let bytes: string;
try {
  bytes = parseHex(args.length ? args.join(" ") : readFileSync(0, "utf8"));
} catch (error) {
  console.error(`explain: ${(error as Error).message}; give bytes in hex, e.g. 10 0e 00 04 ...`);
  process.exit(2);
}
const packets = explainStream(bytes);
console.log(formatExplained(bytes, packets));
process.exit(packets.some((p) => p.error || p.incomplete || p.disagreement) || !packets.length ? 1 : 0);
