// The client's clock: Espruino's own functions, passed as they are (no function of ours, which would cost RAM).
// Date.now() is in milliseconds; setTimeout and clearTimeout run as methods of this object, which Espruino's
// built-ins ignore (seen on the real interpreter).
import { Clock } from "../mqtt/client";

// Date["now"], quoted: the build shortens the property name `now` of our own objects (esbuild.config.mjs), and would
// shorten Date's too.
export const espruinoClock: Clock = { now: Date["now"], after: setTimeout, cancel: clearTimeout };
