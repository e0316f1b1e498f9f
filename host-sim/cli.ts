// `npm run sim`: runs the firmware bundle on a simulated board against an embedded broker (aedes) or a real one.
// It also serves the phone page (phone/) over HTTP, with the embedded broker over WebSocket on the same port.
// Human-readable output by default; with --json, one JSON object per line on stdout.
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { parseArgs } from "node:util";
import { buildFirmware } from "../esbuild.config.mjs";
import { startAedes, startPageServer, RunningBroker } from "./broker.ts";
import { BootReport, RestartKind, SimBoard, startRepl } from "./repl.ts";
import { EspruinoSim, PinChange, SimSocket, SimStorage } from "./runtime.ts";
import { watchMqtt } from "./trace.ts";
import { Fleet, fleetClientId } from "./fleet.ts";

const USAGE = `usage: npm run sim -- [options]
  --broker URL       use this broker (mqtt://host:port) instead of starting an embedded one
  --port N           port for the embedded broker (default 1883, or a free one if 1883 is taken)
  --http-port N      port for the phone page and MQTT over WebSocket (default 8080, or a free one if taken)
  --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 lets a phone on your network in)
  --client-id ID     MQTT client id (default: from config, else derived from the board's serial)
  --topic BASE       base topic (default: from config, else "led")
  --keepalive S      keepalive in seconds
  --bundle FILE      run this built bundle as it is instead of building one from config and flags
  --no-wifi          simulate a board without the Wifi module (like Espruino's Linux build)
  --repl PORT        offer Espruino's REPL on tcp://HOST:PORT, for the Espruino CLI
                     (npm run flash -- --port tcp://127.0.0.1:PORT); 0: a free port
  --devices N        run N simulated boards (a fleet), each with its own client id from its serial number
  --blank            no bundle: the board boots from its flash, empty unless --flash holds code
  --flash FILE       keep the board's flash (Storage, where uploads go) in FILE, so that code uploaded
                     through --repl runs again when the sim is started again (default: in memory)
  --espruino-version V  the version the board reports to the Espruino CLI (default 2v29; only the answer
                     changes, the board still behaves as 2v29), to see npm run flash refuse an old one
  --json             one JSON object per line on stdout
  --trace            print every MQTT packet in and out
  --help`;

