// Shared set-up for the browser tests: the real ChatSync server on a free port with a fresh
// data dir, Debian's Chromium through playwright-core, and helpers that act like a person.

import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
/** web/ (this file runs from web/tests/.out/e2e). */
export const WEB = resolve(here, "..", "..", "..");
const REPO = resolve(WEB, "..");
export const SCREENSHOTS = join(WEB, "screenshots");
const LOGS = join(WEB, "test-results");

/** Generous: CI machines have two slow cores. */
export const TIMEOUT = 30_000;

export interface Server {
  url: string;
  stop(): Promise<void>;
  /** Stops and starts the server on the same port and data dir (sessions are in memory). */
  restart(): Promise<void>;
  /** The newest OTP mailed to `email`, from the dev outbox. */
  code(email: string): Promise<string>;
  /** Whether the media endpoints exist on this build of the server. */
  hasMedia(): Promise<boolean>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeout = TIMEOUT): Promise<T> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startServer(name: string, env: Record<string, string> = {}): Promise<Server> {
  const bin = process.env.CHATSYNC_BIN ?? join(REPO, "target", "debug", "chatsync");
  if (!existsSync(bin)) {
    throw new Error(`no server binary at ${bin}: run \`cargo build -p chatsync-server\` or set CHATSYNC_BIN`);
  }
  const web = join(WEB, "dist");
  if (!existsSync(join(web, "index.html"))) throw new Error("web/dist is not built: run `npm run build`");
  const dataDir = mkdtempSync(join(tmpdir(), "chatsync-e2e-"));
  const port = await freePort();
  mkdirSync(LOGS, { recursive: true });
  const log = createWriteStream(join(LOGS, `server-${name}.log`));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  let exited = false;

  const launch = async () => {
    exited = false;
    child = spawn(bin, ["serve"], {
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: "127.0.0.1",
        WEB_DIR: web,
        RUST_LOG: process.env.RUST_LOG ?? "warn",
        // Generous per-account limits: specs seed many messages as one account. A spec that
        // tests a limit sets its own.
        CHATSYNC__CHAT__SEND_PER_ACCOUNT__LIMIT: "100000",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    child.on("exit", () => (exited = true));
    await until(
      "the server's /healthz",
      async () => {
        if (exited) throw new Error(`the server exited early; see test-results/server-${name}.log`);
        return (await fetch(`${url}/healthz`)).ok ? true : undefined;
      },
      60_000,
    ).catch((e: unknown) => {
      child.kill("SIGKILL");
      throw e;
    });
  };
  const halt = async () => {
    if (exited) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  };
  await launch();

  return {
    url,
    async stop() {
      await halt();
      log.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    code: (email) =>
      until(`a code for ${email}`, async () => {
        const r = await fetch(`${url}/api/dev/outbox?email=${encodeURIComponent(email)}`);
        const body = (await r.json()) as { messages: { code: string | null }[] };
        return body.messages[0]?.code ?? undefined;
      }),
    async hasMedia() {
      const r = await fetch(`${url}/api/media`, { method: "POST" });
      return r.status !== 404 && r.status !== 405;
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function newPage(
  browser: Browser,
  opts: { colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? DESKTOP,
    colorScheme: opts.colorScheme ?? "light",
    locale: "en-US",
    timezoneId: "UTC",
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.error(`[console] ${m.text()}`);
  });
  return { context, page };
}

export interface Person {
  name: string;
  email: string;
  password: string;
}

let people = 0;
export function person(name: string): Person {
  const tag = `${Date.now().toString(36)}${++people}`;
  return { name, email: `${name.split(" ")[0]!.toLowerCase()}.${tag}@example.test`, password: "correct horse battery" };
}

/** Registers through the UI and finishes with the code shown in the dev-outbox banner. */
export async function registerViaUi(
  page: Page,
  url: string,
  p: Person,
  how: "button" | "typed" = "button",
): Promise<void> {
  await page.goto(url);
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Display name").fill(p.name);
  await page.getByLabel("Email").fill(p.email);
  await page.getByLabel("Password").fill(p.password);
  await page.getByRole("button", { name: "Create account" }).click();
  const banner = page.getByRole("region", { name: "Development mail outbox" });
  const code = banner.getByTestId("dev-code");
  await code.waitFor();
  // The resend button counts down its cooldown.
  await page
    .getByRole("button", { name: /^Resend code in \d+s$/ })
    .and(page.locator(":disabled"))
    .waitFor();
  if (how === "button") {
    await banner.getByRole("button", { name: "Use code" }).click();
  } else {
    await page.getByLabel("Verification code").fill((await code.textContent())!.trim());
  }
  await page.getByRole("heading", { name: "Chats" }).waitFor();
}

export async function loginViaUi(page: Page, url: string, p: Person): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Email").fill(p.email);
  await page.getByLabel("Password").fill(p.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Chats" }).waitFor();
}

/** Waits until `f` holds, retrying on failure; the last error explains a timeout. */
export async function eventually(what: string, f: () => Promise<void>, timeout = TIMEOUT): Promise<void> {
  const end = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : String(last)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Screenshots of the current screen at desktop and phone width, light and dark. */
export async function shoot(
  page: Page,
  name: string,
  prepare?: (viewport: "desktop" | "phone") => Promise<void>,
): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize();
  for (const [label, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    await page.setViewportSize(viewport);
    await prepare?.(label);
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await settle(page);
      await page.screenshot({
        path: join(SCREENSHOTS, `${name}-${label}-${scheme}.png`),
        animations: "disabled",
        caret: "hide",
      });
    }
  }
  if (original) await page.setViewportSize(original);
  await page.emulateMedia({ colorScheme: null });
}

/** Two animation frames and loaded images: the screen is painted. */
async function settle(page: Page): Promise<void> {
  await page.evaluate(
    () =>
      new Promise<void>((done) => {
        const images = [...document.images].filter((i) => !i.complete);
        const loaded = (i: HTMLImageElement) =>
          new Promise((r) => {
            i.addEventListener("load", r, { once: true });
            i.addEventListener("error", r, { once: true });
          });
        void Promise.all(images.map(loaded)).then(() =>
          requestAnimationFrame(() => requestAnimationFrame(() => done())),
        );
      }),
  );
}

/** A small valid PNG (a two-colour gradient), made here so the tests ship no binary files. */
export function makePng(width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      const o = row + 1 + x * 3;
      raw[o] = Math.round((x / width) * 255);
      raw[o + 1] = Math.round((y / height) * 200);
      raw[o + 2] = 220;
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
