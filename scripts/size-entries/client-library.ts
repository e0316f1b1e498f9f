// The client library alone, as an Espruino module would ship it: the session (every feature on), the codec and
// topic matching, exported through Espruino's `exports`, with the names its callers use kept whole (the profile's
// keptProperties in scripts/size.mjs). Measured by npm run size; test/library.test.ts drives it by those names.
import { createClient } from "../../firmware/mqtt/client";

declare const exports: { createClient: typeof createClient };
/** Espruino's E: named here so that the minifier, which avoids names the bundle uses, gives no top-level name E. */
declare const E: unknown;

exports.createClient = createClient;
E;
