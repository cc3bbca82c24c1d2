// Sessions from the person's side: expired access tokens are refreshed unseen, a revoked
// session or a server restart (sessions live in memory) returns to the log-in screen, and the
// open conversation survives a reload.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, PHONE, startServer, type Server } from "./harness.js";
import { direct, say, signUp, type Account } from "./seed.js";

/** The access token this page holds. */
const accessToken = (page: Page) =>
  page.evaluate(
    () =>
      (JSON.parse(localStorage.getItem("chatsync.session") ?? "{}") as { access_token?: string }).access_token ?? "",
  );

describe("sessions", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let gus: Account;
  let hana: Account;

  before(async () => {
    // Access tokens that expire within the test, to exercise the refresh path.
    server = await startServer("session", { ACCESS_TOKEN_TTL_SECS: "2" });
    browser = await launchBrowser();
    gus = await signUp(server, person("Gus Moreno"));
    hana = await signUp(server, person("Hana Sato"));
    const c = await direct(server, gus, hana);
    await say(server, hana, c, "Are you there?");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("an expired access token is refreshed without the person noticing", async () => {
    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, gus.person);
    const first = await accessToken(page);
    await eventually("the access token to expire", async () => {
      const r = await page.evaluate(
        async (t) => (await fetch("/api/users/me", { headers: { Authorization: `Bearer ${t}` } })).status,
        first,
      );
      assert.equal(r, 401);
    });
    await page.getByRole("button", { name: "New chat" }).click();
    const dialog = page.getByRole("dialog", { name: "New chat" });
    await dialog.getByRole("searchbox").fill("Hana");
    await dialog.getByRole("button", { name: "Hana Sato" }).click();
    await page.getByRole("log", { name: "Messages" }).getByText("Are you there?").waitFor();
    assert.notEqual(await accessToken(page), first, "the tokens were rotated");
    assert.equal(await page.getByRole("alert").count(), 0, "no error was shown");
    await page.context().close();
  });

  test("the open conversation survives a reload and Back returns to the list", async () => {
    const { page } = await newPage(browser, { viewport: PHONE });
    await loginViaUi(page, server.url, gus.person);
    await page.getByRole("button", { name: /^Hana Sato/ }).click();
    await page.getByRole("log", { name: "Messages" }).getByText("Are you there?").waitFor();
    assert.match(new URL(page.url()).pathname, /^\/c\//);
    await page.reload();
    await page.getByRole("log", { name: "Messages" }).getByText("Are you there?").waitFor();
    await page.goBack();
    await page.getByRole("heading", { name: "Chats" }).waitFor();
    assert.equal(await page.getByRole("log", { name: "Messages" }).count(), 0, "one pane at a time at phone width");
    await page.context().close();
  });

  test("revoking a session signs that device out; logging out signs this one out", async () => {
    const laptop = (await newPage(browser)).page;
    const phone = (await newPage(browser, { viewport: PHONE })).page;
    await loginViaUi(laptop, server.url, hana.person);
    await loginViaUi(phone, server.url, hana.person);
    await laptop.getByRole("button", { name: "Settings and profile" }).click();
    const sessions = laptop.getByRole("region", { name: "Sessions" });
    await sessions.getByText("This device").waitFor();
    await eventually("both sessions listed", async () =>
      assert.ok((await sessions.getByRole("listitem").count()) >= 2),
    );
    await sessions
      .getByRole("button", { name: /^Revoke session/ })
      .first()
      .click();
    await phone.getByRole("button", { name: "Log in" }).waitFor();

    await sessions.getByRole("button", { name: "Log out of this device" }).click();
    await laptop.getByRole("button", { name: "Log in" }).waitFor();
    assert.equal(await laptop.evaluate(() => localStorage.getItem("chatsync.session")), null);
    await laptop.context().close();
    await phone.context().close();
  });

  test("a server restart ends sessions and the app returns to the log-in screen", async () => {
    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, gus.person);
    await page.getByRole("button", { name: /^Hana Sato/ }).waitFor();
    await server.restart();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await loginViaUi(page, server.url, gus.person);
    await page.getByRole("button", { name: /^Hana Sato/ }).click();
    await page.getByRole("log", { name: "Messages" }).getByText("Are you there?").waitFor();
    await page.context().close();
  });
});
