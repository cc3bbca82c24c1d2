// Who has read it: in a group, Alice opens Info on her message and sees Bob under "Read by"
// once he read it (live, from his receipt). Carol turns "Send read receipts" off in Settings
// (stored with PUT /api/chat-settings) and reads the next message: Alice sees her under
// "Delivered to", not "Read by". The setting reaches Carol's other device live (`chat:settings`):
// its open Settings dialog follows each change.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { group, read, say, signUp, type Account } from "./seed.js";

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });
const bubble = (page: Page, seq: number) => messages(page).locator(`[data-testid="message"][data-seq="${seq}"]`);

async function get<T>(server: Server, who: Account, path: string): Promise<T> {
  const res = await fetch(server.url + path, { headers: { Authorization: `Bearer ${who.token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as T;
}

async function open(page: Page, name: string): Promise<void> {
  await page
    .getByRole("list", { name: "Conversation list" })
    .getByRole("button", { name: new RegExp(`^${name}`) })
    .click();
  await page.getByRole("region", { name: "Conversation" }).getByText(name).first().waitFor();
}

async function openInfo(page: Page, seq: number) {
  await bubble(page, seq).hover();
  await bubble(page, seq).getByRole("button", { name: "Info" }).click();
  const dialog = page.getByRole("dialog", { name: "Message info" });
  await dialog.waitFor();
  return dialog;
}

describe("who has read it", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let carol: Account;
  let ann: Page;
  let cat: Page;
  let c: { id: string };

  before(async () => {
    server = await startServer("read-info");
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    carol = await signUp(server, person("Carol Diaz"));
    c = await group(server, alice, "Team", [bob, carol]);
    ann = (await newPage(browser)).page;
    await loginViaUi(ann, server.url, alice.person);
    await open(ann, "Team");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("Bob reads Alice's message: her Info shows him under Read by", async () => {
    const m = await say(server, alice, c, "Standup at ten");
    await bubble(ann, m.seq).getByText("Standup at ten").waitFor();
    const dialog = await openInfo(ann, m.seq);
    await dialog.getByRole("region", { name: "Read by" }).getByText("Nobody yet").waitFor();
    assert.equal(await dialog.getAttribute("aria-modal"), "true");

    await read(server, bob, c, m.seq);
    await dialog.getByRole("region", { name: "Read by" }).getByText("Bob Chen").waitFor();
    assert.equal(await dialog.getByRole("region", { name: "Delivered to" }).getByText("Bob Chen").count(), 0);

    // Focus stays inside; Escape closes and gives focus back to the Info button.
    for (let i = 0; i < 4; i++) {
      await ann.keyboard.press("Tab");
      assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), "focus stays in the dialog");
    }
    await ann.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await ann.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Info");
  });

  test("Carol turns read receipts off and reads: Alice sees her under Delivered to, not Read by", async () => {
    cat = (await newPage(browser)).page;
    await loginViaUi(cat, server.url, carol.person);
    await cat.getByRole("button", { name: "Settings and profile" }).click();
    const settings = cat.getByRole("dialog", { name: "Settings" });
    const box = settings.getByRole("checkbox", { name: /^Send read receipts/ });
    assert.equal(await box.isChecked(), true);
    await box.uncheck();
    await eventually("the setting to be stored", async () => {
      const s = await get<{ read_receipts: boolean }>(server, carol, "/api/chat-settings");
      assert.equal(s.read_receipts, false);
    });
    // The box keeps the focus while the change is saved, so Escape still reaches the dialog.
    assert.ok(await settings.evaluate((d) => d.contains(document.activeElement)), "focus stays in the Settings dialog");
    await cat.keyboard.press("Escape");
    await settings.waitFor({ state: "detached" });

    const m = await say(server, alice, c, "Retro at four");
    await bubble(ann, m.seq).getByText("Retro at four").waitFor();
    await open(cat, "Team");
    await bubble(cat, m.seq).getByText("Retro at four").waitFor();
    // Carol's page read it (her own view of her position says so).
    await eventually("Carol's read to be stored", async () => {
      const conv = await get<{ members: { user_id: string; read_seq: number }[] }>(
        server,
        carol,
        `/api/conversations/${c.id}`,
      );
      assert.ok(conv.members.find((x) => x.user_id === carol.id)!.read_seq >= m.seq);
    });

    const dialog = await openInfo(ann, m.seq);
    await dialog.getByRole("region", { name: "Delivered to" }).getByText("Carol Diaz").waitFor();
    assert.equal(await dialog.getByRole("region", { name: "Read by" }).getByText("Carol Diaz").count(), 0);
    await ann.keyboard.press("Escape");

    // Carol's own page shows no read ticks or "Read by" for her messages either.
    await cat.getByLabel("Message", { exact: true }).fill("Fine by me");
    await cat.getByLabel("Message", { exact: true }).press("Enter");
    const mine = messages(cat).locator('[data-testid="message"][data-mine="true"]').filter({ hasText: "Fine by me" });
    await mine.locator('[data-testid="ticks"]').waitFor();
    // A pending message has seq 0 until its ack: wait for the stored one.
    let seq = 0;
    await eventually("Carol's message to be stored", async () => {
      seq = Number(await mine.getAttribute("data-seq"));
      assert.ok(seq > 0, `seq ${seq}`);
    });
    await read(server, alice, c, seq);
    await read(server, bob, c, seq);
    const info = await openInfo(cat, seq);
    await info.getByText("Read receipts are off in your settings", { exact: false }).waitFor();
    assert.equal(await info.getByRole("region", { name: "Read by" }).count(), 0);
    assert.notEqual(await mine.locator('[data-testid="ticks"]').getAttribute("data-status"), "read");
  });

  test("Carol's other device, its Settings open, follows each change of Send read receipts", async () => {
    const phone = (await newPage(browser)).page;
    const laptop = (await newPage(browser)).page;
    await loginViaUi(phone, server.url, carol.person);
    await loginViaUi(laptop, server.url, carol.person);
    const boxes = [phone, laptop].map((page) =>
      page.getByRole("dialog", { name: "Settings" }).getByRole("checkbox", { name: /^Send read receipts/ }),
    );
    for (const page of [phone, laptop]) await page.getByRole("button", { name: "Settings and profile" }).click();
    // Off since the test before, on both.
    for (const box of boxes) {
      await eventually("the stored setting to show", async () => assert.equal(await box.isChecked(), false));
    }

    await boxes[0]!.check();
    await eventually("the laptop to show receipts on", async () => assert.equal(await boxes[1]!.isChecked(), true));
    assert.equal((await get<{ read_receipts: boolean }>(server, carol, "/api/chat-settings")).read_receipts, true);

    await boxes[1]!.uncheck();
    await eventually("the phone to show receipts off", async () => assert.equal(await boxes[0]!.isChecked(), false));
    assert.equal((await get<{ read_receipts: boolean }>(server, carol, "/api/chat-settings")).read_receipts, false);
    await phone.close();
    await laptop.close();
  });
});
