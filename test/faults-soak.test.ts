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
  assert.ok(r.reports >= 1 && r.reports <= r.commands, `state reports: ${r.reports} for ${r.commands} commands`);
  assert.equal(r.states, r.reports, "every QoS 1 state report the device sent arrived");
  assert.equal(r.lastState, r.ledState, "the last state reported is the LED's");
  assert.equal(r.burst.applied, r.burst.sent);
  assert.equal(r.burst.states, r.burst.reports, "the burst: every report the device sent arrived");
  assert.equal(r.burst.refused, 0, "a burst costs a few reports, not one each: the queue never overflows");
  assert.equal(r.cycleStatesLost, 0, "the presses made while the link was down all arrived");
  for (const cycle of r.perCycle) {
    assert.equal(cycle.timers, r.before.timers, "timers after a reconnect");
    assert.equal(cycle.sockets, r.before.sockets, "open sockets after a reconnect");
    assert.equal(cycle.listeners, r.before.listeners, "listeners after a reconnect");
  }
});
