import type { Delivery } from "../../lib/conversation";
import { AlertIcon, CheckIcon, ClockIcon, DoubleCheckIcon } from "../icons";

const labels: Record<Delivery, string> = {
  sending: "Sending",
  failed: "Not sent",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
};

export function Ticks({ status }: { status: Delivery }) {
  const p = { width: 15, height: 15, strokeWidth: 2.25 };
  return (
    <span
      role="img"
      aria-label={labels[status]}
      title={labels[status]}
      data-testid="ticks"
      data-status={status}
      className="inline-flex"
    >
      {status === "sending" && <ClockIcon {...p} width={13} height={13} />}
      {status === "failed" && <AlertIcon {...p} className="text-red-300" />}
      {status === "sent" && <CheckIcon {...p} />}
      {status === "delivered" && <DoubleCheckIcon {...p} />}
      {status === "read" && <DoubleCheckIcon {...p} className="text-sky-300" />}
    </span>
  );
}
