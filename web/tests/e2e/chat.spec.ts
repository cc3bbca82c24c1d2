// Two people in two browsers: register through the dev outbox, find each other, chat, see
// typing, presence and read ticks, send an image, and lose the network and come back.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  eventually,
  launchBrowser,
  makePng,
  newPage,
  person,
  registerViaUi,
  startServer,
  type Person,
  type Server,
} from "./harness.js";

const chats = (page: Page) => page.getByRole("list", { name: "Conversation list" });
const messages = (page: Page) => page.getByRole("log", { name: "Messages" });
const bubbles = (page: Page, text: string | RegExp) => messages(page).getByTestId("message").filter({ hasText: text });

async function send(page: Page, text: string): Promise<void> {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

async function openChatWith(page: Page, name: string): Promise<void> {
  await page.getByRole("button", { name: "New chat" }).click();
  const dialog = page.getByRole("dialog", { name: "New chat" });
  await dialog.getByRole("searchbox").fill(name.split(" ")[0]!);
  await dialog.getByRole("button", { name }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByRole("region", { name: "Conversation" }).getByText(name).first().waitFor();
}

async function countOf(page: Page, text: string): Promise<number> {
  return bubbles(page, text).count();
}

describe("two people chatting", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  const a: Person = person("Alice Martin");
  const b: Person = person("Bob Chen");

  before(async () => {
    server = await startServer("chat");
    browser = await launchBrowser();
    alice = (await newPage(browser)).page;
    bob = (await newPage(browser, { colorScheme: "dark" })).page;
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("both register with the code from the dev outbox", async () => {
    await registerViaUi(alice, server.url, a, "button");
    await registerViaUi(bob, server.url, b, "typed");
    await alice.getByText("No conversations yet").waitFor();
  });

  test("Alice finds Bob and they chat both ways", async () => {
    await openChatWith(alice, b.name);
    await send(alice, "Hi Bob! 👋");
    await bubbles(alice, "Hi Bob!")
      .getByTestId("ticks")
      .and(alice.locator('[data-status="sent"], [data-status="delivered"], [data-status="read"]'))
      .waitFor();

    const item = bob.getByRole("button", { name: new RegExp(`^${a.name}, 1 unread`) });
    await item.waitFor();
    await item.click();
    await bubbles(bob, "Hi Bob!").waitFor();

    const box = bob.getByLabel("Message", { exact: true });
    await box.fill("Hello Alice");
    await box.press("Shift+Enter");
    await box.pressSequentially("second line");
    await box.press("Enter");
    const reply = bubbles(alice, "Hello Alice");
    await reply.waitFor();
    assert.match((await reply.innerText()).replace(/\r/g, ""), /Hello Alice\nsecond line/);
  });

  test("Bob's read shows as read ticks on Alice's message", async () => {
    await bubbles(alice, "Hi Bob!").locator('[data-testid="ticks"][data-status="read"]').waitFor();
  });

  test("each sees the other online", async () => {
    await alice.getByTestId("conversation-status").getByText("online", { exact: true }).waitFor();
    await bob.getByTestId("conversation-status").getByText("online", { exact: true }).waitFor();
  });

  test("typing shows on the other side and goes away after sending", async () => {
    await alice.getByLabel("Message", { exact: true }).pressSequentially("I am typ", { delay: 30 });
    await bob.getByRole("status", { name: `${a.name} is typing…` }).waitFor();
    await alice.getByLabel("Message", { exact: true }).press("Enter");
    await bubbles(bob, "I am typ").waitFor();
    await bob.getByRole("status", { name: `${a.name} is typing…` }).waitFor({ state: "detached" });
  });

  test("Alice sends an image and Bob sees the thumbnail", async (t) => {
    if (!(await server.hasMedia())) {
      t.skip("this server build has no /api/media yet");
      return;
    }
    await alice
      .locator('input[type="file"]')
      .setInputFiles({ name: "gradient.png", mimeType: "image/png", buffer: makePng(320, 200) });
    await alice.getByRole("listitem").filter({ hasText: "gradient.png" }).getByText("ready").waitFor();
    await alice.getByRole("button", { name: "Send" }).click();
    const thumb = messages(bob).getByTestId("image-thumbnail");
    await thumb.waitFor();
    await eventually("the thumbnail to load", async () => {
      assert.ok(await thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0));
    });
    await messages(bob).getByRole("button", { name: "View image gradient.png" }).click();
    const viewer = bob.getByRole("dialog", { name: "Image gradient.png" });
    await viewer.waitFor();
    await bob.keyboard.press("Escape");
    await viewer.waitFor({ state: "hidden" });
  });

  test("a video arrives as a player whose source can seek (range requests)", async () => {
    // The start of an MP4 ("ftyp" box), which is what the server's type detection reads; the
    // bytes after it are not decodable, so this checks the player and its source, not playback.
    const ftyp = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");
    const mp4 = Buffer.concat([ftyp, Buffer.alloc(4096, 0x2a)]);
    await alice.locator('input[type="file"]').setInputFiles({ name: "clip.mp4", mimeType: "video/mp4", buffer: mp4 });
    await alice.getByRole("listitem").filter({ hasText: "clip.mp4" }).getByText("ready").waitFor();
    await alice.getByRole("button", { name: "Send" }).click();
    const player = messages(bob).getByLabel("Video clip.mp4");
    await player.waitFor();
    assert.equal(await player.evaluate((v: HTMLVideoElement) => v.tagName), "VIDEO");
    assert.ok(await player.evaluate((v: HTMLVideoElement) => v.controls), "the player has controls");
    const src = await player.evaluate((v: HTMLVideoElement) => v.currentSrc || v.src);
    assert.ok(src, "the player has a source");
    const seek = await bob.evaluate(async (url) => {
      const res = await fetch(url, { headers: { Range: "bytes=4-11" } });
      return {
        status: res.status,
        type: res.headers.get("content-type"),
        range: res.headers.get("content-range"),
        body: new TextDecoder().decode(await res.arrayBuffer()),
      };
    }, src);
    assert.equal(seek.status, 206);
    assert.equal(seek.type, "video/mp4");
    assert.equal(seek.range, `bytes 4-11/${mp4.length}`);
    assert.equal(seek.body, "ftypisom");
  });

  test("a PDF shows as a file chip with its size, a dropped file is attached, a refused type is explained", async (t) => {
    if (!(await server.hasMedia())) {
      t.skip("this server build has no /api/media yet");
      return;
    }
    const picker = alice.locator('input[type="file"]').first();
    const pdf = Buffer.from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    await picker.setInputFiles({ name: "notes.pdf", mimeType: "application/pdf", buffer: pdf });
    await alice.getByRole("listitem").filter({ hasText: "notes.pdf" }).getByText("ready").waitFor();
    await alice.getByRole("button", { name: "Send" }).click();
    const chip = messages(bob).getByRole("link", { name: /notes\.pdf/ });
    await chip.waitFor();
    assert.match(await chip.innerText(), /\d+ B/);

    // Dropped files are attached like picked ones.
    const drop = await alice.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["plain notes from a drop"], "dropped.txt", { type: "text/plain" }));
      return dt;
    });
    const region = alice.getByRole("region", { name: "Conversation" });
    await region.dispatchEvent("dragenter", { dataTransfer: drop });
    await alice.getByText("Drop files to attach").waitFor();
    await region.dispatchEvent("drop", { dataTransfer: drop });
    await alice.getByText("Drop files to attach").waitFor({ state: "detached" });
    await alice.getByRole("listitem").filter({ hasText: "dropped.txt" }).getByText("ready").waitFor();
    await alice.getByRole("button", { name: "Send" }).click();
    await messages(bob)
      .getByRole("link", { name: /dropped\.txt/ })
      .waitFor();

    const exe = Buffer.concat([Buffer.from("MZ"), Buffer.alloc(512, 0x90)]);
    await picker.setInputFiles({ name: "tool.exe", mimeType: "application/octet-stream", buffer: exe });
    const refused = alice.getByRole("listitem").filter({ hasText: "tool.exe" }).getByRole("alert");
    await refused.waitFor();
    assert.ok((await refused.innerText()).length > 10, "the refusal says why");
    await alice.getByRole("button", { name: "Remove tool.exe" }).click();
  });

  test("Bob goes offline, misses messages, writes one, and catches up exactly once", async () => {
    await bob.context().setOffline(true);
    await bob.getByRole("status").filter({ hasText: "Connection lost" }).waitFor();
    await alice
      .getByTestId("conversation-status")
      .getByText(/^last seen/)
      .waitFor();

    for (const n of [1, 2, 3]) await send(alice, `While you were away ${n}`);
    await bubbles(alice, "While you were away 3").getByTestId("ticks").waitFor();

    await send(bob, "Written offline");
    await bubbles(bob, "Written offline").locator('[data-status="sending"]').first().waitFor();

    await bob.context().setOffline(false);
    await bob.getByRole("status").filter({ hasText: "Connection lost" }).waitFor({ state: "detached" });
    await alice.getByTestId("conversation-status").getByText("online", { exact: true }).waitFor();
    await bubbles(bob, "While you were away 3").waitFor();
    await bubbles(alice, "Written offline").waitFor();
    await bubbles(bob, "Written offline").locator('[data-testid="ticks"][data-status="read"]').waitFor();

    for (const n of [1, 2, 3]) assert.equal(await countOf(bob, `While you were away ${n}`), 1);
    assert.equal(await countOf(alice, "Written offline"), 1);
    assert.equal(await countOf(bob, "Written offline"), 1);
  });

  test("a message written offline survives closing the tab and is sent once", async () => {
    const context = bob.context();
    await context.setOffline(true);
    await bob.getByRole("status").filter({ hasText: "Connection lost" }).waitFor();
    await send(bob, "Survives a closed tab");
    await bubbles(bob, "Survives a closed tab").locator('[data-status="sending"]').first().waitFor();
    await bob.close();
    await context.setOffline(false);

    bob = await context.newPage();
    await bob.goto(server.url);
    await bob.getByRole("button", { name: new RegExp(`^${a.name}`) }).click();
    await bubbles(alice, "Survives a closed tab").waitFor();
    await bubbles(bob, "Survives a closed tab").locator('[data-testid="ticks"][data-status="read"]').waitFor();
    assert.equal(await countOf(alice, "Survives a closed tab"), 1);
    assert.equal(await countOf(bob, "Survives a closed tab"), 1);
  });

  test("edits, reactions and deletes reach the other side", async () => {
    const mine = bubbles(alice, "I am typ");
    await mine.hover();
    await mine.getByRole("button", { name: "Edit" }).click();
    const edit = alice.getByLabel("Edit message");
    await edit.fill("I am typing, edited");
    await edit.press("Enter");
    await bubbles(bob, "I am typing, edited").getByText("edited", { exact: true }).waitFor();

    const theirs = bubbles(bob, "I am typing, edited");
    await theirs.hover();
    await theirs.getByRole("button", { name: "React" }).click();
    await bob.getByRole("menuitem", { name: "React ❤️" }).click();
    await bubbles(alice, "I am typing, edited").getByRole("button", { name: /❤️ 1/ }).waitFor();

    const hi = bubbles(alice, "Hi Bob!");
    await hi.hover();
    await hi.getByRole("button", { name: "Delete" }).click();
    await hi.getByRole("button", { name: "Yes" }).click();
    await messages(bob).getByText("This message was deleted").waitFor();
  });

  test("groups: create, rename, remove a member, add him back, and he leaves", async () => {
    await alice.getByRole("button", { name: "New group" }).click();
    const create = alice.getByRole("dialog", { name: "New group" });
    await create.getByLabel("Group name").fill("Book club");
    await create.getByRole("searchbox").fill("Bob");
    await create.getByRole("button", { name: b.name }).click();
    await create.getByRole("list", { name: "Selected people" }).getByText(b.name).waitFor();
    await create.getByRole("button", { name: "Create group" }).click();
    await create.waitFor({ state: "detached" });
    await send(alice, "Welcome to the club");
    await chats(bob)
      .getByRole("button", { name: /^Book club/ })
      .click();
    await bubbles(bob, "Welcome to the club").waitFor();

    await alice.getByRole("button", { name: "Group details" }).click();
    const details = alice.getByRole("dialog", { name: "Group details" });
    await details.getByLabel("Group name").fill("Book club 📚");
    await details.getByRole("button", { name: "Save" }).click();
    await bob.getByRole("region", { name: "Conversation" }).getByText("Book club 📚").first().waitFor();

    await details.getByRole("button", { name: `Remove ${b.name}` }).click();
    await details.getByText("1 member", { exact: true }).waitFor();
    await chats(bob)
      .getByRole("button", { name: /^Book club/ })
      .waitFor({ state: "detached" });
    await bob.getByText("Pick a conversation").waitFor();

    await details.getByRole("button", { name: "Add members" }).click();
    await details.getByRole("searchbox").fill("Bob");
    await details.getByRole("button", { name: b.name }).click();
    await details.getByRole("button", { name: "Add 1" }).click();
    await details.getByText("2 members", { exact: true }).waitFor();
    await alice.keyboard.press("Escape");
    await details.waitFor({ state: "detached" });

    await chats(bob)
      .getByRole("button", { name: /^Book club/ })
      .click();
    await bob.getByRole("button", { name: "Group details" }).click();
    await bob.getByRole("dialog", { name: "Group details" }).getByRole("button", { name: "Leave group" }).click();
    await chats(bob)
      .getByRole("button", { name: /^Book club/ })
      .waitFor({ state: "detached" });
    await alice.getByRole("region", { name: "Conversation" }).getByText("1 member", { exact: true }).waitFor();
  });
});
