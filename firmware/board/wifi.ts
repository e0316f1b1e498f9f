// WiFi join and rejoin. Espruino builds without the Wifi module (Linux, boards on Ethernet) skip straight on.

/** How long to wait before trying to join again after a failure or a drop, in milliseconds. */
const REJOIN_DELAY = 10000;

/**
 * Joins `ssid` and calls `ready` once the board is on it (at once on a build with no Wifi module at all). A
 * dropped link is rejoined; the MQTT client's own reconnect brings the session back once the network is there again.
 */
export function joinWifi(ssid: string, password: string | undefined, log: (message: string) => void, ready: () => void) {
  let wifi: EspruinoWifi;
  try {
    wifi = require("Wifi");
  } catch (error) {
    ready();
    return;
  }
  let isReady = false;
  let rejoinPending = false;
  /** One pending rejoin at a time, however many drops and failures are reported meanwhile. */
  function rejoinLater(why: string) {
    if (rejoinPending) return;
    rejoinPending = true;
    log("WiFi: " + why + "; rejoining in " + REJOIN_DELAY / 1000 + " s");
    setTimeout(function () {
      rejoinPending = false;
      join();
    }, REJOIN_DELAY);
  }
  function join() {
    log("WiFi: joining " + ssid);
    wifi.connect(ssid, { password: password }, function (error: string | null) {
      if (error) return rejoinLater(error);
      log("WiFi: joined");
      if (!isReady) {
        isReady = true;
        ready();
      }
    });
  }
  wifi.on("disconnected", function () {
    rejoinLater("lost");
  });
  join();
}
