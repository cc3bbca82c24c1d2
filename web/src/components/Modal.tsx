import { useId, type ReactNode } from "react";
import { Dialog } from "./Dialog";
import { CloseIcon } from "./icons";
import { IconButton } from "./ui";

/**
 * A card dialog with a title, a close button and an optional footer, on the shared modal
 * Dialog. Mark the element that should get focus first with `data-autofocus`.
 */
export function Modal({
  title,
  onClose,
  children,
  footer,
  wide = false,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}) {
  const titleId = useId();
  return (
    <Dialog
      labelledBy={titleId}
      onClose={onClose}
      onBackdrop={onClose}
      className={`m-auto w-[calc(100%-1.5rem)] ${wide ? "max-w-lg" : "max-w-md"} rounded-2xl bg-white p-0 text-zinc-900 shadow-2xl ring-1 ring-black/5 backdrop:bg-zinc-950/50 backdrop:backdrop-blur-[2px] dark:bg-zinc-900 dark:text-zinc-100 dark:ring-white/10`}
    >
      <div className="flex max-h-[85dvh] flex-col">
        <header className="flex items-center justify-between gap-3 border-b border-zinc-200 px-5 py-3.5 dark:border-zinc-800">
          <h2 id={titleId} className="text-base font-semibold">
            {title}
          </h2>
          <IconButton label="Close" onClick={onClose} className="-mr-2 size-9">
            <CloseIcon />
          </IconButton>
        </header>
        <div className="scroll-thin min-h-0 flex-1 overflow-y-auto px-5 py-4">{children}</div>
        {footer && (
          <footer className="flex justify-end gap-2 border-t border-zinc-200 px-5 py-3.5 dark:border-zinc-800">
            {footer}
          </footer>
        )}
      </div>
    </Dialog>
  );
}
