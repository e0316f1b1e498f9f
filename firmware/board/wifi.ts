// WiFi join and rejoin. Espruino builds without the Wifi module (Linux, boards on Ethernet) skip straight on.

/** How long to wait before trying to join again after a failure or a drop, in seconds (a whole number: the build
 * writes it into the log line's text). */
const REJOIN_SECONDS = 10;

// One join per image: save() keeps the first call's listener and rejoin timer, and the start after it calls again.
/** The board got on the network once: a later call goes on at once. */
let joinedOnce = false;
/** What the latest call asked to run once the board is on the network; set from the first call on (a join began). */
let whenJoined: (() => void) | undefined;

/**
 * Joins `ssid` and calls `ready` once the board is on it (at once on a build with no Wifi module at all, or when an
 * earlier call got it on). A dropped link is rejoined; the MQTT client's own reconnect brings the session back once
 * the network is there again. A call while an earlier one is still joining only replaces what runs when it is done:
 * one join, one `ready`, however often the firmware starts (save() stops it and starts it again).
 */
export const joinWifi = (ssid: string, password: string | undefined, log: (message: string) => void, ready: () => void) => {
  if (joinedOnce) return ready();
  const begun = whenJoined;
  whenJoined = ready;
  if (begun) return;
  let wifi: EspruinoWifi;
  try {
    wifi = require("Wifi");
  } catch (error) {
    joinedOnce = true;
    return ready();
  }
  let rejoinPending = false;
  /** One pending rejoin at a time, however many drops and failures are reported meanwhile. */
  const rejoinLater = (why: string) => {
    if (rejoinPending) return;
    rejoinPending = true;
    log("WiFi: " + why + "; rejoining in " + REJOIN_SECONDS + " s");
    // join is defined below: this runs later, once it is.
    setTimeout(() => {
      rejoinPending = false;
      join();
    }, REJOIN_SECONDS * 1000);
  };
  const join = () => {
    log("WiFi: joining " + ssid);
    wifi.connect(ssid, { password: password }, (error: string | null) => {
      if (error) return rejoinLater(error);
      log("WiFi: joined");
      if (!joinedOnce) {
        joinedOnce = true;
        (whenJoined as () => void)();
      }
    });
  };
  wifi.on("disconnected", () => rejoinLater("lost"));
  join();
};
