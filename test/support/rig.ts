// A test file's own aedes broker, and the simulated boards and phones its tests start: all ended after the file.
import { after, before } from "node:test";
import type { Board } from "./board.ts";
import { startAedesBroker, type TestBroker } from "./brokers.ts";
import type { Phone } from "./phone.ts";

export interface AedesRig {
  /** Set once the file's `before` hook has run. */
  broker: TestBroker;
  /** Boards and phones to end after the file. */
  boards: Board[];
  phones: Phone[];
}

export function useAedesRig(): AedesRig {
  const rig = { boards: [], phones: [] } as unknown as AedesRig;
  before(async () => {
    rig.broker = await startAedesBroker();
  });
  after(async () => {
    for (const board of rig.boards) board.sim.powerOff();
    for (const phone of rig.phones) await phone.end();
    await rig.broker?.stop();
  });
  return rig;
}
