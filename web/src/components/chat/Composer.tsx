import { useEffect, useId, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { myId, sendMessage, stopTyping, typing } from "../../lib/client";
import { formatSize } from "../../lib/format";
import { insertMention, mentionsToSend } from "../../lib/mention-text";
import { mentionCandidates, mentionQueryAt, type Mentionable } from "../../lib/mentions";
import { quoteOf } from "../../lib/reply";
import { setReplyTo, useChat } from "../../lib/store";
import { CloseIcon, FileIcon, PaperclipIcon, ReplyIcon, SendIcon } from "../icons";
import { Avatar } from "../Avatar";
import { IconButton } from "../ui";
import type { useUploads } from "./useUploads";

const MAX_BODY = 4000;

export function Composer({
  conversationId,
  uploads,
  addFiles,
}: {
  conversationId: string;
  uploads: ReturnType<typeof useUploads>;
  addFiles: (files: FileList | File[]) => void;
}) {
  const [body, setBody] = useState("");
  const text = useRef<HTMLTextAreaElement>(null);
  // Where the caret goes once React has written a picked mention into the box.
  const caretAfterRender = useRef<number | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const canSend = (body.trim().length > 0 || uploads.ready > 0) && !uploads.busy && body.length <= MAX_BODY;
  const replyId = useChat((s) => (s.replyTo?.conversation_id === conversationId ? s.replyTo.message_id : null));
  const conversation = useChat((s) => s.conversations[conversationId]);
  const members = conversation?.members;
  const me = myId();
  // Mentions: members picked from the autocomplete (sent if their @Name is still in the text).
  const [picked, setPicked] = useState<Mentionable[]>([]);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  /** The `@` whose autocomplete was closed with Escape: it stays closed until another `@`. */
  const [dismissedAt, setDismissedAt] = useState<number | null>(null);
  const listId = useId();
  const mention = conversation?.kind === "group" ? mentionQueryAt(body, caret) : null;
  const candidates =
    mention && members && mention.start !== dismissedAt ? mentionCandidates(mention.query, members, me) : [];
  const open = candidates.length > 0;
  const activeIndex = Math.min(active, candidates.length - 1);

  // Grow with the text up to a few lines, then scroll.
  useLayoutEffect(() => {
    const el = text.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  });

  useLayoutEffect(() => () => stopTyping(conversationId), [conversationId]);

  // Reply (in a message's actions) leads straight to writing the answer.
  useEffect(() => {
    if (replyId) text.current?.focus();
  }, [replyId]);

  const send = () => {
    if (!canSend) return;
    const mentions = mentionsToSend(body, picked, members ?? [], me);
    sendMessage(conversationId, body.trim(), uploads.take(), replyId, mentions);
    setReplyTo(null);
    setBody("");
    setPicked([]);
    setCaret(0);
    setDismissedAt(null);
    text.current?.focus();
  };

  const pick = (m: Mentionable) => {
    if (!mention) return;
    const next = insertMention(body, mention.start, caret, m.display_name);
    setBody(next.text);
    setCaret(next.caret);
    setPicked((p) => (p.some((x) => x.user_id === m.user_id) ? p : [...p, m]));
    setActive(0);
    // The inserted name still reads as a query from its `@` (names have spaces): done with it.
    setDismissedAt(mention.start);
    // Placed right after React writes the new value (below), before the next key is handled: a
    // caret set a frame later moved keys typed meanwhile after the name.
    caretAfterRender.current = next.caret;
    text.current?.focus();
  };

  useLayoutEffect(() => {
    const at = caretAfterRender.current;
    if (at !== null && text.current) {
      caretAfterRender.current = null;
      text.current.setSelectionRange(at, at);
    }
  });

  const cancelReply = () => {
    setReplyTo(null);
    text.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (open && !e.nativeEvent.isComposing) {
      const choose = candidates[activeIndex];
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        setActive((activeIndex + step + candidates.length) % candidates.length);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && choose) {
        e.preventDefault();
        pick(choose);
        return;
      }
      if (e.key === "Escape") {
        // Closes the list only; a reply being written stays.
        e.preventDefault();
        e.stopPropagation();
        setDismissedAt(mention!.start);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <div
      onKeyDown={(e) => {
        if (e.key === "Escape" && replyId && !e.nativeEvent.isComposing) {
          e.preventDefault();
          cancelReply();
        }
      }}
      className="border-t border-zinc-200 bg-white px-3 pt-2 pb-[max(0.5rem,env(safe-area-inset-bottom))] md:px-6 dark:border-zinc-800 dark:bg-zinc-900"
    >
      <div className="mx-auto max-w-3xl">
        {replyId && <ReplyBar conversationId={conversationId} messageId={replyId} onCancel={cancelReply} />}
        {uploads.uploads.length > 0 && (
          <ul aria-label="Attachments" className="scroll-thin mb-2 flex gap-2 overflow-x-auto pb-1">
            {uploads.uploads.map((u) => (
              <li
                key={u.key}
                className={`relative flex w-52 shrink-0 items-center gap-2.5 rounded-xl p-2 ring-1 ${u.error ? "bg-red-50 ring-red-200 dark:bg-red-950/40 dark:ring-red-900" : "bg-zinc-50 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700"}`}
              >
                {u.preview ? (
                  <img src={u.preview} alt="" className="size-10 shrink-0 rounded-lg object-cover" />
                ) : (
                  <span className="flex size-10 shrink-0 items-center justify-center rounded-lg bg-zinc-200 text-zinc-500 dark:bg-zinc-700 dark:text-zinc-300">
                    <FileIcon width={18} height={18} />
                  </span>
                )}
                <span className="min-w-0 flex-1">
                  <span className="block truncate text-xs font-medium">{u.file.name}</span>
                  {u.error ? (
                    <span
                      role="alert"
                      className="line-clamp-2 text-[11px] leading-tight text-red-600 dark:text-red-400"
                    >
                      {u.error}
                    </span>
                  ) : u.media ? (
                    <span className="block text-[11px] text-zinc-500 dark:text-zinc-400">
                      {formatSize(u.file.size)} · ready
                    </span>
                  ) : (
                    <span className="mt-1 block h-1.5 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-700">
                      <span
                        role="progressbar"
                        aria-label={`Uploading ${u.file.name}`}
                        aria-valuemin={0}
                        aria-valuemax={100}
                        aria-valuenow={Math.round(u.progress * 100)}
                        className="block h-full rounded-full bg-brand-500 transition-[width]"
                        style={{ width: `${Math.max(4, u.progress * 100)}%` }}
                      />
                    </span>
                  )}
                </span>
                <button
                  type="button"
                  aria-label={`Remove ${u.file.name}`}
                  onClick={() => uploads.remove(u.key)}
                  className="absolute -top-1.5 -right-1.5 flex size-5 items-center justify-center rounded-full bg-zinc-700 text-white shadow hover:bg-zinc-900"
                >
                  <CloseIcon width={12} height={12} />
                </button>
              </li>
            ))}
          </ul>
        )}
        {open && (
          <ul
            id={listId}
            role="listbox"
            aria-label="Mention a member"
            className="scroll-thin mb-2 max-h-56 overflow-y-auto rounded-xl bg-white p-1 shadow-lg ring-1 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700"
          >
            {candidates.map((m, i) => (
              <li
                key={m.user_id}
                id={`${listId}-${i}`}
                role="option"
                aria-selected={i === activeIndex}
                // Keeps the focus (and the caret) in the text box.
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => pick(m)}
                onMouseMove={() => i !== activeIndex && setActive(i)}
                className={`flex cursor-pointer items-center gap-2 rounded-lg px-2 py-1.5 text-sm ${i === activeIndex ? "bg-brand-50 text-brand-800 dark:bg-brand-500/20 dark:text-brand-200" : ""}`}
              >
                <span aria-hidden="true">
                  <Avatar
                    name={m.display_name}
                    url={members?.find((x) => x.user_id === m.user_id)?.avatar_url}
                    seed={m.user_id}
                    size="sm"
                  />
                </span>
                <span className="truncate">{m.display_name}</span>
              </li>
            ))}
          </ul>
        )}
        <div className="flex items-end gap-2">
          <IconButton label="Attach files" onClick={() => picker.current?.click()}>
            <PaperclipIcon />
          </IconButton>
          <input
            ref={picker}
            type="file"
            multiple
            hidden
            aria-label="Choose files to attach"
            onChange={(e) => {
              if (e.target.files?.length) addFiles(e.target.files);
              e.target.value = "";
            }}
          />
          <textarea
            ref={text}
            rows={1}
            value={body}
            aria-label="Message"
            placeholder="Write a message…"
            aria-autocomplete={conversation?.kind === "group" ? "list" : undefined}
            aria-controls={open ? listId : undefined}
            aria-activedescendant={open ? `${listId}-${activeIndex}` : undefined}
            onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
            onChange={(e) => {
              setBody(e.target.value);
              setCaret(e.target.selectionStart);
              // A closed list stays closed while its `@` is typed on; another `@` opens one.
              if (mentionQueryAt(e.target.value, e.target.selectionStart)?.start !== dismissedAt) setDismissedAt(null);
              setActive(0);
              if (e.target.value) typing(conversationId);
              else stopTyping(conversationId);
            }}
            onKeyDown={onKeyDown}
            onPaste={(e) => {
              const files = [...e.clipboardData.files];
              if (files.length) {
                e.preventDefault();
                addFiles(files);
              }
            }}
            className="scroll-thin max-h-40 min-h-10 flex-1 resize-none rounded-2xl border-0 bg-zinc-100 px-4 py-2.5 text-[15px] leading-5 placeholder-zinc-500 focus:ring-2 focus:ring-brand-500/40 focus:outline-none dark:bg-zinc-800 dark:placeholder-zinc-400"
          />
          <IconButton label="Send" onClick={send} disabled={!canSend} primary>
            <SendIcon />
          </IconButton>
        </div>
        {body.length > MAX_BODY - 200 && (
          <p className={`mt-1 text-right text-xs ${body.length > MAX_BODY ? "text-red-600" : "text-zinc-500"}`}>
            {body.length} / {MAX_BODY}
          </p>
        )}
      </div>
    </div>
  );
}

/** "Replying to <name>" with a line of the original, above the text box. */
function ReplyBar({
  conversationId,
  messageId,
  onCancel,
}: {
  conversationId: string;
  messageId: string;
  onCancel: () => void;
}) {
  const c = useChat((s) => s.conversations[conversationId]);
  const original = useChat((s) => s.threads[conversationId]?.items.find((m) => m.id === messageId));
  if (!c) return null;
  const quote = quoteOf(original, c, myId());
  const to = quote.kind === "missing" ? "a message" : quote.sender === "You" ? "yourself" : quote.sender;
  return (
    <div
      role="group"
      aria-label={`Replying to ${to}`}
      className="mb-2 flex items-center gap-2.5 rounded-xl border-l-4 border-brand-500 bg-zinc-100 py-1.5 pr-1.5 pl-3 dark:bg-zinc-800"
    >
      <ReplyIcon width={16} height={16} className="shrink-0 text-brand-600 dark:text-brand-400" />
      <div className="min-w-0 flex-1">
        <p className="text-xs font-semibold text-brand-700 dark:text-brand-400">Replying to {to}</p>
        <p
          data-testid="reply-excerpt"
          className={`truncate text-sm text-zinc-600 dark:text-zinc-300 ${quote.kind === "loaded" && !quote.deleted ? "" : "italic"}`}
        >
          {quote.text}
        </p>
      </div>
      <button
        type="button"
        aria-label="Cancel reply"
        title="Cancel reply"
        onClick={onCancel}
        className="flex size-8 shrink-0 items-center justify-center rounded-full text-zinc-500 hover:bg-zinc-200 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-700 dark:hover:text-zinc-100"
      >
        <CloseIcon width={16} height={16} />
      </button>
    </div>
  );
}
