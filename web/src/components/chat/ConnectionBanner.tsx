import { useChat } from "../../lib/store";
import { WifiOffIcon } from "../icons";
import { Spinner } from "../ui";

export function ConnectionBanner() {
  const connection = useChat((s) => s.connection);
  if (connection !== "offline") return null;
  return (
    <div
      role="status"
      className="flex items-center justify-center gap-2 bg-amber-500 px-3 py-1.5 text-sm font-medium text-amber-950"
    >
      <WifiOffIcon width={16} height={16} />
      <span>Connection lost — reconnecting. Messages you send will go out when you're back.</span>
      <Spinner className="size-3.5" />
    </div>
  );
}
