// A fleet of simulated boards in one process: N copies of the same bundle, each its own EspruinoSim (its own vm
// context, timers, sockets and pins) with its own serial number, so each derives its own client id
// ("led" + serial digits) when the build sets none. They all share the bundle's broker and topics, as a fleet of
// lights on one `led` topic would. `npm run sim -- --devices N` runs one; scripts/faults.ts --devices N measures one.
import { EspruinoSim, PinChange } from "./runtime.ts";

export interface FleetOptions {
  /** The bundle's source text (build it without a clientId, so each board takes one from its serial). */
  code: string;
  count: number;
  fileName?: string;
  /** Provide the Wifi module (default false: boards connect at once). */
  wifi?: boolean;
  /** Each board's console line, with its index (0-based). */
  onConsole?(index: number, text: string): void;
  onPin?(index: number, change: PinChange): void;
  onUncaught?(index: number, text: string): void;
  /** Boards started per event-loop turn, so that N connects do not all land on the broker at once (default 50). */
  batch?: number;
}

/** Board i's serial number: the sim's default with the last 8 hex digits replaced by i + 1. */
export function fleetSerial(index: number): string {
  return "5ccf7f00-" + (index + 1).toString(16).padStart(8, "0");
}

/** The client id a board with this serial derives (firmware/main.ts: "led" + the serial's letters and digits). */
export function fleetClientId(index: number): string {
  return ("led" + fleetSerial(index).replace(/[^0-9a-zA-Z]/g, "")).slice(0, 23);
}

export class Fleet {
  readonly boards: EspruinoSim[] = [];
  /** Whether each board is connected, from its console ("MQTT connected" / "MQTT: <why the link is down>"). */
  readonly connected: boolean[] = [];

  constructor(private readonly options: FleetOptions) {
    for (let i = 0; i < options.count; i++) {
      // The static checker runs in each constructor; the bundle is the same for all, so this is its cost N times.
      const sim = new EspruinoSim({ code: options.code, fileName: options.fileName ?? "firmware.js", serial: fleetSerial(i), wifi: options.wifi ?? false });
      this.connected.push(false);
      sim.on("console", (text: string) => {
        if (text.startsWith("MQTT connected")) this.connected[i] = true;
        else if (text.startsWith("MQTT: ")) this.connected[i] = false;
        options.onConsole?.(i, text);
      });
      sim.on("pin", (change: PinChange) => options.onPin?.(i, change));
      sim.on("uncaught", (text: string) => options.onUncaught?.(i, text));
      this.boards.push(sim);
    }
  }

  /** Starts every board, `batch` per event-loop turn. */
  async start(): Promise<void> {
    const batch = this.options.batch ?? 50;
    for (let i = 0; i < this.boards.length; i++) {
      this.boards[i]!.start();
      if ((i + 1) % batch === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  connectedCount(): number {
    return this.connected.filter(Boolean).length;
  }

  /** Every board stopped as reset() does it ('kill' handlers, links closed: the broker sends the Wills), then off. */
  async stop(graceMs = 300): Promise<void> {
    await Promise.all(this.boards.map((sim) => sim.stop(graceMs)));
  }

  powerOff(): void {
    for (const sim of this.boards) sim.powerOff();
  }
}

/** Creates and starts a fleet. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const fleet = new Fleet(options);
  await fleet.start();
  return fleet;
}
