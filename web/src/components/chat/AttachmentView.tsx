import { useState } from "react";
import { refreshMedia } from "../../lib/client";
import { formatSize } from "../../lib/format";
import type { Attachment, Message } from "../../lib/protocol";
import { DownloadIcon, FileIcon } from "../icons";
import { ImageViewer } from "./ImageViewer";

const MAX_W = 300;
const MAX_H = 320;

/** The box an image or video takes before it loads, so history never jumps. */
function box(a: Attachment): { width: number; height: number } {
  if (!a.width || !a.height) return { width: 240, height: 180 };
  const scale = Math.min(1, MAX_W / a.width, MAX_H / a.height);
  return { width: Math.max(80, Math.round(a.width * scale)), height: Math.max(60, Math.round(a.height * scale)) };
}

export function AttachmentView({ a, m, mine }: { a: Attachment; m: Message; mine: boolean }) {
  const [viewing, setViewing] = useState(false);
  const onError = () => void refreshMedia(m, a.media_id);

  if (a.content_type.startsWith("image/") && a.url) {
    const size = box(a);
    return (
      <>
        <button
          type="button"
          onClick={() => setViewing(true)}
          aria-label={`View image ${a.name}`}
          className="block max-w-full overflow-hidden rounded-xl bg-zinc-200 dark:bg-zinc-700"
          style={{ width: size.width, aspectRatio: `${size.width} / ${size.height}` }}
        >
          <img
            src={a.thumbnail_url ?? a.url}
            alt={a.name}
            onError={onError}
            className="size-full object-cover"
            data-testid="image-thumbnail"
          />
        </button>
        {viewing && <ImageViewer a={a} onClose={() => setViewing(false)} onError={onError} />}
      </>
    );
  }
  if (a.content_type.startsWith("video/") && a.url) {
    const size = box(a);
    return (
      <video
        controls
        preload="metadata"
        src={a.url}
        onError={onError}
        aria-label={`Video ${a.name}`}
        className="max-w-full rounded-xl bg-black"
        style={{ width: size.width, aspectRatio: `${size.width} / ${size.height}` }}
      />
    );
  }
  return (
    <a
      href={a.url}
      download={a.name}
      className={`flex min-w-56 items-center gap-3 rounded-xl px-3 py-2.5 ${mine ? "bg-white/15 hover:bg-white/25" : "bg-zinc-100 hover:bg-zinc-200 dark:bg-zinc-700/60 dark:hover:bg-zinc-700"}`}
    >
      <span
        className={`flex size-10 shrink-0 items-center justify-center rounded-lg ${mine ? "bg-white/20" : "bg-brand-100 text-brand-600 dark:bg-brand-500/20 dark:text-brand-400"}`}
      >
        <FileIcon />
      </span>
      <span className="min-w-0 flex-1">
        <span className="block truncate text-sm font-medium">{a.name}</span>
        <span className={`block text-xs ${mine ? "text-white/75" : "text-zinc-500 dark:text-zinc-400"}`}>
          {formatSize(a.size)}
        </span>
      </span>
      <DownloadIcon width={18} height={18} className="shrink-0 opacity-70" />
    </a>
  );
}
