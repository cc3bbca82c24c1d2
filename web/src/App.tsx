import { useEffect, useState } from "react";
import { AuthScreen } from "./components/auth/AuthScreen";
import { ChatLayout } from "./components/chat/ChatLayout";
import { Toasts } from "./components/Toasts";
import { Spinner } from "./components/ui";
import { startChat, stopChat } from "./lib/client";
import { useSession } from "./lib/session";

export function App() {
  const session = useSession();
  const userId = session?.user.id ?? null;
  // The chat screens read the engine while rendering, so they wait until it runs.
  const [started, setStarted] = useState<string | null>(null);

  useEffect(() => {
    if (!userId) return;
    startChat(userId);
    setStarted(userId);
    return () => {
      stopChat();
      setStarted(null);
    };
  }, [userId]);

  let screen;
  if (!session) screen = <AuthScreen />;
  else if (started !== userId)
    screen = (
      <div className="flex h-dvh items-center justify-center text-zinc-400">
        <Spinner />
      </div>
    );
  else screen = <ChatLayout key={userId} />;

  return (
    <>
      {screen}
      <Toasts />
    </>
  );
}
