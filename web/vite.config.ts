import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// `npm run dev` talks to a ChatSync server on CHATSYNC_URL (default the run script's port).
const target = process.env.CHATSYNC_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/api": { target, changeOrigin: true },
      "/socket.io": { target, changeOrigin: true, ws: true },
    },
  },
});
