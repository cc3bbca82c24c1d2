import { useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../../lib/api";
import { Button, ErrorNote, Field } from "../ui";
import type { AuthStep } from "./AuthScreen";

export function RegisterForm({ go }: { go: (s: AuthStep) => void }) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.register(email.trim(), password, name.trim());
      go({ step: "verify", email: r.email, resendAfter: r.resend_after, password });
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === "email_taken"
          ? "This email already has an account. Log in instead."
          : errorMessage(err),
      );
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Create account">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field
        label="Display name"
        autoComplete="name"
        required
        maxLength={64}
        value={name}
        onChange={(e) => setName(e.target.value)}
        autoFocus
      />
      <Field
        label="Email"
        type="email"
        autoComplete="email"
        required
        value={email}
        onChange={(e) => setEmail(e.target.value)}
      />
      <Field
        label="Password"
        type="password"
        autoComplete="new-password"
        required
        minLength={8}
        maxLength={256}
        hint="At least 8 characters."
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      <Button type="submit" busy={busy} className="w-full">
        Create account
      </Button>
      <p className="text-center text-sm text-zinc-600 dark:text-zinc-400">
        Already have an account?{" "}
        <button
          type="button"
          onClick={() => go({ step: "login" })}
          className="font-semibold text-brand-600 hover:underline dark:text-brand-400"
        >
          Log in
        </button>
      </p>
    </form>
  );
}
