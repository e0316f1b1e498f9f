// Faults on the wire and around it, each on a fresh board running the built bundle in host-sim against Mosquitto:
// bytes split one per read, packets joined, delay, a silent (half-open) link, a cut mid-packet either way, WiFi lost
// and back, Mosquitto killed and restarted. Each trial presses the board's button during the fault (QoS 1 states,
// offline queue 20) and then requires: a reconnect where the link was lost, the LED obeying a command within the
// fault's bound (keepalive 2 s x 1.5 + backoff cap 1 s + 2 s slack for a link the device must find dead itself;
// backoff cap + slack once the cause is gone), every state from the fault delivered, the console naming the cause,
// and no uncaught exception. The table (scripts/faults.ts) is printed at the end.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { FAULTS, formatTable, runFault, TrialResult } from "../scripts/faults.ts";

const rows: Array<{ fault: string; results: TrialResult[] }> = [];

/** What the console must say when the link goes, per fault ("" where the link must survive). */
const SAYS: Record<string, RegExp> = {
  "silent stall (half-open)": /^no PINGRESP$/,
  "cut mid-PUBLISH to device": /^closed$/,
  "cut mid-PUBLISH to broker": /^(write failed|closed)$/,
  "WiFi drop and rejoin": /^closed$/,
  "Mosquitto killed, restarted": /^closed$/,
};

for (const fault of FAULTS) {
  test(`fault: ${fault.name}: recovers within ${fault.bound / 1000} s, loses no QoS 1 state, says why`, async () => {
    const { results, uncaught, proxy, reads } = await runFault(fault);
    rows.push({ fault: fault.name, results });
    assert.deepEqual(uncaught, [], "nothing thrown inside the device");
    for (const r of results) {
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.recovered, "the LED obeyed a command after the fault");
      assert.ok(r.recoverMs <= r.bound, `recovered in ${Math.round(r.recoverMs)} ms, bound ${r.bound} ms`);
      assert.equal(r.lost, 0, "every QoS 1 state published during the fault arrived");
      if (fault.reconnects) assert.match(r.said, SAYS[fault.name]!, "the console said why the link went");
      else assert.equal(r.said, "", "the link survived");
    }
    if (fault.name.startsWith("every byte")) {
      assert.ok(proxy!.splitWrites >= 10, `the proxy wrote byte by byte (${proxy!.splitWrites} writes)`);
      const single = reads.filter((n) => n === 1).length;
      assert.ok(single >= 10 && single >= reads.length * 0.8, `the board read one byte at a time (${single} of ${reads.length} reads)`);
    }
    if (fault.name.startsWith("packets joined")) assert.ok(proxy!.joinedWrites >= 1, "several packets reached the board in one write");
    if (fault.name.startsWith("cut")) assert.ok(proxy!.cuts >= results.length, "a packet was cut in each trial");
  });
}

after(() => {
  // The table, as scripts/faults.ts prints it.
  console.log("\n" + formatTable(rows) + "\n");
});
