// The main search box finds people, chats and messages in one list, all from the real server
// (`GET /api/users`, the conversation list, `GET /api/search/messages`): a new user finds a
// person by name; message hits show a safe highlighted snippet, page, and open the
// conversation scrolled to the message; a hit 2,100 messages back opens with one
// `around_seq` read, and "Jump to the latest messages" goes back to the live end.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  eventually,
  launchBrowser,
  loginViaUi,
  newPage,
  person,
  registerViaUi,
  startServer,
  type Server,
} from "./harness.js";
import { direct, readConversation, say, signUp, type Account } from "./seed.js";

const searchBox = (page: Page) => page.getByRole("searchbox", { name: "Search people, chats and messages" });
const results = (page: Page) => page.getByRole("region", { name: "Search results" });

describe("the main search box", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let ben: Account;

  before(async () => {
    server = await startServer("search");
    browser = await launchBrowser();
    ben = await signUp(server, person("Ben Ito"));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a new user types someone's name, finds them, and a click opens a direct chat", async () => {
    const { page } = await newPage(browser);
    const searches: string[] = [];
    page.on("request", (r) => r.url().includes("/api/search/messages") && searches.push(r.url()));
    await registerViaUi(page, server.url, person("Ann Lee"));
    await page.getByText("No conversations yet").waitFor();

    await searchBox(page).pressSequentially("Ben", { delay: 50 });
    const people = results(page).getByRole("region", { name: "People" });
    await people.getByRole("button", { name: "Ben Ito" }).click();

    const conversation = page.getByRole("region", { name: "Conversation" });
    await conversation.getByText("Ben Ito").first().waitFor();
    assert.match(new URL(page.url()).pathname, /^\/c\/[0-9a-f-]{36}$/);

    // Searching again lists the chat, not the same person twice; a new user's messages have
    // nothing to find, so there is no Messages section and no error.
    const chats = results(page).getByRole("region", { name: "Chats" });
    await chats.getByRole("button", { name: /^Ben Ito/ }).waitFor();
    assert.ok(searches.length >= 1, "messages were searched");
    const answered = page.waitForResponse((r) => r.url().includes("/api/users?q=Ben%20I"));
    const messagesAnswered = page.waitForResponse(
      (r) => r.url().includes("/api/search/messages?") && new URL(r.url()).searchParams.get("q") === "Ben I",
    );
    await searchBox(page).fill("Ben I");
    await answered;
    assert.equal((await messagesAnswered).status(), 200);
    await chats.getByRole("button", { name: /^Ben Ito/ }).waitFor();
    // The answer names only Ben, who is listed as the chat: the People section goes away.
    await people.waitFor({ state: "detached" });
    await results(page).getByRole("region", { name: "Messages" }).waitFor({ state: "detached" });
    assert.equal(await page.getByRole("alert").count(), 0);

    // Clearing the box brings the conversation list back.
    await searchBox(page).fill("");
    await page
      .getByRole("list", { name: "Conversation list" })
      .getByRole("button", { name: /^Ben Ito/ })
      .waitFor();
    await page.close();
  });

  test("message hits show a safe highlighted snippet, page, and open the conversation at the message", async () => {
    const cat = await signUp(server, person("Cat Diaz"));
    const c = await direct(server, cat, ben);
    // 25 lines of the story (a page of hits is 20), then 55 of something else: the hit at seq 3
    // is on the second page of hits and two pages of history back from the newest message.
    for (let i = 1; i <= 80; i++) {
      const text =
        i === 3
          ? 'Line 3 of the story <img src=x onerror="window.__xss=1">'
          : i <= 25
            ? `Line ${i} of the story`
            : `Line ${i} of the tale`;
      await say(server, i % 2 ? cat : ben, c, text);
    }

    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, ben.person);

    await searchBox(page).fill("story");
    const messages = results(page).getByRole("region", { name: "Messages" });
    const newest = messages.getByRole("button", { name: /Line 25 of the story/ });
    await newest.waitFor();
    assert.equal(await newest.getByTestId("snippet").locator("mark").innerText(), "story");
    assert.equal(await messages.getByRole("button", { name: /of the tale/ }).count(), 0);
    assert.equal(await messages.getByRole("button", { name: /Line 5 of the story/ }).count(), 0, "newest 20 first");

    await messages.getByRole("button", { name: "More messages" }).click();
    const first = messages.getByRole("button", { name: /Line 3 of the story/ });
    await first.waitFor();
    await messages.getByRole("button", { name: /Line 1 of the story/ }).waitFor();
    assert.equal(await messages.getByRole("button", { name: "More messages" }).count(), 0);
    const snippet = first.getByTestId("snippet");
    assert.equal(await snippet.locator("mark").innerText(), "story");
    assert.match(await snippet.innerText(), /<img src=x onerror="window.__xss=1">/, "markup shows as text");
    assert.equal(await results(page).locator("img").count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);

    // Seq 3 is two pages back from the newest message: the list pages back to it.
    await first.click();
    const target = page.getByRole("log", { name: "Messages" }).locator('[data-seq="3"]');
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    assert.ok(await target.isVisible());
    const inView = await target.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const log = el.closest('[role="log"]')!.getBoundingClientRect();
      return r.top >= log.top && r.bottom <= log.bottom;
    });
    assert.ok(inView, "the message is scrolled into view");
    await page.close();
  });

  test("a hit 2,100 messages back opens with one around_seq read; Jump to the latest goes back to live", async () => {
    const dan = await signUp(server, person("Dan Park"));
    const c = await direct(server, dan, ben);
    const hit = await say(server, dan, c, "Where did we park the zeppelin?");
    // More than the 40 pages of 50 the app used to page back; sent a few at a time.
    let newest = hit;
    for (let i = 1; i <= 2100; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, k) => say(server, (i + k) % 2 ? ben : dan, c, `Chatter ${i + k}`)),
      );
      for (const m of batch) if (m.seq > newest.seq) newest = m;
    }
    assert.equal(newest.seq, 2101);

    const { page } = await newPage(browser);
    const history: URL[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.pathname === `/api/conversations/${c.id}/messages` && r.method() === "GET") history.push(url);
    });
    await loginViaUi(page, server.url, ben.person);
    await searchBox(page).fill("zeppelin");
    await results(page)
      .getByRole("region", { name: "Messages" })
      .getByRole("button", { name: /zeppelin/ })
      .click();

    const log = page.getByRole("log", { name: "Messages" });
    const target = log.locator(`[data-seq="${hit.seq}"]`);
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    assert.ok(await target.isVisible());
    const around = history.filter((u) => u.searchParams.has("around_seq"));
    assert.equal(around.length, 1, `one around_seq read: ${history.join(" ")}`);
    assert.equal(around[0]!.searchParams.get("around_seq"), String(hit.seq));
    assert.equal(history[0], around[0], "the conversation opened straight at the hit");
    assert.equal(history.filter((u) => u.searchParams.has("before_seq")).length, 0, "no paging back");
    // Only what the window holds counts as read: the 2,000 newer messages stay unread.
    const readSeq = async () => {
      const conv = await readConversation(server, ben, c.id);
      return conv.members.find((m) => m.user_id === ben.id)!.read_seq;
    };
    await eventually("the window's messages to be read", async () => {
      const seq = await readSeq();
      assert.ok(seq >= hit.seq && seq < newest.seq, `read up to ${seq}, newest ${newest.seq}`);
    });
    // A message that comes in meanwhile waits: it is not put after the gap (the list, back
    // once the search box is cleared, shows it).
    await searchBox(page).fill("");
    await say(server, dan, c, "Are you still there?");
    await page
      .getByRole("list", { name: "Conversation list" })
      .getByRole("button", { name: /^Dan Park/ })
      .getByText("Are you still there?")
      .waitFor();
    assert.equal(await log.getByText("Are you still there?").count(), 0);

    await page.getByRole("button", { name: "Jump to the latest messages" }).click();
    await log.getByText("Are you still there?").waitFor();
    await log.locator(`[data-seq="${newest.seq}"]`).waitFor();
    assert.equal(await target.count(), 0, "the window far back was replaced");
    await eventually("the list to be at the bottom", async () => {
      assert.ok(await log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80));
    });
    await eventually("everything to be read at the live end", async () => {
      assert.ok((await readSeq()) > newest.seq);
    });
    // Live again: a new message shows as it comes.
    await say(server, dan, c, "Found it!");
    await log.getByText("Found it!").waitFor();
    assert.equal(await log.getByText("Are you still there?").count(), 1, "shown once");

    // Sending from far back goes to the newest messages to show what was sent.
    await searchBox(page).fill("zeppelin");
    await results(page)
      .getByRole("region", { name: "Messages" })
      .getByRole("button", { name: /zeppelin/ })
      .click();
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    assert.equal(await log.getByText("Found it!").count(), 0);
    await searchBox(page).fill("");
    const box = page.getByLabel("Message", { exact: true });
    await box.fill("On my way");
    await box.press("Enter");
    await log.getByText("Found it!").waitFor();
    const sent = log.locator('[data-testid="message"][data-mine="true"]').filter({ hasText: "On my way" });
    await eventually("the sent message to be stored and shown once", async () => {
      assert.ok(Number(await sent.getAttribute("data-seq")) > newest.seq);
      assert.equal(await sent.count(), 1);
    });
    assert.equal(await target.count(), 0);
    await page.close();
  });
});
