// Screenshots of the main screens at desktop and phone width, light and dark, written to
// web/screenshots/ so anyone can see what the app looks like without running it.

import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, loginViaUi, makePng, newPage, person, shoot, startServer, type Server } from "./harness.js";
import { direct, group, reactTo, read, say, signUp, upload, type Account } from "./seed.js";

describe("screenshots of the main screens", { timeout: 300_000 }, () => {
  let server: Server;
  let browser: Browser;
  let alice: Page;
  let people: Record<"alice" | "bob" | "carol" | "dan", Account>;

  before(async () => {
    server = await startServer("screens");
    browser = await launchBrowser();
    people = {
      alice: await signUp(server, person("Alice Martin")),
      bob: await signUp(server, person("Bob Chen")),
      carol: await signUp(server, person("Carol Diaz")),
      dan: await signUp(server, person("Dan Okafor")),
    };
    await seed(server, people);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("log in", async () => {
    const { page } = await newPage(browser);
    await page.goto(server.url);
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await shoot(page, "login");
    await page.close();
  });

  test("verify with the dev-outbox banner", async () => {
    const { page } = await newPage(browser);
    const erin = person("Erin Walsh");
    await page.goto(server.url);
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByLabel("Display name").fill(erin.name);
    await page.getByLabel("Email").fill(erin.email);
    await page.getByLabel("Password").fill(erin.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByTestId("dev-code").waitFor();
    await page.getByLabel("Verification code").blur();
    await shoot(page, "verify");
    await page.close();
  });

  test("conversation list and chat", async () => {
    // Bob is online in his own browser, so Alice sees the green dot.
    const bob = (await newPage(browser)).page;
    await loginViaUi(bob, server.url, people.bob.person);

    alice = (await newPage(browser)).page;
    await loginViaUi(alice, server.url, people.alice.person);
    await alice.getByRole("button", { name: /^Bob Chen/ }).waitFor();
    await shoot(alice, "conversations");

    await alice.getByRole("button", { name: /^Bob Chen/ }).click();
    await alice.getByTestId("conversation-status").getByText("online", { exact: true }).waitFor();
    await alice.getByRole("log", { name: "Messages" }).getByText("I'll pick you up at 10.").waitFor();
    await shoot(alice, "chat");
  });

  test("group details and members", async () => {
    await alice.getByRole("button", { name: /^Weekend trip/ }).click();
    await alice.getByRole("log", { name: "Messages" }).getByText("Who's driving?").waitFor();
    await shoot(alice, "group-chat");
    await alice.getByRole("button", { name: "Group details" }).click();
    await alice.getByRole("dialog", { name: "Group details" }).waitFor();
    await shoot(alice, "group-details");
    await alice.keyboard.press("Escape");
    await alice.getByRole("dialog", { name: "Group details" }).waitFor({ state: "detached" });
  });

  test("settings", async () => {
    await alice.getByRole("button", { name: "Settings and profile" }).click();
    const dialog = alice.getByRole("dialog", { name: "Settings" });
    await dialog.getByText("This device").waitFor();
    if (await server.hasMedia()) {
      await dialog
        .getByLabel("Choose a profile photo")
        .setInputFiles({ name: "me.png", mimeType: "image/png", buffer: makePng(256, 256) });
      await dialog.getByRole("button", { name: "Remove", exact: true }).waitFor();
      await dialog.locator("img").first().waitFor();
      await alice.getByRole("button", { name: "Settings and profile" }).locator("img").waitFor();
    }
    await shoot(alice, "settings");
  });
});

async function seed(server: Server, p: Record<"alice" | "bob" | "carol" | "dan", Account>): Promise<void> {
  const { alice, bob, carol, dan } = p;

  const trip = await group(server, alice, "Weekend trip 🏕️", [bob, carol]);
  await say(server, carol, trip, "I'll bring snacks and the board games 🎲");
  await say(server, bob, trip, "Who's driving?");
  await say(server, alice, trip, "I can drive, there's room for four.");

  const withDan = await direct(server, dan, alice);
  const thanks = await say(server, dan, withDan, "Thanks for the book recommendation!");
  await read(server, alice, withDan, thanks.seq);
  await say(server, alice, withDan, "Anytime, enjoy it 📚");

  const withBob = await direct(server, alice, bob);
  await say(server, bob, withBob, "Hey Alice! Are we still on for Saturday?");
  await say(server, alice, withBob, "Yes! I booked the cabin by the lake 🏕️");
  await say(server, alice, withBob, "Check-in is at 3pm. I'll send the details tonight.");
  await say(server, bob, withBob, "Perfect. Should I bring the kayak?");
  let last = await say(server, alice, withBob, "Bring it! Carol is bringing snacks.");
  if (await server.hasMedia()) {
    const photo = await upload(server, alice, "lake.png", makePng(640, 400), "image/png");
    last = await say(server, alice, withBob, "The view from the deck last year", [photo]);
    await reactTo(server, bob, last, "😍");
  }
  const wow = await say(server, bob, withBob, "Wow, that looks amazing");
  await reactTo(server, alice, wow, "❤️");
  const final = await say(server, bob, withBob, "Deal. See you Saturday!\nI'll pick you up at 10.");
  await read(server, bob, withBob, last.seq);
  await read(server, alice, withBob, final.seq);

  const withCarol = await direct(server, carol, alice);
  await say(server, carol, withCarol, "Can you send me the address of the cabin?");
}
