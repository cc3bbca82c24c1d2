import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "../../lib/api";
import { Button, ErrorNote } from "../ui";
import type { AuthStep } from "./AuthScreen";
import { DevOutboxBanner } from "./DevOutboxBanner";

function useCountdown(seconds: number): [number, (s: number) => void] {
  const [until, setUntil] = useState(() => Date.now() + seconds * 1000);
  const [now, setNow] = useState(Date.now);
  const left = Math.max(0, Math.ceil((until - now) / 1000));
  useEffect(() => {
    if (left <= 0) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [left]);
  return [left, (s) => (setUntil(Date.now() + s * 1000), setNow(Date.now()))];
}

export function VerifyForm({
  email,
  resendAfter,
  password,
  onDone,
  go,
}: {
  email: string;
  resendAfter: number;
  password?: string;
  onDone: () => void;
  go: (s: AuthStep) => void;
}) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const [cooldown, setCooldown] = useCountdown(resendAfter);

  async function verify(otp: string) {
    setBusy(true);
    setError(null);
    try {
      await api.verify(email, otp, password);
      onDone();
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
      if (err instanceof ApiError && (err.code === "otp_expired" || err.code === "otp_exhausted")) setCode("");
    }
  }

  async function resend() {
    setError(null);
    setInfo(null);
    try {
      const r = await api.resendOtp(email);
      setCooldown(r.resend_after);
      setInfo("We sent a new code.");
      setCode("");
    } catch (err) {
      if (err instanceof ApiError && err.retryAfter) setCooldown(err.retryAfter);
      setError(errorMessage(err));
    }
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (code.length === 6) void verify(code);
  };

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Verify email">
      <p className="text-sm text-zinc-600 dark:text-zinc-400">
        We emailed a 6-digit code to <strong className="font-semibold text-zinc-900 dark:text-zinc-100">{email}</strong>
        . Enter it to finish signing up.
      </p>
      <DevOutboxBanner
        email={email}
        onUse={(c) => {
          setCode(c);
          void verify(c);
        }}
      />
      {error && <ErrorNote>{error}</ErrorNote>}
      {info && !error && (
        <p role="status" className="text-sm text-emerald-700 dark:text-emerald-400">
          {info}
        </p>
      )}
      <div className="space-y-1.5">
        <label htmlFor="otp" className="block text-sm font-medium text-zinc-700 dark:text-zinc-300">
          Verification code
        </label>
        <input
          id="otp"
          className="input text-center font-mono text-2xl tracking-[0.5em]"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          maxLength={6}
          placeholder="••••••"
          autoFocus
          value={code}
          onChange={(e) => {
            const digits = e.target.value.replace(/\D/g, "").slice(0, 6);
            setCode(digits);
            if (digits.length === 6 && !busy) void verify(digits);
          }}
        />
      </div>
      <Button type="submit" busy={busy} disabled={code.length !== 6} className="w-full">
        Verify
      </Button>
      <div className="flex items-center justify-between text-sm">
        <button
          type="button"
          onClick={() => go({ step: "login" })}
          className="text-zinc-600 hover:underline dark:text-zinc-400"
        >
          Back to log in
        </button>
        <button
          type="button"
          onClick={resend}
          disabled={cooldown > 0}
          className="font-semibold text-brand-600 hover:underline disabled:font-normal disabled:text-zinc-500 disabled:no-underline dark:text-brand-400 dark:disabled:text-zinc-500"
        >
          {cooldown > 0 ? `Resend code in ${cooldown}s` : "Resend code"}
        </button>
      </div>
    </form>
  );
}
