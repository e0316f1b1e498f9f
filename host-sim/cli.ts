// `npm run sim`: runs the firmware bundle on a simulated board against an embedded broker (aedes) or a real one.
// Human-readable output by default; with --json, one JSON object per line on stdout.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildFirmware } from "../esbuild.config.mjs";
import { startAedes, RunningBroker } from "./broker.ts";
import { EspruinoSim, PinChange, SimSocket } from "./runtime.ts";
import { watchMqtt } from "./trace.ts";

const USAGE = `usage: npm run sim -- [options]
  --broker URL       use this broker (mqtt://host:port) instead of starting an embedded one
  --port N           port for the embedded broker (default 1883, or a free one if 1883 is taken)
  --client-id ID     MQTT client id (default: from config, else derived from the board's serial)
  --topic BASE       base topic (default: from config, else "led")
  --keepalive S      keepalive in seconds
  --bundle FILE      run this built bundle as it is instead of building one from config and flags
  --no-wifi          simulate a board without the Wifi module (like Espruino's Linux build)
  --json             one JSON object per line on stdout
  --trace            print every MQTT packet in and out
  --help`;

function parse() {
  try {
    return parseArgs({
      options: {
        broker: { type: "string" },
        port: { type: "string" },
        "client-id": { type: "string" },
        topic: { type: "string" },
        keepalive: { type: "string" },
        bundle: { type: "string" },
        "no-wifi": { type: "boolean" },
        json: { type: "boolean" },
        trace: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

async function startEmbeddedBroker(port: string | undefined): Promise<RunningBroker> {
  if (port !== undefined) return startAedes(Number(port));
  try {
    return await startAedes(1883);
  } catch {
    return startAedes(0);
  }
}

async function main() {
  const flags = parse();
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const json = flags.json === true;
  const print = (event: Record<string, unknown>, human: string) => {
    if (json) process.stdout.write(JSON.stringify(event) + "\n");
    else console.log(human);
  };

  const broker = flags.broker === undefined ? await startEmbeddedBroker(flags.port) : null;
  const brokerUrl = flags.broker ?? broker!.url;
  if (broker) print({ event: "broker", url: broker.url }, `embedded MQTT broker (aedes) listening on ${broker.url}`);

  let code: string;
  let baseTopic: string;
  if (flags.bundle) {
    code = readFileSync(flags.bundle, "latin1");
    baseTopic = flags.topic ?? "led";
  } else {
    const built = await buildFirmware({
      outfile: null,
      overrides: {
        mqttUrl: brokerUrl,
        clientId: flags["client-id"],
        baseTopic: flags.topic,
        keepalive: flags.keepalive === undefined ? undefined : Number(flags.keepalive),
      },
    });
    code = built.code;
    baseTopic = built.config.baseTopic;
  }
  print({ event: "bundle", bytes: code.length }, `firmware bundle: ${code.length} bytes`);

  const sim = new EspruinoSim({ code, fileName: flags.bundle ?? "firmware.js", wifi: flags["no-wifi"] !== true });
  sim.on("console", (text: string) => print({ event: "console", text }, `[device] ${text}`));
  sim.on("pin", (change: PinChange) =>
    print({ event: "pin", pin: change.pin, value: change.value }, `[pin] ${change.pin} = ${change.value}`),
  );
  sim.on("socket", (socket: SimSocket) => {
    watchMqtt(socket, {
      connection: (state) => print({ event: "mqtt", state }, `[mqtt] ${state}`),
      packet: flags.trace
        ? (direction, text) => print({ event: "packet", direction, text }, `[mqtt ${direction === "out" ? ">" : "<"}] ${text}`)
        : undefined,
    });
  });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    print({ event: "stopping" }, "stopping: the device says offline and disconnects");
    await sim.stop();
    await broker?.close();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  sim.start();
  if (broker) {
    const url = new URL(broker.url);
    print(
      { event: "hint", text: "switch the LED" },
      `switch the LED from another terminal:\n  mosquitto_pub -h ${url.hostname} -p ${url.port} -t ${baseTopic} -m on\n` +
        `  mosquitto_sub -h ${url.hostname} -p ${url.port} -t '${baseTopic}/#' -v\nCtrl-C stops.`,
    );
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
