import { defineConfig } from "vitest/config";

// Unit tests of the app's pure logic (src/**/*.test.ts) in Node, without a browser. Dates and
// their words depend on the time zone and locale, so both are fixed (the workers inherit them).
process.env.TZ = "UTC";
process.env.LC_ALL = "en_US.UTF-8";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    restoreMocks: true,
  },
});
