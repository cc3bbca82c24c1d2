// Desktop notifications and unread counts: a message notifies when its conversation is not the
// one being read (another is open, or the tab is hidden), clicking the notification opens it,
// the tab title carries the unread total, counts beyond 99 read "99+", and the permission is
// offered after the first message sent, never on load.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { direct, say, signUp, type Account } from "./seed.js";

interface Seen {
  title: string;
  body: string;
  tag: string;
}

interface Spied {
  __notifications: (Seen & { n: Notification })[];
  __setHidden: (hidden: boolean) => void;
}

/**
 * Runs in the page before the app: records every Notification the app creates (the real one
 * is still made) and lets the test hide the tab, which headless Chromium never does itself.
 */
function spy(): void {
  const w = window as unknown as Spied & { Notification: typeof Notification };
  const Real = w.Notification;
  w.__notifications = [];
  class Recorded extends Real {
    constructor(title: string, options?: NotificationOptions) {
      super(title, options);
      w.__notifications.push({ title, body: options?.body ?? "", tag: options?.tag ?? "", n: this });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Object.defineProperty(Recorded, "requestPermission", { value: Real.requestPermission.bind(Real) });
  w.Notification = Recorded;
  let hidden = false;
  Object.defineProperty(document, "visibilityState", { get: () => (hidden ? "hidden" : "visible") });
  Object.defineProperty(document, "hidden", { get: () => hidden });
  w.__setHidden = (h) => {
    hidden = h;
    document.dispatchEvent(new Event("visibilitychange"));
  };
}

const notifications = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as Spied).__notifications.map(({ title, body, tag }) => ({ title, body, tag })),
  );
const log = (page: Page) => page.getByRole("log", { name: "Messages" });
const chats = (page: Page) => page.getByRole("list", { name: "Conversation list" });

async function titleIs(page: Page, title: string): Promise<void> {
  await eventually(`the tab title "${title}"`, async () => assert.equal(await page.title(), title));
}

describe("notifications and unread counts", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let ann: Account, ben: Account, cat: Account, dan: Account;
  let withBen: { id: string }, withCat: { id: string };

  before(async () => {
    server = await startServer("notifications");
    browser = await launchBrowser();
    [ann, ben, cat, dan] = await Promise.all(
      ["Ann Lee", "Ben Ito", "Cat Diaz", "Dan Okafor"].map((n) => signUp(server, person(n))),
    );
    withBen = await direct(server, ben, ann);
    withCat = await direct(server, cat, ann);
    const withDan = await direct(server, dan, ann);
    for (let i = 1; i <= 120; i++) await say(server, dan, withDan, `Catching up ${i}`);

    ({ context, page } = await newPage(browser));
    await context.grantPermissions(["notifications"], { origin: server.url });
    await context.addInitScript(spy);
    await loginViaUi(page, server.url, ann.person);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a conversation with 120 unread shows 99+, and so does the tab title", async () => {
    const item = chats(page).getByRole("button", { name: /^Dan Okafor, 99\+ unread/ });
    await item.waitFor();
    assert.equal(await item.getByTestId("unread-badge").innerText(), "99+");
    await titleIs(page, "(99+) ChatSync");
    await item.click();
    await log(page).getByText("Catching up 120", { exact: true }).waitFor();
    await titleIs(page, "ChatSync");
    assert.deepEqual(await notifications(page), [], "nothing notifies for messages already waiting at log-in");
  });

  test("no notification for the conversation being read", async () => {
    await chats(page)
      .getByRole("button", { name: /^Ben Ito/ })
      .click();
    await say(server, ben, withBen, "Are you there?");
    // The message is on screen, so the app has already decided about notifying.
    await log(page).getByText("Are you there?").waitFor();
    assert.deepEqual(await notifications(page), []);
    await titleIs(page, "ChatSync");
  });

  test("a message in another conversation notifies, counts in the title, and a click opens it", async () => {
    await say(server, cat, withCat, "Lunch today?");
    await eventually("a notification", async () =>
      assert.deepEqual(await notifications(page), [{ title: "Cat Diaz", body: "Lunch today?", tag: withCat.id }]),
    );
    await titleIs(page, "(1) ChatSync");

    await page.evaluate(() => (window as unknown as Spied).__notifications[0]!.n.dispatchEvent(new Event("click")));
    await log(page).getByText("Lunch today?").waitFor();
    assert.equal(new URL(page.url()).pathname, `/c/${withCat.id}`);
    await titleIs(page, "ChatSync");
  });

  test("a hidden tab notifies even for the open conversation", async () => {
    await page.evaluate(() => (window as unknown as Spied).__setHidden(true));
    await say(server, cat, withCat, "Hello?");
    await eventually("a second notification", async () =>
      assert.deepEqual((await notifications(page))[1], { title: "Cat Diaz", body: "Hello?", tag: withCat.id }),
    );
    await titleIs(page, "(1) ChatSync");
    await page.evaluate(() => (window as unknown as Spied).__setHidden(false));
    await titleIs(page, "ChatSync");
  });

  test("turning notifications off in Settings stops them", async () => {
    await page.getByRole("button", { name: "Settings and profile" }).click();
    const settings = page.getByRole("dialog", { name: "Settings" });
    const toggle = settings.getByRole("switch", { name: "Desktop notifications for new messages" });
    assert.ok(await toggle.isChecked());
    await toggle.uncheck();
    await page.keyboard.press("Escape");
    await settings.waitFor({ state: "detached" });

    const before = (await notifications(page)).length;
    await say(server, ben, withBen, "Quiet now");
    await chats(page)
      .getByRole("button", { name: /^Ben Ito, 1 unread/ })
      .waitFor();
    assert.equal((await notifications(page)).length, before);
  });

  test("permission is offered after the first message sent, not on load", async () => {
    const { context: fresh, page: ben2 } = await newPage(browser);
    await loginViaUi(ben2, server.url, ben.person);
    const offer = ben2.getByRole("region", { name: "Notifications" });
    assert.equal(await offer.count(), 0, "no offer on load");
    assert.equal(await ben2.evaluate(() => Notification.permission), "default");

    await chats(ben2)
      .getByRole("button", { name: /^Ann Lee/ })
      .click();
    const box = ben2.getByLabel("Message", { exact: true });
    await box.fill("Back later");
    await box.press("Enter");
    await offer.waitFor();

    // The person agrees; the browser grants it.
    await fresh.grantPermissions(["notifications"], { origin: server.url });
    await offer.getByRole("button", { name: "Turn on" }).click();
    await offer.waitFor({ state: "detached" });
    await ben2.getByRole("button", { name: "Settings and profile" }).click();
    assert.ok(await ben2.getByRole("switch", { name: "Desktop notifications for new messages" }).isChecked());
    await fresh.close();
  });

  test("Not now puts the offer away for good", async () => {
    const { context: fresh, page: cat2 } = await newPage(browser);
    await loginViaUi(cat2, server.url, cat.person);
    await chats(cat2)
      .getByRole("button", { name: /^Ann Lee/ })
      .click();
    const box = cat2.getByLabel("Message", { exact: true });
    await box.fill("See you");
    await box.press("Enter");
    const offer = cat2.getByRole("region", { name: "Notifications" });
    await offer.getByRole("button", { name: "Not now" }).click();
    await offer.waitFor({ state: "detached" });
    await cat2.reload();
    await cat2.getByRole("heading", { name: "Chats" }).waitFor();
    await box.fill("Again");
    await box.press("Enter");
    await log(cat2).getByText("Again").waitFor();
    assert.equal(await offer.count(), 0);
    await fresh.close();
  });
});
