// Every dialog is modal for keyboard and screen-reader users: focus moves in on open, Tab and
// Shift+Tab never leave it, the page behind is inert, and Escape closes it and puts focus back
// on the control that opened it.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { launchBrowser, loginViaUi, makePng, newPage, person, startServer, type Server } from "./harness.js";
import { direct, group, say, signUp, upload, type Account } from "./seed.js";

/** Where focus is: inside the open dialog, and a short description of the element. */
const focusState = (page: Page) =>
  page.evaluate(() => {
    const a = document.activeElement;
    const d = document.querySelector("dialog[open]");
    return {
      inside: !!d && !!a && a !== d && d.contains(a),
      what: a
        ? `${a.tagName.toLowerCase()} ${a.getAttribute("aria-label") ?? a.textContent?.slice(0, 30) ?? ""}`
        : "none",
    };
  });

async function checkModal(page: Page, opener: Locator, name: string): Promise<void> {
  await opener.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name });
  await dialog.waitFor();
  assert.equal(await dialog.getAttribute("aria-modal"), "true", `${name}: aria-modal`);
  assert.ok((await focusState(page)).inside, `${name}: focus moved into the dialog`);

  // Far more presses than the dialog has controls: focus wraps around inside it.
  const count = await dialog.evaluate(
    (d) =>
      [...d.querySelectorAll("a[href], button, input, textarea, select, [tabindex]")].filter(
        (e) => e.getClientRects().length,
      ).length,
  );
  for (let i = 0; i < count * 2 + 3; i++) {
    await page.keyboard.press("Tab");
    const f = await focusState(page);
    assert.ok(f.inside, `${name}: Tab #${i + 1} left the dialog (focus on ${f.what})`);
  }
  for (let i = 0; i < count + 2; i++) {
    await page.keyboard.press("Shift+Tab");
    const f = await focusState(page);
    assert.ok(f.inside, `${name}: Shift+Tab #${i + 1} left the dialog (focus on ${f.what})`);
  }

  // The page behind is inert: out of the accessibility tree and unfocusable, even by script.
  const behind = await page.evaluate(() => {
    const main = document.querySelector("main")!;
    const button = document.querySelector<HTMLElement>("aside button")!;
    button.focus();
    return {
      inert: main.closest("[inert]") !== null,
      stolen: document.activeElement === button,
    };
  });
  assert.ok(behind.inert, `${name}: the page behind is inert`);
  assert.ok(!behind.stolen, `${name}: an element behind could take focus`);

  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  assert.ok(
    await opener.evaluate((el) => el === document.activeElement),
    `${name}: focus went back to the opener (it is on ${(await focusState(page)).what})`,
  );
  assert.equal(await page.evaluate(() => document.querySelector("main")!.closest("[inert]")), null);
}

describe("dialogs are modal", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let ann: Account;
  let media = false;

  before(async () => {
    server = await startServer("dialogs");
    browser = await launchBrowser();
    ann = await signUp(server, person("Ann Lee"));
    const ben = await signUp(server, person("Ben Ito"));
    const withBen = await direct(server, ben, ann);
    media = await server.hasMedia();
    if (media) {
      const photo = await upload(server, ben, "photo.png", makePng(200, 120), "image/png");
      await say(server, ben, withBen, "", [photo]);
    } else {
      await say(server, ben, withBen, "Hi Ann");
    }
    const club = await group(server, ann, "Book club", [ben]);
    await say(server, ann, club, "Welcome");
    page = (await newPage(browser)).page;
    await loginViaUi(page, server.url, ann.person);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("new chat: focus starts in the search field and stays in the dialog", async () => {
    await page.getByRole("button", { name: "New chat" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "New chat" });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("type")), "search");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await checkModal(page, page.getByRole("button", { name: "New chat" }), "New chat");
  });

  test("new group", async () => {
    await checkModal(page, page.getByRole("button", { name: "New group" }), "New group");
    // The group name field gets focus first.
    await page.getByRole("button", { name: "New group" }).click();
    await page.getByRole("dialog", { name: "New group" }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("placeholder")), "Weekend trip");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog", { name: "New group" }).waitFor({ state: "detached" });
  });

  test("settings", async () => {
    await checkModal(page, page.getByRole("button", { name: "Settings and profile" }), "Settings");
  });

  test("group details", async () => {
    await page.getByRole("button", { name: /^Book club/ }).click();
    await checkModal(page, page.getByRole("button", { name: "Group details" }), "Group details");
  });

  test("contact details", async () => {
    await page.getByRole("button", { name: /^Ben Ito/ }).click();
    await checkModal(page, page.getByRole("button", { name: "Contact details" }), "Contact");
  });

  test("image viewer", async (t) => {
    if (!media) {
      t.skip("this server build has no /api/media");
      return;
    }
    const thumb = page.getByRole("button", { name: "View image photo.png" });
    await thumb.waitFor();
    await checkModal(page, thumb, "Image photo.png");
  });

  test("a click behind a dialog reaches nothing there", async () => {
    await page.getByRole("button", { name: "New chat" }).click();
    const dialog = page.getByRole("dialog", { name: "New chat" });
    await dialog.waitFor();
    // The New group button is beside the dialog, under its backdrop.
    const box = (await page.getByRole("button", { name: "New group" }).boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    // The backdrop click dismisses the dialog; the button under it was not pressed.
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.getByRole("dialog").count(), 0);
  });
});
