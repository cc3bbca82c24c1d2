// Link previews: Alice sends a message with the address of a page served by a small HTTP
// server started here (127.0.0.1 is allowed only through `CHATSYNC__CHAT__LINK_PREVIEW_ALLOW`).
// Bob sees the card with the page's site name and title, its image loaded from ChatSync's own
// copy (`/api/media/...`, never the page's server) and the title linking to the page. Bob
// cannot remove it (no button; the server answers 403); Alice's "Remove preview" takes the card
// away on both pages.

import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  eventually,
  launchBrowser,
  loginViaUi,
  makePng,
  newPage,
  person,
  startServer,
  type Server,
} from "./harness.js";
import { direct, signUp, type Account } from "./seed.js";

const TITLE = "Pebble & Stone: a field guide";
const SITE = "Riverside Notes";
const DESCRIPTION = "How smooth river stones get their shape, and where to find the best ones.";

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });
const card = (page: Page) => messages(page).getByTestId("link-preview");

async function open(page: Page, name: string): Promise<void> {
  await page
    .getByRole("list", { name: "Conversation list" })
    .getByRole("button", { name: new RegExp(`^${name}`) })
    .click();
  await page.getByRole("region", { name: "Conversation" }).getByText(name).first().waitFor();
}

/** The page with Open Graph tags and its image; counts what was asked for. */
function startSite(): Promise<{ http: HttpServer; origin: string; hits: string[] }> {
  const png = makePng(320, 160);
  const hits: string[] = [];
  const http = createServer((req, res) => {
    hits.push(req.url ?? "");
    if (req.url === "/og.png") {
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": png.length });
      res.end(png);
      return;
    }
    if (req.url === "/guide") {
      const origin = `http://${req.headers.host}`;
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><html><head><title>ignored</title>
<meta property="og:title" content="Pebble &amp; Stone: a field guide">
<meta property="og:description" content="${DESCRIPTION}">
<meta property="og:site_name" content="${SITE}">
<meta property="og:image" content="${origin}/og.png">
</head><body><p>Stones.</p></body></html>`);
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((ok) =>
    http.listen(0, "127.0.0.1", () => {
      const { port } = http.address() as { port: number };
      ok({ http, origin: `http://127.0.0.1:${port}`, hits });
    }),
  );
}

describe("link previews", { timeout: 300_000 }, () => {
  let server: Server;
  let site: Awaited<ReturnType<typeof startSite>>;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let ann: Page;
  let ben: Page;

  before(async () => {
    site = await startSite();
    server = await startServer("previews", { CHATSYNC__CHAT__LINK_PREVIEW_ALLOW: '["127.0.0.1"]' });
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    await direct(server, alice, bob);
    ann = (await newPage(browser)).page;
    ben = (await newPage(browser, { colorScheme: "dark" })).page;
    await loginViaUi(ann, server.url, alice.person);
    await loginViaUi(ben, server.url, bob.person);
    await open(ann, bob.person.name);
    await open(ben, alice.person.name);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((r) => site?.http.close(r));
  });

  test("the card shows ChatSync's copy of the image, links to the page, and its sender removes it", async () => {
    const page = `${site.origin}/guide`;
    const box = ann.getByLabel("Message", { exact: true });
    await box.fill(`Look at this: ${page}`);
    await box.press("Enter");

    const seen = card(ben);
    await seen.waitFor();
    await seen.getByText(SITE, { exact: true }).waitFor();
    const link = seen.getByRole("link", { name: TITLE });
    assert.equal(await link.getAttribute("href"), page);
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.equal(await link.getAttribute("rel"), "noopener noreferrer nofollow");
    await seen.getByText(DESCRIPTION).waitFor();

    const img = seen.getByRole("img", { name: TITLE });
    const src = (await img.getAttribute("src"))!;
    const resolved = new URL(src, server.url);
    assert.equal(resolved.origin, server.url, `image from ${src}`);
    assert.match(resolved.pathname, /^\/api\/media\//);
    assert.ok(!src.includes(site.origin), `image from ${src}`);
    assert.ok(await img.getAttribute("width"));
    assert.ok(await img.getAttribute("height"));
    await eventually("the image to load", async () => {
      assert.ok(await img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0));
    });
    // The browser never asked the page's server for anything: only ChatSync's fetch did.
    assert.deepEqual([...new Set(site.hits)].sort(), ["/guide", "/og.png"]);

    // Only the sender may remove it.
    assert.equal(await seen.getByRole("button", { name: "Remove preview" }).count(), 0);
    const conversations = (await (
      await fetch(`${server.url}/api/conversations`, { headers: { Authorization: `Bearer ${bob.token}` } })
    ).json()) as { conversations: { id: string }[] };
    const cid = conversations.conversations[0]!.id;
    const list = (await (
      await fetch(`${server.url}/api/conversations/${cid}/messages?limit=10`, {
        headers: { Authorization: `Bearer ${bob.token}` },
      })
    ).json()) as { messages: { id: string; preview: { url: string } | null }[] };
    const stored = list.messages.find((m) => m.preview?.url === page);
    assert.ok(stored, "the stored message has the preview");
    const refused = await fetch(`${server.url}/api/messages/${stored.id}/preview`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${bob.token}` },
    });
    assert.equal(refused.status, 403);

    const mine = card(ann);
    await mine.waitFor();
    await mine.getByRole("button", { name: "Remove preview" }).click();
    await mine.waitFor({ state: "detached" });
    await seen.waitFor({ state: "detached" });
    // The text stays.
    await messages(ben).getByText(`Look at this: ${page}`).waitFor();
  });
});
