// System packages the tests need (Mosquitto; Chromium for the phone page). Installed with apt-get when missing (as root, or with sudo that
// needs no password); otherwise the run stops at once with the exact command to run. Never a silent skip.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Each Debian package with the file that shows it is installed. */
export const SYSTEM_PACKAGES = [
  { name: "mosquitto", file: "/usr/sbin/mosquitto" },
  { name: "mosquitto-clients", file: "/usr/bin/mosquitto_pub" },
  // Debian's Chromium, driven by playwright-core (test/phone.test.ts): a test tool's own browser download does not
  // work here, and need not.
  { name: "chromium", file: "/usr/bin/chromium" },
];

function hasPasswordlessSudo() {
  return spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
}

export function ensureSystemPackages() {
  const missing = SYSTEM_PACKAGES.filter((p) => !existsSync(p.file)).map((p) => p.name);
  if (!missing.length) return;
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  const isRoot = process.getuid?.() === 0;
  const prefix = isRoot ? [] : hasPasswordlessSudo() ? ["sudo", "-n"] : null;
  if (!prefix) {
    console.error(`The tests need ${missing.join(", ")}, which are not installed. Run:\n  sudo sh -c '${command}'`);
    process.exit(1);
  }
  console.log(`installing ${missing.join(", ")} (${command})`);
  const run = (args) => execFileSync(prefix[0] ?? args[0], prefix.length ? [...prefix.slice(1), ...args] : args.slice(1), { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  run(["apt-get", "update"]);
  run(["apt-get", "install", "-y", ...missing]);
  const stillMissing = SYSTEM_PACKAGES.filter((p) => !existsSync(p.file));
  if (stillMissing.length) {
    console.error(`installing did not provide ${stillMissing.map((p) => p.file).join(", ")}`);
    process.exit(1);
  }
}
