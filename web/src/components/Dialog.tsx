import { useLayoutEffect, useRef, type ReactNode } from "react";
import { createPortal } from "react-dom";

// Every dialog of the app is this modal <dialog>, opened with showModal(): the browser puts it
// in the top layer and blocks the page behind it. On top of that:
// - the app root gets `inert`, so the page behind is out of the keyboard order and the
//   accessibility tree in every browser, not only where showModal() blocks it completely
//   (the dialog is rendered into <body>, outside the root, to stay usable);
// - Tab and Shift+Tab wrap around inside the dialog (showModal() lets focus leave the
//   document after the last element, to the browser's own UI);
// - focus goes to the element marked `data-autofocus` (else the first focusable one) on open,
//   and back to the element that opened it on close;
// - Escape and a native close call `onClose`; the parent unmounts the dialog to close it.

const FOCUSABLE = [
  "a[href]",
  "button:not(:disabled)",
  'input:not(:disabled):not([type="hidden"])',
  "select:not(:disabled)",
  "textarea:not(:disabled)",
  "video[controls]",
  "audio[controls]",
  '[contenteditable]:not([contenteditable="false"])',
  "[tabindex]",
].join(",");

/** The elements Tab reaches inside `root`, in order. */
export function tabbable(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
    (el) => el.tabIndex >= 0 && el.getClientRects().length > 0 && !el.closest("[inert]"),
  );
}

/** Open dialogs, innermost last: only the innermost one handles Tab. */
const stack: HTMLDialogElement[] = [];

function appRoot(): HTMLElement | null {
  return document.getElementById("root");
}

function trapTab(e: KeyboardEvent): void {
  const d = stack[stack.length - 1];
  if (e.key !== "Tab" || !d || e.defaultPrevented) return;
  const items = tabbable(d);
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  const inside = active instanceof HTMLElement && active !== d && d.contains(active);
  if (!first || !last) {
    e.preventDefault();
    return;
  }
  if (e.shiftKey && (!inside || active === first)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (!inside || active === last)) {
    e.preventDefault();
    first.focus();
  }
}

export function Dialog({
  onClose,
  label,
  labelledBy,
  className,
  onBackdrop,
  children,
}: {
  onClose: () => void;
  /** The accessible name, when no visible heading gives it (`labelledBy`). */
  label?: string;
  labelledBy?: string;
  className: string;
  /** Called for a click that starts and ends on the backdrop (not a text selection ending there). */
  onBackdrop?: () => void;
  children: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const close = useRef(onClose);
  const pressedOnBackdrop = useRef(false);
  useLayoutEffect(() => {
    close.current = onClose;
  });

  // A layout effect: its clean-up runs before React removes the element, so close() still
  // works, and the opener is still the focused element when it runs on open.
  useLayoutEffect(() => {
    const d = ref.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = appRoot();
    const wasInert = root?.inert ?? false;
    if (root) root.inert = true;
    stack.push(d);
    if (stack.length === 1) document.addEventListener("keydown", trapTab, true);
    d.showModal();
    d.querySelector<HTMLElement>("[data-autofocus]")?.focus();
    // The browser may close it without a cancelable `cancel` (a second Escape in a row).
    const closedNatively = () => close.current();
    d.addEventListener("close", closedNatively);

    return () => {
      d.removeEventListener("close", closedNatively);
      if (d.open) d.close();
      stack.splice(stack.indexOf(d), 1);
      if (!stack.length) document.removeEventListener("keydown", trapTab, true);
      if (root) root.inert = wasInert;
      // Back to the opener, unless the dialog's action moved focus somewhere on purpose.
      const now = document.activeElement;
      const lost = !now || now === document.body || d.contains(now);
      if (lost && opener?.isConnected && !opener.closest("[inert]")) opener.focus();
    };
  }, []);

  return createPortal(
    <dialog
      ref={ref}
      aria-modal="true"
      aria-label={label}
      aria-labelledby={labelledBy}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onMouseDown={(e) => (pressedOnBackdrop.current = e.target === ref.current)}
      onClick={(e) => {
        if (onBackdrop && pressedOnBackdrop.current && e.target === ref.current) onBackdrop();
        pressedOnBackdrop.current = false;
      }}
      className={className}
    >
      {children}
    </dialog>,
    document.body,
  );
}
