import { describe, expect, test } from "vitest";
import { formatDay, formatLastSeen, formatListTime, formatSize, formatUnread, initials, sameDay } from "./format";

// vitest.config.ts fixes the time zone (UTC) and locale (en-US).
const NOW = new Date("2024-05-10T15:00:00Z"); // a Friday

describe("days", () => {
  test("today, yesterday, a weekday within a week, then the date", () => {
    expect(formatDay("2024-05-10T00:00:00Z", NOW)).toBe("Today");
    expect(formatDay("2024-05-09T23:59:59Z", NOW)).toBe("Yesterday");
    expect(formatDay("2024-05-05T12:00:00Z", NOW)).toBe("Sunday");
    expect(formatDay("2024-05-03T12:00:00Z", NOW)).toBe("May 3, 2024");
  });

  test("the list shows a time today, then Yesterday, a short weekday, a short date", () => {
    expect(formatListTime("2024-05-10T09:05:00Z", NOW)).toBe("9:05 AM");
    expect(formatListTime("2024-05-09T09:05:00Z", NOW)).toBe("Yesterday");
    expect(formatListTime("2024-05-06T09:05:00Z", NOW)).toBe("Mon");
    expect(formatListTime("2024-04-01T09:05:00Z", NOW)).toBe("Apr 1");
  });

  test("same day compares calendar days, not 24 hours", () => {
    expect(sameDay("2024-05-10T00:00:00Z", "2024-05-10T23:59:59Z")).toBe(true);
    expect(sameDay("2024-05-09T23:59:59Z", "2024-05-10T00:00:00Z")).toBe(false);
  });
});

describe("last seen", () => {
  const now = NOW.getTime();
  test.each([
    [null, "offline"],
    ["2024-05-10T14:59:30Z", "last seen just now"],
    ["2024-05-10T14:47:00Z", "last seen 13 min ago"],
    ["2024-05-10T09:05:00Z", "last seen today at 9:05 AM"],
    ["2024-05-09T20:00:00Z", "last seen yesterday at 8:00 PM"],
    ["2024-05-06T20:00:00Z", "last seen Monday at 8:00 PM"],
    ["2024-04-09T20:00:00Z", "last seen April 9, 2024 at 8:00 PM"],
  ])("%s → %s", (iso, text) => {
    expect(formatLastSeen(iso, now)).toBe(text);
  });
});

describe("unread counts", () => {
  test.each([
    [1, "1"],
    [99, "99"],
    [100, "99+"],
    [120, "99+"],
  ])("%d shows as %s", (n, text) => {
    expect(formatUnread(n)).toBe(text);
  });
});

describe("sizes and initials", () => {
  test.each([
    [512, "512 B"],
    [1536, "1.5 KB"],
    [25 * 1024 * 1024, "25 MB"],
    [3 * 1024 ** 3, "3.0 GB"],
  ])("%d bytes → %s", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  test.each([
    ["Alice Martin", "AM"],
    ["alice", "A"],
    ["Mary Ann Lee", "ML"],
    ["Weekend trip 🏕️", "WT"],
    ["🎉", "?"],
  ])("%s → %s", (name, text) => {
    expect(initials(name)).toBe(text);
  });
});
