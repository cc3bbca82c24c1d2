// Runs the browser tests: builds the web app if needed, compiles the TypeScript tests and
// hands them to node's test runner one file at a time (each file starts its own server).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: web, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!existsSync(join(web, "dist", "index.html"))) run("npm", ["run", "build", "--silent"]);
rmSync(join(web, "tests", ".out"), { recursive: true, force: true });
run(join(web, "node_modules", ".bin", "tsc"), ["-p", "tests/tsconfig.json"]);

const only = process.argv.slice(2);
const dir = join(web, "tests", ".out", "e2e");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".spec.js") && (!only.length || only.some((o) => f.startsWith(o))))
  .map((f) => join(dir, f));
run(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files]);
