// Mentions and notification levels against the real server: the list shows an "@" badge for
// unread mentions; the Mentions view lists the messages that mention me (paged with More) and
// opens one in its conversation, highlighted, and is live while open (a new mention appears on
// top, an edit shows, a deleted one goes); the Notifications menu stores "Nothing" and a mute
// on the server, which survive a reload and reach my other tabs.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { group, say, signUp, type Account } from "./seed.js";

interface Settings {
  level: string;
  chosen: string | null;
  muted_until: string | null;
}

interface Listed {
  id: string;
  unread_count: number;
  mention_count: number;
  notifications: Settings;
}

async function call<T>(server: Server, who: Account, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      Authorization: `Bearer ${who.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

const mention = (server: Server, from: Account, c: { id: string }, body: string, whom: Account[]) =>
  call<{ id: string; seq: number }>(server, from, "POST", `/api/conversations/${c.id}/messages`, {
    client_id: randomUUID(),
    body,
    mentions: whom.map((w) => w.id),
  });

async function listed(server: Server, who: Account, id: string): Promise<Listed> {
  const { conversations } = await call<{ conversations: Listed[] }>(server, who, "GET", "/api/conversations");
  const c = conversations.find((x) => x.id === id);
  assert.ok(c, "the conversation is listed");
  return c;
}

const listItem = (page: Page, name: string) =>
  page.getByRole("list", { name: "Conversation list" }).getByRole("button", { name: new RegExp(`^${name}`) });

async function openNotifications(page: Page) {
  const header = page.getByRole("region", { name: "Conversation" }).locator("header");
  await header.getByRole("button", { name: "Notifications" }).click();
  const menu = page.getByRole("menu", { name: "Notifications" });
  await menu.waitFor();
  return menu;
}

describe("mentions and notification levels", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let carol: Account;
  let trip: { id: string };
  let mapSeq: number;

  before(async () => {
    server = await startServer("mentions");
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    carol = await signUp(server, person("Carol Diaz"));
    trip = await group(server, bob, "Trip", [alice, carol]);
    await say(server, bob, trip, "Plans for Saturday");
    // The oldest mention; 30 newer ones fill the Mentions view's first page.
    mapSeq = (await mention(server, bob, trip, "@Alice Martin can you bring the map?", [alice])).seq;
    for (let i = 1; i <= 30; i++) await mention(server, carol, trip, `@Alice Martin ping ${i}`, [alice]);
    await mention(server, bob, trip, "@Carol Diaz and you the tent", [carol]);
    await say(server, carol, trip, "See you there");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the list shows a mention badge; the Mentions view pages and opens the message highlighted", async () => {
    assert.equal((await listed(server, alice, trip.id)).mention_count, 31);
    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, alice.person);

    const item = listItem(page, "Trip");
    await item.waitFor();
    const badge = item.getByTestId("mention-badge");
    assert.equal(await badge.getAttribute("aria-label"), "31 mentions");
    assert.equal(await badge.innerText(), "@");
    assert.match((await item.getAttribute("aria-label"))!, /^Trip, 34 unread, 31 mentions$/);

    await page.getByRole("button", { name: "Mentions", exact: true }).click();
    const view = page.getByRole("region", { name: "Mentions" });
    await view.getByRole("button", { name: /ping 30/ }).waitFor();
    const first = view.getByRole("listitem").first();
    assert.match(await first.innerText(), /Trip/);
    assert.match(await first.innerText(), /Carol Diaz: @Alice Martin ping 30/);
    assert.equal(await view.getByRole("button", { name: /tent/ }).count(), 0, "only mine");
    assert.equal(await view.getByRole("button", { name: /bring the map/ }).count(), 0, "newest 30 first");

    await view.getByRole("button", { name: "More" }).click();
    const map = view.getByRole("button", { name: /Bob Chen: @Alice Martin can you bring the map\?/ });
    await map.waitFor();
    assert.equal(await view.getByRole("button", { name: "More" }).count(), 0);
    assert.equal(await view.getByRole("listitem").count(), 31);

    await map.click();
    const target = page.getByRole("log", { name: "Messages" }).locator(`[data-seq="${mapSeq}"]`);
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    assert.ok(await target.isVisible());

    // Opened far back, only what the window holds is read: the newer mentions still count.
    // Reading down to the newest message clears them, here and on the server.
    await page.getByRole("button", { name: "Close mentions" }).click();
    await eventually("the window's mentions to be read, the newer ones not", async () => {
      const left = (await listed(server, alice, trip.id)).mention_count;
      assert.ok(left > 0 && left < 31, `${left} mentions left`);
    });
    await page.getByRole("button", { name: "Jump to the latest messages" }).click();
    await eventually("the mention badge to go", async () => {
      assert.equal(await listItem(page, "Trip").getByTestId("mention-badge").count(), 0);
    });
    await eventually("the server to count no mentions", async () => {
      assert.equal((await listed(server, alice, trip.id)).mention_count, 0);
    });

    // A new mention while another conversation is open counts again, live.
    await page.goto(server.url);
    await listItem(page, "Trip").waitFor();
    await mention(server, bob, trip, "@Alice Martin one more thing", [alice]);
    await eventually("the live mention to be counted", async () => {
      assert.equal(await listItem(page, "Trip").getByTestId("mention-badge").getAttribute("aria-label"), "1 mention");
    });
    await page.close();
  });

  test("the open Mentions view shows a new mention on top, its edit, and drops it when deleted", async () => {
    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, alice.person);
    await page.getByRole("button", { name: "Mentions", exact: true }).click();
    const view = page.getByRole("region", { name: "Mentions" });
    await view.getByRole("listitem").first().waitFor();
    const before = await view.getByRole("listitem").count();

    const m = await mention(server, bob, trip, "@Alice Martin the campsite moved", [alice]);
    const item = view.getByRole("button", { name: /Bob Chen: @Alice Martin the campsite moved/ });
    await item.waitFor();
    assert.match(await view.getByRole("listitem").first().innerText(), /the campsite moved/, "on top");
    assert.equal(await view.getByRole("listitem").count(), before + 1);
    // Another member's mention of someone else does not show.
    await mention(server, alice, trip, "@Carol Diaz noted", [carol]);
    await mention(server, bob, trip, "@Carol Diaz bring the stove", [carol]);

    await call(server, bob, "PATCH", `/api/messages/${m.id}`, { body: "@Alice Martin the campsite moved north" });
    await view.getByRole("button", { name: /the campsite moved north/ }).waitFor();
    assert.equal(await view.getByRole("listitem").count(), before + 1);
    assert.equal(await view.getByRole("button", { name: /bring the stove/ }).count(), 0);

    await call(server, bob, "DELETE", `/api/messages/${m.id}`);
    await view.getByRole("button", { name: /the campsite moved/ }).waitFor({ state: "detached" });
    assert.equal(await view.getByRole("listitem").count(), before);

    // A live item opens its message like any other.
    const late = await mention(server, carol, trip, "@Alice Martin last call", [alice]);
    await view.getByRole("button", { name: /last call/ }).click();
    const target = page.getByRole("log", { name: "Messages" }).locator(`[data-seq="${late.seq}"]`);
    await target.and(page.locator('[data-highlighted="true"]')).waitFor();
    await page.close();
  });

  test("Nothing and a mute are stored on the server, survive a reload and reach my other tabs", async () => {
    const { page } = await newPage(browser);
    const other = (await newPage(browser)).page;
    await loginViaUi(page, server.url, alice.person);
    await loginViaUi(other, server.url, alice.person);
    await listItem(page, "Trip").click();
    await page.getByRole("region", { name: "Conversation" }).getByText("Trip").first().waitFor();

    let menu = await openNotifications(page);
    assert.equal(await menu.getByRole("menuitemradio", { name: "All messages" }).getAttribute("aria-checked"), "true");
    const saved = page.waitForResponse((r) => r.url().endsWith(`/api/conversations/${trip.id}/notifications`));
    await menu.getByRole("menuitemradio", { name: "Nothing" }).click();
    assert.equal((await saved).status(), 200);
    await menu.waitFor({ state: "detached" });
    assert.equal((await listed(server, alice, trip.id)).notifications.level, "none");
    assert.equal((await listed(server, alice, trip.id)).notifications.chosen, "none");

    await page.reload();
    await page.getByRole("region", { name: "Conversation" }).getByText("Trip").first().waitFor();
    menu = await openNotifications(page);
    await eventually("Nothing to be checked after the reload", async () => {
      assert.equal(await menu.getByRole("menuitemradio", { name: "Nothing" }).getAttribute("aria-checked"), "true");
    });
    assert.equal(await menu.getByRole("menuitemradio", { name: "All messages" }).getAttribute("aria-checked"), "false");

    // Muting keeps the chosen level; the other tab hears of it through conversation:notifications.
    await menu.getByRole("menuitem", { name: "Mute for 8 hours" }).click();
    await listItem(page, "Trip").locator('[aria-label="Muted"]').waitFor();
    await listItem(other, "Trip").locator('[aria-label="Muted"]').waitFor();
    const muted = (await listed(server, alice, trip.id)).notifications;
    assert.equal(muted.level, "none");
    assert.ok(muted.muted_until && Date.parse(muted.muted_until) > Date.now() + 7 * 3600_000);

    menu = await openNotifications(page);
    await menu.getByRole("menuitem", { name: "Unmute" }).click();
    await listItem(other, "Trip").locator('[aria-label="Muted"]').waitFor({ state: "detached" });
    assert.equal((await listed(server, alice, trip.id)).notifications.muted_until, null);

    // Escape closes the menu and gives focus back to its button.
    menu = await openNotifications(page);
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Notifications");
    await page.close();
    await other.close();
  });
});
