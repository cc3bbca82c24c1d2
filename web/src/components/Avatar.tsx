import { useState } from "react";
import { initials } from "../lib/format";

// Stable colours from the name, so a person keeps theirs everywhere.
const palette = [
  "bg-rose-500",
  "bg-orange-500",
  "bg-amber-500",
  "bg-emerald-500",
  "bg-teal-500",
  "bg-sky-500",
  "bg-indigo-500",
  "bg-violet-500",
  "bg-fuchsia-500",
  "bg-pink-500",
];

function colour(seed: string): string {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[h % palette.length]!;
}

const sizes = { sm: "size-8 text-xs", md: "size-10 text-sm", lg: "size-12 text-base", xl: "size-20 text-2xl" };

export function Avatar({
  name,
  url,
  seed,
  size = "md",
  online,
}: {
  name: string;
  url?: string | null;
  seed?: string;
  size?: keyof typeof sizes;
  online?: boolean;
}) {
  const [broken, setBroken] = useState<string | null>(null);
  const showImage = url && broken !== url;
  return (
    <span className={`relative inline-flex shrink-0 ${sizes[size]}`}>
      {showImage ? (
        <img src={url} alt="" onError={() => setBroken(url)} className="size-full rounded-full object-cover" />
      ) : (
        <span
          aria-hidden="true"
          className={`flex size-full items-center justify-center rounded-full font-semibold text-white ${colour(seed ?? name)}`}
        >
          {initials(name)}
        </span>
      )}
      {online !== undefined && (
        <span
          aria-label={online ? "online" : "offline"}
          role="img"
          className={`absolute right-0 bottom-0 size-3 rounded-full ring-2 ring-white dark:ring-zinc-900 ${online ? "bg-emerald-500" : "bg-zinc-300 dark:bg-zinc-600"}`}
        />
      )}
    </span>
  );
}
