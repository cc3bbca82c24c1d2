import { useState } from "react";
import { ChatIcon } from "../icons";
import { LoginForm } from "./LoginForm";
import { RegisterForm } from "./RegisterForm";
import { VerifyForm } from "./VerifyForm";

export type AuthStep =
  | { step: "login" }
  | { step: "register" }
  // `password` (kept in memory only, never stored) goes with the code, so the code from any
  // mail to this address activates the password typed here.
  | { step: "verify"; email: string; resendAfter: number; password?: string };

const PENDING_KEY = "chatsync.pendingVerification";

// A reload on the code screen returns to it.
function initialStep(): AuthStep {
  const email = sessionStorage.getItem(PENDING_KEY);
  return email ? { step: "verify", email, resendAfter: 0 } : { step: "login" };
}

export function AuthScreen() {
  const [step, setStep] = useState<AuthStep>(initialStep);
  const go = (next: AuthStep) => {
    if (next.step === "verify") sessionStorage.setItem(PENDING_KEY, next.email);
    else sessionStorage.removeItem(PENDING_KEY);
    setStep(next);
  };
  const titles = { login: "Welcome back", register: "Create your account", verify: "Check your email" };

  return (
    <main className="flex min-h-full items-center justify-center bg-gradient-to-br from-brand-50 via-zinc-50 to-sky-50 px-4 py-10 dark:from-zinc-950 dark:via-zinc-950 dark:to-indigo-950/40">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex flex-col items-center gap-3 text-center">
          <span className="flex size-12 items-center justify-center rounded-2xl bg-brand-600 text-white shadow-lg shadow-brand-600/30">
            <ChatIcon width={26} height={26} />
          </span>
          <div>
            <p className="text-sm font-semibold tracking-wide text-brand-600 dark:text-brand-400">ChatSync</p>
            <h1 className="text-2xl font-bold tracking-tight">{titles[step.step]}</h1>
          </div>
        </div>
        <div className="rounded-2xl bg-white p-6 shadow-xl shadow-zinc-900/5 ring-1 ring-zinc-200 dark:bg-zinc-900 dark:shadow-none dark:ring-zinc-800">
          {step.step === "login" && <LoginForm go={go} />}
          {step.step === "register" && <RegisterForm go={go} />}
          {step.step === "verify" && (
            <VerifyForm
              email={step.email}
              resendAfter={step.resendAfter}
              password={step.password}
              onDone={() => sessionStorage.removeItem(PENDING_KEY)}
              go={go}
            />
          )}
        </div>
      </div>
    </main>
  );
}
