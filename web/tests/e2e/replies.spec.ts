// Replies: Bob answers one of Alice's messages with Reply; both see the quote above his
// answer, a click on it brings the original into view and highlights it, the server stores
// `reply_to`, and after Alice deletes the original the quote reads "Message deleted". An
// original older than the loaded history is read from the server (`GET /api/messages/{id}`):
// its quote names the sender and text, and a click opens the list around it (one
// `around_seq` read) and highlights it; scrolling down reads newer pages back to the live end.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { direct, say, signUp, type Account } from "./seed.js";

interface Stored {
  id: string;
  seq: number;
  body: string;
  reply_to: string | null;
  deleted: boolean;
}

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });
const bubble = (page: Page, seq: number) => messages(page).locator(`[data-testid="message"][data-seq="${seq}"]`);
const quoteButton = (page: Page, seq: number) =>
  bubble(page, seq).getByRole("button", { name: /^Go to replied message/ });

async function history(server: Server, who: Account, conversationId: string, query = ""): Promise<Stored[]> {
  const res = await fetch(`${server.url}/api/conversations/${conversationId}/messages?limit=100${query}`, {
    headers: { Authorization: `Bearer ${who.token}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { messages: Stored[] }).messages;
}

/** The stored message with this body, once the server has it (a send from the page is acked later). */
async function stored(server: Server, who: Account, conversationId: string, body: string): Promise<Stored> {
  let found: Stored | undefined;
  await eventually(`"${body}" to be stored`, async () => {
    found = (await history(server, who, conversationId)).find((m) => m.body === body);
    assert.ok(found);
  });
  return found!;
}

async function open(page: Page, name: string): Promise<void> {
  await page
    .getByRole("list", { name: "Conversation list" })
    .getByRole("button", { name: new RegExp(`^${name}`) })
    .click();
  await page.getByRole("region", { name: "Conversation" }).getByText(name).first().waitFor();
}

async function write(page: Page, text: string): Promise<void> {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

describe("replies", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let ann: Page;
  let ben: Page;
  let conversationId: string;

  before(async () => {
    server = await startServer("replies");
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    const c = await direct(server, alice, bob);
    conversationId = c.id;
    await say(server, bob, c, "Hello Alice");
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
  });

  test("Bob replies to Alice's message; both see the quote, and a click on it highlights the original", async () => {
    await write(ann, "Lunch at noon?\nOr later?");
    await messages(ben).getByText("Lunch at noon?").waitFor();
    const original = await stored(server, alice, conversationId, "Lunch at noon?\nOr later?");
    // Enough chatter after it that the original scrolls out of view.
    for (let i = 1; i <= 30; i++) await say(server, i % 2 ? alice : bob, { id: conversationId }, `Filler ${i}`);
    await messages(ben).getByText("Filler 30", { exact: true }).waitFor();

    // Reply, then Escape: the bar goes away and nothing is sent.
    await bubble(ben, original.seq).hover();
    await bubble(ben, original.seq).getByRole("button", { name: "Reply" }).click();
    const bar = ben.getByRole("group", { name: `Replying to ${alice.person.name}` });
    await bar.waitFor();
    assert.equal(await bar.getByTestId("reply-excerpt").innerText(), "Lunch at noon? Or later?");
    assert.equal(
      await ben.evaluate(() => document.activeElement?.getAttribute("aria-label")),
      "Message",
      "Reply moves focus to the text box",
    );
    await ben.getByLabel("Message", { exact: true }).press("Escape");
    await bar.waitFor({ state: "detached" });

    // Reply from the keyboard, cancel with the button, then reply for real.
    await bubble(ben, original.seq).getByRole("button", { name: "Reply" }).focus();
    await ben.keyboard.press("Enter");
    await bar.getByRole("button", { name: "Cancel reply" }).click();
    await bar.waitFor({ state: "detached" });
    await bubble(ben, original.seq).hover();
    await bubble(ben, original.seq).getByRole("button", { name: "Reply" }).click();
    await bar.waitFor();
    await write(ben, "Noon works");
    await bar.waitFor({ state: "detached" });

    const reply = await stored(server, bob, conversationId, "Noon works");
    assert.equal(reply.reply_to, original.id, "the server stored reply_to");

    for (const page of [ben, ann]) {
      const quote = quoteButton(page, reply.seq);
      await quote.waitFor();
      assert.match((await quote.innerText()).replace(/\s+/g, " "), /Lunch at noon\? Or later\?/);
    }
    const quote = quoteButton(ann, reply.seq);
    assert.equal(await quote.getAttribute("aria-label"), "Go to replied message from You: Lunch at noon? Or later?");
    assert.match((await quoteButton(ben, reply.seq).getAttribute("aria-label"))!, /from Alice Martin:/);

    const target = bubble(ann, original.seq);
    assert.ok(!(await inView(target)), "the original starts out of view");
    await quote.click();
    await target.and(ann.locator('[data-highlighted="true"]')).waitFor();
    assert.ok(await inView(target), "the original is scrolled into view");
  });

  test("after Alice deletes the original, the quote reads Message deleted and the reply keeps reply_to", async () => {
    const original = await stored(server, alice, conversationId, "Lunch at noon?\nOr later?");
    const reply = await stored(server, bob, conversationId, "Noon works");
    await bubble(ann, original.seq).hover();
    await bubble(ann, original.seq).getByRole("button", { name: "Delete" }).click();
    await bubble(ann, original.seq).getByRole("button", { name: "Yes" }).click();

    for (const page of [ann, ben]) {
      await quoteButton(page, reply.seq).filter({ hasText: "Message deleted" }).waitFor();
      assert.doesNotMatch(await bubble(page, reply.seq).innerText(), /Lunch at noon/);
    }
    const after = (await history(server, bob, conversationId)).find((m) => m.id === reply.id)!;
    assert.equal(after.reply_to, original.id);
    const gone = (await history(server, bob, conversationId)).find((m) => m.id === original.id)!;
    assert.equal(gone.deleted, true);
  });

  test("a reply to a message 300 back quotes it, opens around it, and scrolls down to live", async () => {
    const c = { id: conversationId };
    const first = await say(server, alice, c, "The very first plan");
    for (let i = 1; i <= 300; i++) await say(server, bob, c, `More filler ${i}`);
    const res = await fetch(`${server.url}/api/conversations/${conversationId}/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bob.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: crypto.randomUUID(), body: "Back to that plan", reply_to: first.id }),
    });
    assert.equal(res.status, 201);
    const late = (await res.json()) as Stored;

    // A fresh page loads only the newest page of history.
    const { page } = await newPage(browser);
    const reads: URL[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.pathname === `/api/conversations/${conversationId}/messages` && r.method() === "GET") reads.push(url);
    });
    await loginViaUi(page, server.url, alice.person);
    await open(page, bob.person.name);
    const quote = quoteButton(page, late.seq);
    await quote.waitFor();
    assert.equal(await quote.getAttribute("aria-label"), "Go to replied message from You: The very first plan");
    assert.equal(await bubble(page, first.seq).count(), 0, "the original is not loaded");
    await quote.click();
    const target = bubble(page, first.seq);
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    assert.ok(await inView(target), "the original is scrolled into view");
    const around = reads.filter((u) => u.searchParams.has("around_seq"));
    assert.equal(around.length, 1, `one around_seq read: ${reads.join(" ")}`);
    assert.equal(around[0]!.searchParams.get("around_seq"), String(first.seq));
    assert.equal(reads.filter((u) => u.searchParams.has("before_seq")).length, 0, "no paging back");
    assert.equal(await bubble(page, late.seq).count(), 0, "the window far back replaced the newest page");

    // Bob writes while Alice reads far back: not put after the gap.
    const meanwhile = await say(server, bob, c, "Still there?");
    await page
      .getByRole("list", { name: "Conversation list" })
      .getByRole("button", { name: /^Bob Chen/ })
      .getByText("Still there?")
      .waitFor();
    assert.equal(await bubble(page, meanwhile.seq).count(), 0);

    // Scrolling down reads newer pages until the newest message, then the list is live.
    await eventually("scrolling down to reach the newest message", async () => {
      await messages(page).evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
      assert.equal(await bubble(page, meanwhile.seq).count(), 1);
    });
    assert.ok(
      reads.some((u) => u.searchParams.has("after_seq")),
      "newer pages were read",
    );
    assert.equal(await messages(page).getByText("Still there?", { exact: true }).count(), 1, "shown once");
    await bubble(page, late.seq).waitFor();
    await messages(page).evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    const live = await say(server, bob, c, "Live again");
    await bubble(page, live.seq).waitFor();
    await eventually("the new message to be in view", async () => assert.ok(await inView(bubble(page, live.seq))));
    await page.close();
  });
});

async function inView(target: ReturnType<typeof bubble>): Promise<boolean> {
  return target.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const log = el.closest('[role="log"]')!.getBoundingClientRect();
    return r.top >= log.top && r.bottom <= log.bottom;
  });
}
