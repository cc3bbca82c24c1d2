// Scrolling back through a long history: pages load as the reader nears the top, every
// message shows exactly once, and what is on screen does not move when a page goes in above.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { direct, say, signUp } from "./seed.js";

const TOTAL = 130;

describe("history", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;

  before(async () => {
    server = await startServer("history");
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("scrolls back to the first message without jumps or duplicates", async () => {
    const ann = await signUp(server, person("Ann Lee"));
    const ben = await signUp(server, person("Ben Ito"));
    const c = await direct(server, ann, ben);
    for (let i = 1; i <= TOTAL; i++) await say(server, i % 3 ? ann : ben, c, `History line ${i}`);

    const { page } = await newPage(browser);
    await loginViaUi(page, server.url, ann.person);
    await page.getByRole("button", { name: /^Ben Ito/ }).click();
    const log = page.getByRole("log", { name: "Messages" });
    await log.getByText(`History line ${TOTAL}`, { exact: true }).waitFor();

    let previousCount = 0;
    let pages = 0;
    for (;;) {
      const count = await log.getByTestId("message").count();
      if (await log.getByText("This is the beginning of the conversation.").isVisible()) break;
      assert.ok(count > previousCount || previousCount === 0, "scrolling up loads more");
      previousCount = count;
      pages++;
      // The oldest message on screen must stay where it is while the older page goes in.
      const y0 = await log.evaluate((el) => {
        el.scrollTo({ top: 0 });
        const anchor = el.querySelector('[data-testid="message"]')!;
        el.querySelectorAll("[data-anchor]").forEach((a) => a.removeAttribute("data-anchor"));
        anchor.setAttribute("data-anchor", "");
        return anchor.getBoundingClientRect().top;
      });
      await eventually("an older page", async () => {
        const now = await log.getByTestId("message").count();
        const done = await log.getByText("This is the beginning of the conversation.").isVisible();
        assert.ok(now > count || done);
      });
      const y1 = await log.locator("[data-anchor]").evaluate((a) => a.getBoundingClientRect().top);
      assert.ok(Math.abs(y1 - y0) < 2, `the message at the top stayed put (moved ${y1 - y0}px)`);
    }
    assert.ok(pages >= 2, `history came in pages (${pages})`);
    await log.getByText("History line 1", { exact: true }).waitFor();
    for (const i of [1, 50, 51, 80, 81, TOTAL]) {
      assert.equal(await log.getByText(`History line ${i}`, { exact: true }).count(), 1, `line ${i} once`);
    }
    assert.equal(await log.getByTestId("message").count(), TOTAL);
  });
});
