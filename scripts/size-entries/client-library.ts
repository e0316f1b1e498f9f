// The client library alone, as an Espruino module would ship it: the session (every feature on), the codec and
// topic matching, exported through Espruino's `exports`. Built only to be measured (npm run size).
import { createClient } from "../../firmware/mqtt/client";

declare const exports: { createClient: typeof createClient };
/** Espruino's E: named here so that the minifier, which avoids names the bundle uses, gives no top-level name E. */
declare const E: unknown;

exports.createClient = createClient;
E;
