// `npm test`: every check, in order: system packages, types, the build (with its Espruino checks), then all tests.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { ensureSystemPackages } from "./system-deps.mjs";

function step(title, command, args) {
  console.log(`\n== ${title}: ${[command, ...args].join(" ")}`);
  execFileSync(command, args, { stdio: "inherit" });
}

try {
  ensureSystemPackages();
  const tsc = "node_modules/typescript/bin/tsc";
  step("types (host-sim, scripts, tests)", process.execPath, [tsc, "-p", "tsconfig.json"]);
  step("types (firmware, Espruino dialect)", process.execPath, [tsc, "-p", "firmware/tsconfig.json"]);
  step("build", process.execPath, ["esbuild.config.mjs"]);
  const files = readdirSync("test").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${f}`);
  step("tests", process.execPath, ["--import", "tsx", "--test", "--test-timeout=120000", ...files]);
} catch (error) {
  process.exit(typeof error.status === "number" && error.status ? error.status : 1);
}