function parse() {
  try {
    return parseArgs({
      options: {
        broker: { type: "string" },
        port: { type: "string" },
        "http-port": { type: "string" },
        host: { type: "string" },
        "client-id": { type: "string" },
        topic: { type: "string" },
        keepalive: { type: "string" },
        bundle: { type: "string" },
        "no-wifi": { type: "boolean" },
        repl: { type: "string" },
        blank: { type: "boolean" },
        devices: { type: "string" },
        flash: { type: "string" },
        "espruino-version": { type: "string" },
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

/** Ports given on the command line are used as they are; the default ones fall back to free ones when taken. */
async function startEmbeddedBroker(port: string | undefined, httpPort: string | undefined, host: string): Promise<RunningBroker> {
  const tcpPorts = port !== undefined ? [Number(port)] : [1883, 0];
  const httpPorts = httpPort !== undefined ? [Number(httpPort)] : [8080, 0];
  let lastError: unknown;
  for (const tcp of tcpPorts) {
    for (const http of httpPorts) {
      try {
        return await startAedes(tcp, host, { http: { port: http } });
      } catch (error) {
        lastError = error;
      }
    }
  }
  throw lastError;
}

async function startPage(httpPort: string | undefined, host: string) {
  if (httpPort !== undefined) return startPageServer(Number(httpPort), host);
  try {
    return await startPageServer(8080, host);
  } catch {
    return startPageServer(0, host);
  }
}

/** The page's URLs on this machine's network interfaces (non-loopback IPv4), for a phone on the same network. */
function lanUrls(host: string, port: number): string[] {
  if (host !== "0.0.0.0" && host !== "::") return [];
  return Object.values(networkInterfaces())
    .flat()
    .filter((address) => address && address.family === "IPv4" && !address.internal)
    .map((address) => `http://${address!.address}:${port}/`);
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

  const host = flags.host ?? "127.0.0.1";
  const replPort = flags.repl === undefined ? undefined : Number(flags.repl);
  if (replPort !== undefined && !(Number.isInteger(replPort) && replPort >= 0 && replPort < 65536)) {
    console.error(`--repl ${flags.repl}: not a port number\n${USAGE}`);
    process.exit(2);
  }
  if (flags.blank && flags.bundle) {
    console.error(`--blank and --bundle: choose one\n${USAGE}`);
    process.exit(2);
  }
  const devices = flags.devices === undefined ? undefined : Number(flags.devices);
  if (devices !== undefined) {
    const clash = flags["client-id"] ? "--client-id" : flags.blank ? "--blank" : flags.repl !== undefined ? "--repl" : flags.flash ? "--flash" : null;
    if (!(Number.isInteger(devices) && devices >= 1 && devices <= 10000) || clash) {
      console.error(`${clash ? `--devices with ${clash}: each board of a fleet takes its own client id and runs the bundle` : `--devices ${flags.devices}: a whole number from 1 to 10000`}\n${USAGE}`);
      process.exit(2);
    }
  }
  const broker = flags.broker === undefined ? await startEmbeddedBroker(flags.port, flags["http-port"], host) : null;
  const brokerUrl = flags.broker ?? broker!.url;
  if (broker) {
    print({ event: "broker", url: broker.url, ws: broker.wsUrl }, `embedded MQTT broker (aedes) listening on ${broker.url} and ${broker.wsUrl}`);
  }
  // With an external broker the page is served on its own; its settings then need that broker's WebSocket URL.
  const pageServer = broker ? null : await startPage(flags["http-port"], host);
  const pageUrl = broker ? broker.pageUrl! : pageServer!.url;

  let code: string | undefined;
  /** The firmware's entry where the bundle was built here: firmware/tiny.ts, or main.ts where a setting needs it. */
  let entry: string | undefined;
  let baseTopic: string;
  if (flags.blank) {
    baseTopic = flags.topic ?? "led";
  } else if (flags.bundle) {
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
    entry = built.entry;
    baseTopic = built.config.baseTopic;
    if (devices !== undefined && built.config.clientId !== undefined) {
      console.error("--devices: config.json or CLIENT_ID sets one client id, which every board of the fleet would share; unset it");
      process.exit(2);
    }
  }
  if (code !== undefined) print({ event: "bundle", bytes: code.length, entry }, `firmware bundle: ${code.length} bytes${entry ? `, built from ${entry}` : ""}`);
  // What the page cannot guess goes into its address, and from there into its settings: a base topic other than
  // led, and an external broker's URL when it is a WebSocket one.
  const params = new URLSearchParams();
  if (flags.broker && /^wss?:\/\//i.test(flags.broker)) params.set("broker", flags.broker);
  if (baseTopic !== "led") params.set("topic", baseTopic);
  const query = params.size ? `?${params}` : "";
  const lan = lanUrls(host, broker ? broker.httpPort! : pageServer!.port).map((url) => url + query);
  print(
    { event: "page", url: pageUrl + query, lan },
    `phone page: ${pageUrl}${query}` +
      (broker || params.has("broker") ? "" : `\n  (set the WebSocket URL of your broker in the page's settings: ${flags.broker} is not one)`) +
      (lan.length
        ? `\n  on a phone on the same network: ${lan.join(" or ")}` + (broker ? "\n  (the embedded broker has no password: anyone on the network can switch the LED)" : "")
        : host === "127.0.0.1" || host === "localhost" || host === "::1"
          ? "\n  (loopback only: to open it on a phone on the same network, add --host 0.0.0.0)"
          : ""),
  );

  if (devices !== undefined && code !== undefined) return runFleet(code, devices, flags, print, async () => {
    await broker?.close();
    await pageServer?.close();
  });

  // The board: one interpreter (EspruinoSim) per power-up, reset() or load(), all over the same flash.
  const board = new SimBoard({ wifi: flags["no-wifi"] !== true, storage: new SimStorage(flags.flash), version: flags["espruino-version"] });
  board.on("console", (text: string) => print({ event: "console", text }, `[device] ${text}`));
  board.on("sim", (sim: EspruinoSim) => {
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
  });
  board.on("restart", (kind: RestartKind) => print({ event: "restart", kind }, `[board] ${kind === "reboot" ? "E.reboot()" : kind + "()"}`));
  board.on("boot", (report: BootReport) => {
    if (report.bundle) return print({ event: "boot", kind: report.kind, files: [], bundle: report.bundle }, `[board] runs ${report.bundle} (in RAM)`);
    print(
      { event: "boot", kind: report.kind, files: report.files },
      `[board] boot (${report.kind}): ${report.files.length ? `runs ${report.files.join(", ")} from flash` : "no code in flash"}`,
    );
  });
  const repl = replPort === undefined ? null : await startRepl(board, replPort, host);
  if (repl) {
    repl.repl.on("client", (state: string) => print({ event: "repl", client: state }, `[repl] client ${state}`));
    print(
      { event: "repl", url: repl.url },
      `Espruino REPL on ${repl.url}: upload with  npm run flash -- --port ${repl.url}` + (flags.flash ? `  (flash kept in ${flags.flash})` : ""),
    );
  }

  stopOnSignals(print, "stopping: the device's 'kill' handlers run and its link closes; the broker sends its Will (offline)", async () => {
    await board.stop();
    await repl?.close();
    await broker?.close();
    await pageServer?.close();
  });

  board.powerOn(code, flags.bundle ?? "firmware.js");
  if (broker) {
    const url = new URL(broker.url);
    print(
      { event: "hint", text: "switch the LED" },
      `switch the LED from another terminal:\n  mosquitto_pub -h ${url.hostname} -p ${url.port} -t ${baseTopic} -m on\n` +
        `  mosquitto_sub -h ${url.hostname} -p ${url.port} -t '${baseTopic}/#' -v\nCtrl-C stops.`,
    );
  }
}

/** Ctrl-C (SIGINT) or SIGTERM: says so, runs `stop` once (the boards' 'kill' handlers, then the servers), exits. */
function stopOnSignals(print: (event: Record<string, unknown>, human: string) => void, message: string, stop: () => Promise<void>) {
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    print({ event: "stopping" }, message);
    await stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

/** `--devices N`: N boards running the same bundle, each printed with its index. */
async function runFleet(
  code: string,
  count: number,
  flags: { "no-wifi"?: boolean; trace?: boolean; bundle?: string },
  print: (event: Record<string, unknown>, human: string) => void,
  closeServers: () => Promise<void>,
) {
  const fleet = new Fleet({
    code,
    count,
    fileName: flags.bundle ?? "firmware.js",
    wifi: flags["no-wifi"] !== true,
    onConsole: (board, text) => print({ event: "console", board, text }, `[board ${board}] ${text}`),
    onPin: (board, change) => print({ event: "pin", board, pin: change.pin, value: change.value }, `[board ${board}] [pin] ${change.pin} = ${change.value}`),
    onUncaught: (board, text) => print({ event: "uncaught", board, text }, `[board ${board}] uncaught: ${text}`),
  });
  fleet.boards.forEach((sim, board) =>
    sim.on("socket", (socket: SimSocket) =>
      watchMqtt(socket, {
        connection: (state) => print({ event: "mqtt", board, state }, `[board ${board}] [mqtt] ${state}`),
        packet: flags.trace
          ? (direction, text) => print({ event: "packet", board, direction, text }, `[board ${board}] [mqtt ${direction === "out" ? ">" : "<"}] ${text}`)
          : undefined,
      }),
    ),
  );
  stopOnSignals(print, "stopping: every board's 'kill' handlers run and its link closes; the broker sends their Wills (offline)", async () => {
    await fleet.stop();
    await closeServers();
  });
  await fleet.start();
  print({ event: "fleet", devices: count, clientIds: [fleetClientId(0), fleetClientId(count - 1)] }, `${count} simulated boards started (client ids ${fleetClientId(0)} ... ${fleetClientId(count - 1)})`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
