// The client's clock, from Espruino's timers.
import { Clock } from "../mqtt/client";

export const espruinoClock: Clock = {
  now: function () {
    return getTime() * 1000;
  },
  after: function (ms: number, callback: () => void) {
    return setTimeout(callback, ms);
  },
  cancel: function (id: number) {
    clearTimeout(id);
  },
};
