// Size is a check: every build profile within its budget (size-budgets.json), and the check itself fails when a
// profile grows past it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PROFILES, sizeReport } from "../scripts/size.mjs";

test("every profile is within its budget", async () => {
  const rows = await sizeReport();
  assert.deepEqual(rows.map((row) => row.name), Object.keys(PROFILES));
  for (const row of rows) {
    assert.ok(row.raw <= row.budget.raw, `${row.name}: ${row.raw} bytes, budget ${row.budget.raw}`);
    assert.ok(row.gzip <= row.budget.gzip, `${row.name}: ${row.gzip} gzip bytes, budget ${row.budget.gzip}`);
  }
});

test("npm run size fails, naming the profile, when one grows past its budget", () => {
  // A copy of the project whose budget for the minimal firmware is one byte below its size.
  const root = resolve(".");
  const copy = mkdtempSync(join(tmpdir(), "size-"));
  try {
    for (const entry of ["firmware", "scripts", "esbuild.config.mjs", "package.json", "tsconfig.json", "size-budgets.json"]) {
      cpSync(join(root, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
    const size = () => execFileSync(process.execPath, ["scripts/size.mjs"], { cwd: copy, encoding: "utf8", stdio: "pipe" });
    const minimal = Number(/minimal firmware\s+(\d+)/.exec(size())?.[1]);
    const budgets = JSON.parse(readFileSync(join(copy, "size-budgets.json"), "utf8"));
    budgets["minimal firmware"].raw = minimal - 1;
    writeFileSync(join(copy, "size-budgets.json"), JSON.stringify(budgets));
    assert.throws(size, (error: { status: number; stdout: string; stderr: string }) =>
      error.status === 1 && /minimal firmware .*OVER BUDGET/.test(error.stdout) && /over its budget/.test(error.stderr));
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
