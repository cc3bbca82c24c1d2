import type { Attachment } from "../../lib/protocol";
import { formatSize } from "../../lib/format";
import { Dialog } from "../Dialog";
import { CloseIcon, DownloadIcon } from "../icons";

export function ImageViewer({ a, onClose, onError }: { a: Attachment; onClose: () => void; onError: () => void }) {
  return (
    <Dialog
      label={`Image ${a.name}`}
      onClose={onClose}
      onBackdrop={onClose}
      className="m-0 h-dvh open:flex max-h-none w-screen max-w-none flex-col bg-zinc-950/95 p-0 text-white backdrop:bg-transparent"
    >
      <header className="flex items-center gap-3 px-4 py-3">
        <div className="min-w-0 flex-1">
          <p className="truncate text-sm font-medium">{a.name}</p>
          <p className="text-xs text-white/60">
            {formatSize(a.size)}
            {a.width && a.height ? ` · ${a.width}×${a.height}` : ""}
          </p>
        </div>
        <a
          href={a.url}
          download={a.name}
          aria-label="Download"
          className="flex size-10 items-center justify-center rounded-full hover:bg-white/10"
        >
          <DownloadIcon />
        </a>
        <button
          type="button"
          aria-label="Close viewer"
          data-autofocus
          onClick={onClose}
          className="flex size-10 items-center justify-center rounded-full hover:bg-white/10"
        >
          <CloseIcon />
        </button>
      </header>
      <div
        className="flex min-h-0 flex-1 items-center justify-center p-4"
        onClick={(e) => e.target === e.currentTarget && onClose()}
      >
        <img
          src={a.url}
          alt={a.name}
          onError={onError}
          className="max-h-full max-w-full rounded-lg object-contain shadow-2xl"
        />
      </div>
    </Dialog>
  );
}
