// Changes made while a page was offline: Alice edits, deletes and reacts to messages Bob has
// loaded while his page has no network; when it is back, the reconnect's `sync` (sent with
// each conversation's version) brings the changes and the page shows them without a reload.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { direct, reactTo, say, signUp, type Account } from "./seed.js";

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });
const bubble = (page: Page, seq: number) => messages(page).locator(`[data-testid="message"][data-seq="${seq}"]`);

async function call(server: Server, who: Account, method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(server.url + path, {
    method,
    headers: { Authorization: `Bearer ${who.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status}`);
}

describe("changes made while offline", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let page: Page;

  before(async () => {
    server = await startServer("offline");
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    page = (await newPage(browser)).page;
    await loginViaUi(page, server.url, bob.person);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("an edit, a delete and a reaction made meanwhile show after reconnecting, without a reload", async () => {
    const c = await direct(server, alice, bob);
    const first = await say(server, alice, c, "Meet at nine");
    const second = await say(server, alice, c, "Bring the slides");
    const third = await say(server, alice, c, "See you");
    await page
      .getByRole("list", { name: "Conversation list" })
      .getByRole("button", { name: new RegExp(`^${alice.person.name}`) })
      .click();
    await bubble(page, third.seq).getByText("See you").waitFor();
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

    await page.context().setOffline(true);
    await page.getByRole("status").filter({ hasText: "Connection lost" }).waitFor();
    await call(server, alice, "PATCH", `/api/messages/${first.id}`, { body: "Meet at ten" });
    await call(server, alice, "DELETE", `/api/messages/${second.id}`);
    await reactTo(server, alice, third, "🎉");
    // Nothing reaches the page while it is offline.
    assert.equal(await bubble(page, first.seq).getByText("Meet at nine").count(), 1);

    await page.context().setOffline(false);
    await page.getByRole("status").filter({ hasText: "Connection lost" }).waitFor({ state: "detached" });
    await bubble(page, first.seq).getByText("Meet at ten").waitFor();
    await bubble(page, first.seq).getByText("edited").waitFor();
    await bubble(page, second.seq).getByText("This message was deleted").waitFor();
    assert.equal(await bubble(page, second.seq).getByText("Bring the slides").count(), 0);
    await bubble(page, third.seq)
      .getByRole("button", { name: /^🎉 1, from Alice Martin/ })
      .waitFor();
    assert.equal(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed), true, "no reload");
    assert.equal(await messages(page).getByTestId("message").count(), 3, "each message once");
  });
});
