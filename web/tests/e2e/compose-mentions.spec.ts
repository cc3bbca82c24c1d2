// Mentions from the composer: in a group, Alice types "@Bo", picks Bob from the autocomplete
// (mouse, then the keyboard), sends; the server stores Bob's id in `mentions`, and Bob's page
// shows the mention highlighted as his. A name edited away is not sent.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { eventually, launchBrowser, loginViaUi, newPage, person, startServer, type Server } from "./harness.js";
import { group, signUp, type Account } from "./seed.js";

interface Stored {
  body: string;
  mentions: string[];
}

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });

async function history(server: Server, who: Account, conversationId: string): Promise<Stored[]> {
  const res = await fetch(`${server.url}/api/conversations/${conversationId}/messages?limit=50`, {
    headers: { Authorization: `Bearer ${who.token}` },
  });
  return ((await res.json()) as { messages: Stored[] }).messages;
}

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

describe("mentions from the composer", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Account;
  let bob: Account;
  let carol: Account;
  let ann: Page;
  let ben: Page;
  let conversationId: string;

  before(async () => {
    server = await startServer("compose-mentions");
    browser = await launchBrowser();
    alice = await signUp(server, person("Alice Martin"));
    bob = await signUp(server, person("Bob Chen"));
    carol = await signUp(server, person("Carol Diaz"));
    conversationId = (await group(server, alice, "Lunch crew", [bob, carol])).id;
    ann = (await newPage(browser)).page;
    ben = (await newPage(browser)).page;
    await loginViaUi(ann, server.url, alice.person);
    await loginViaUi(ben, server.url, bob.person);
    await open(ann, "Lunch crew");
    await open(ben, "Lunch crew");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("Alice picks Bob after typing @Bo; the server stores his id and Bob sees it highlighted", async () => {
    const box = ann.getByLabel("Message", { exact: true });
    await box.click();
    await box.pressSequentially("@Bo");
    const list = ann.getByRole("listbox", { name: "Mention a member" });
    await list.waitFor();
    const options = list.getByRole("option");
    assert.equal(await options.count(), 1);
    await list.getByRole("option", { name: "Bob Chen", exact: true }).waitFor();
    assert.equal(await options.first().getAttribute("aria-selected"), "true");
    assert.equal(await box.getAttribute("aria-activedescendant"), await options.first().getAttribute("id"));
    await options.first().click();
    await list.waitFor({ state: "detached" });
    assert.equal(await box.inputValue(), "@Bob Chen ");
    await box.pressSequentially("lunch at noon?");
    await box.press("Enter");

    const sent = await stored(server, alice, conversationId, "@Bob Chen lunch at noon?");
    assert.deepEqual(sent.mentions, [bob.id]);

    const mention = messages(ben).getByTestId("mention").filter({ hasText: "@Bob Chen" });
    await mention.waitFor();
    assert.equal(await mention.getAttribute("data-me"), "true", "a mention of me is marked as mine");
    const onAlice = messages(ann).getByTestId("mention").filter({ hasText: "@Bob Chen" });
    await onAlice.waitFor();
    assert.equal(await onAlice.getAttribute("data-me"), null);
  });

  test("from the keyboard: arrows, Tab and Enter pick; Escape closes the list; a name edited away is not sent", async () => {
    const box = ann.getByLabel("Message", { exact: true });
    await box.pressSequentially("@");
    const list = ann.getByRole("listbox", { name: "Mention a member" });
    await list.waitFor();
    assert.equal(await list.getByRole("option").count(), 2);
    await box.press("ArrowDown");
    await list.getByRole("option", { name: "Carol Diaz", selected: true }).waitFor();
    await box.press("Tab");
    assert.equal(await box.inputValue(), "@Carol Diaz ");
    await box.pressSequentially("and @b");
    await list.waitFor();
    await box.press("Escape");
    await list.waitFor({ state: "detached" });
    await box.pressSequentially("o");
    assert.equal(await list.count(), 0, "closed until another @");
    await box.pressSequentially(" @bo");
    await box.press("Enter");
    assert.equal(await box.inputValue(), "@Carol Diaz and @bo @Bob Chen ");
    // Bob's name is edited away before sending: only Carol goes.
    await box.fill("@Carol Diaz and Bob ");
    await box.press("Enter");
    const sent = await stored(server, alice, conversationId, "@Carol Diaz and Bob");
    assert.deepEqual(sent.mentions, [carol.id]);
  });
});
