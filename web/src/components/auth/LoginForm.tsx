import { useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../../lib/api";
import { Button, ErrorNote, Field } from "../ui";
import type { AuthStep } from "./AuthScreen";

export function LoginForm({ go }: { go: (s: AuthStep) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(email.trim(), password);
    } catch (err) {
      if (err instanceof ApiError && err.code === "unverified") {
        // The first code may have expired: ask for a fresh one (a cooldown answer is fine).
        const resend = await api.resendOtp(email.trim()).catch((e: unknown) => e);
        const wait = resend instanceof ApiError ? (resend.retryAfter ?? 60) : 60;
        go({ step: "verify", email: email.trim(), resendAfter: wait, password });
        return;
      }
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Log in">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field
        label="Email"
        type="email"
        autoComplete="email"
        required
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        autoFocus
      />
      <Field
        label="Password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      <Button type="submit" busy={busy} className="w-full">
        Log in
      </Button>
      <p className="text-center text-sm text-zinc-600 dark:text-zinc-400">
        New to ChatSync?{" "}
        <button
          type="button"
          onClick={() => go({ step: "register" })}
          className="font-semibold text-brand-600 hover:underline dark:text-brand-400"
        >
          Create an account
        </button>
      </p>
    </form>
  );
}
