// `npm run size`: the bundle's bytes, raw and gzipped, built from the defaults (no config.json, no environment),
// so figures compare across machines. Per-profile figures and budgets come with the size work (issue 9).
import { gzipSync } from "node:zlib";
import { buildFirmware } from "../esbuild.config.mjs";

const { code } = await buildFirmware({ outfile: null, env: {}, configFile: null });
const raw = Buffer.byteLength(code, "latin1");
const gzip = gzipSync(Buffer.from(code, "latin1"), { level: 9 }).length;
console.log("profile            raw bytes  gzip bytes");
console.log(`${"default firmware".padEnd(18)} ${String(raw).padStart(9)}  ${String(gzip).padStart(10)}`);
