import { useState } from "react";
import { removePreview } from "../../lib/client";
import { previewCard } from "../../lib/link-preview";
import type { Message } from "../../lib/protocol";
import { CloseIcon } from "../icons";

/** Narrower than this, the page's image sits beside the text instead of above it. */
const BANNER_MIN_WIDTH = 240;

/**
 * The card for a message's link preview, under its text. Everything in it is the page's own
 * text and is rendered as text; the image is ChatSync's copy, never the page's URL.
 */
export function LinkPreviewCard({ m, mine }: { m: Message; mine: boolean }) {
  const card = previewCard(m.preview);
  const [removing, setRemoving] = useState(false);
  const [broken, setBroken] = useState(false);
  if (!card) return null;
  const image = card.image && !broken ? card.image : null;
  const banner = image !== null && (image.width ?? 0) >= BANNER_MIN_WIDTH;
  const muted = mine ? "text-white/80" : "text-zinc-500 dark:text-zinc-400";
  const img = image && (
    <img
      src={image.src}
      alt={image.alt}
      width={image.width}
      height={image.height}
      loading="lazy"
      decoding="async"
      onError={() => setBroken(true)}
      className={
        banner
          ? "block h-auto max-h-52 w-full bg-black/5 object-cover"
          : "size-16 shrink-0 rounded-md bg-black/5 object-cover sm:size-20"
      }
    />
  );
  return (
    <div
      data-testid="link-preview"
      className={`relative mt-2 mb-1 overflow-hidden rounded-xl border-l-[3px] ${
        mine ? "border-white/70 bg-white/15" : "border-brand-500 bg-zinc-100 dark:bg-zinc-700/60"
      }`}
    >
      {banner && img}
      <div className={`flex gap-3 px-3 py-2 ${mine && !banner ? "pr-9" : ""}`}>
        <div className="min-w-0 flex-1">
          <p className={`truncate text-xs font-medium ${muted}`}>{card.site}</p>
          {card.title && (
            <a
              href={card.href}
              target="_blank"
              rel="noopener noreferrer nofollow"
              className={`line-clamp-2 text-sm leading-snug font-semibold break-words hover:underline focus-visible:underline ${
                mine ? "text-white" : "text-brand-700 dark:text-brand-400"
              }`}
            >
              {card.title}
            </a>
          )}
          {card.description && (
            <p
              className={`mt-0.5 line-clamp-3 text-[13px] leading-snug break-words ${mine ? "text-white/90" : "text-zinc-700 dark:text-zinc-300"}`}
            >
              {card.description}
            </p>
          )}
          {!card.title && (
            <a
              href={card.href}
              target="_blank"
              rel="noopener noreferrer nofollow"
              className={`mt-0.5 block truncate text-xs underline underline-offset-2 ${muted}`}
            >
              {card.href}
            </a>
          )}
        </div>
        {!banner && img}
      </div>
      {mine && (
        <button
          type="button"
          aria-label="Remove preview"
          title="Remove preview"
          disabled={removing}
          onClick={() => {
            setRemoving(true);
            void removePreview(m.id).finally(() => setRemoving(false));
          }}
          className="absolute top-1.5 right-1.5 flex size-6 items-center justify-center rounded-full bg-black/30 text-white hover:bg-black/50 focus-visible:outline-2 focus-visible:outline-white disabled:opacity-50"
        >
          <CloseIcon width={14} height={14} />
        </button>
      )}
    </div>
  );
}
