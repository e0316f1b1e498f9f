// The soak, bounded for `npm test`: 5,000 toggles to `led` through Mosquitto as fast as the board answers, a burst of
// 500 with no pacing, and 10 link resets with a button press while each is down. No QoS 1 state report the board
// accepted may be lost, and its timers, sockets and listeners must be the same after as before.
// The full soak (100,000 commands, 200 cycles): npx tsx scripts/faults.ts --soak
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSoak, runSoak } from "../scripts/faults.ts";

test("soak: 5,000 commands, a burst, 10 connect/drop cycles: nothing accepted is lost, nothing leaks", async () => {
  const r = await runSoak({ commands: 5000, burst: 500, cycles: 10 });
  console.log("\n" + formatSoak(r) + "\n");
  assert.equal(r.uncaught, 0);
  assert.equal(r.applied, r.commands, "every command applied");
  assert.equal(r.states, r.commands, "a QoS 1 state report for every command");
  assert.equal(r.burst.applied, r.burst.sent);
  assert.equal(r.burst.states, r.burst.applied - r.burst.refused, "the burst: every report not refused (logged) arrived");
  assert.equal(r.cycleStatesLost, 0, "the presses made while the link was down all arrived");
  for (const cycle of r.perCycle) {
    assert.equal(cycle.timers, r.before.timers, "timers after a reconnect");
    assert.equal(cycle.sockets, r.before.sockets, "open sockets after a reconnect");
    assert.equal(cycle.listeners, r.before.listeners, "listeners after a reconnect");
  }
});
