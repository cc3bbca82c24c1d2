import { memo, useEffect, useState, useSyncExternalStore, type ReactNode } from "react";
import { api } from "../../lib/api";
import { deleteMessage, discardMessage, react, retryMessage, showMessage } from "../../lib/client";
import { memberName, type Delivery } from "../../lib/conversation";
import { formatTime } from "../../lib/format";
import { mentionSegments } from "../../lib/mention-text";
import type { Conversation, Message } from "../../lib/protocol";
import { fetchedOriginal, loadOriginal, quoteOf, subscribeOriginals, type Quote } from "../../lib/reply";
import { setReplyTo, type OutboxEntry } from "../../lib/store";
import { Avatar } from "../Avatar";
import { InfoIcon, PencilIcon, ReplyIcon, SmileIcon, TrashIcon } from "../icons";
import { AttachmentView } from "./AttachmentView";
import { EditBox } from "./EditBox";
import { LinkPreviewCard } from "./LinkPreviewCard";
import { ReadInfoDialog } from "./ReadInfoDialog";
import { Ticks } from "./Ticks";

export const REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

interface Props {
  m: Message;
  c: Conversation;
  me: string;
  pending: OutboxEntry | null;
  first: boolean;
  last: boolean;
  status: Delivery | null;
  /** Just jumped to from a search hit. */
  highlighted?: boolean;
  /** The message `m.reply_to` names, when it is loaded in the thread. */
  original?: Message;
}

export const MessageBubble = memo(function MessageBubble({
  m,
  c,
  me,
  pending,
  first,
  last,
  status,
  highlighted = false,
  original,
}: Props) {
  const mine = m.sender_id === me;
  const group = c.kind === "group";
  const sender = c.members.find((x) => x.user_id === m.sender_id);
  const name = sender?.display_name ?? memberName(c, m.sender_id);
  const [editing, setEditing] = useState(false);
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [info, setInfo] = useState(false);
  const canAct = !pending && !m.deleted;
  const elsewhere = useOriginal(m.reply_to && !m.deleted && !original ? m.reply_to : null);
  const quote = m.reply_to && !m.deleted ? quoteOf(original ?? elsewhere, c, me) : null;
  const mediaOnly = !m.body && m.attachments.length > 0 && !m.deleted && !quote;

  const radius = mine
    ? `rounded-2xl ${first ? "" : "rounded-tr-md"} ${last ? "" : "rounded-br-md"}`
    : `rounded-2xl ${first ? "" : "rounded-tl-md"} ${last ? "" : "rounded-bl-md"}`;
  const colours = m.deleted
    ? "bg-transparent text-zinc-500 italic ring-1 ring-zinc-300 ring-inset dark:ring-zinc-700 dark:text-zinc-400"
    : mine
      ? "bg-brand-600 text-white"
      : "bg-white text-zinc-900 ring-1 ring-zinc-200 ring-inset dark:bg-zinc-800 dark:text-zinc-100 dark:ring-zinc-700/60";

  return (
    <div
      data-testid="message"
      data-mine={mine ? "true" : "false"}
      data-status={status ?? undefined}
      data-seq={pending ? undefined : m.seq}
      data-highlighted={highlighted ? "true" : undefined}
      className={`group/msg relative flex items-end gap-2 ${mine ? "flex-row-reverse" : ""} ${first ? "mt-3" : "mt-0.5"}`}
    >
      {group && !mine && (
        <div className="w-8 shrink-0">
          {last && <Avatar name={name} url={sender?.avatar_url} seed={m.sender_id} size="sm" />}
        </div>
      )}
      <div className={`flex max-w-[min(80%,34rem)] min-w-0 flex-col ${mine ? "items-end" : "items-start"}`}>
        {group && !mine && first && (
          <span className="mb-1 ml-3 text-xs font-medium text-zinc-500 dark:text-zinc-400">{name}</span>
        )}
        {editing ? (
          <EditBox m={m} onDone={() => setEditing(false)} />
        ) : (
          <div
            tabIndex={0}
            className={`relative max-w-full overflow-hidden ${radius} ${colours} ${mediaOnly ? "p-1" : "px-3.5 py-2"} ${pending ? "opacity-80" : ""} ${highlighted ? "outline-3 outline-offset-2 outline-amber-400" : ""} focus-visible:outline-2`}
          >
            {m.deleted ? (
              <p className="text-sm">This message was deleted</p>
            ) : (
              <>
                {quote && <ReplyQuote quote={quote} mine={mine} onOpen={(seq) => showMessage(c.id, seq)} />}
                {m.attachments.length > 0 && (
                  <div className={`flex flex-col gap-1 ${m.body ? "-mx-2 mt-0.5 mb-2" : ""}`}>
                    {m.attachments.map((a) => (
                      <AttachmentView key={a.media_id} a={a} m={m} mine={mine} />
                    ))}
                  </div>
                )}
                {m.body && (
                  <p className="text-[15px] leading-snug break-words whitespace-pre-wrap">
                    <BodyText m={m} c={c} me={me} mine={mine} />
                  </p>
                )}
                {m.preview && <LinkPreviewCard m={m} mine={mine} />}
              </>
            )}
            <span
              className={`flex items-center justify-end gap-1 text-[11px] leading-4 ${mediaOnly ? "absolute right-2.5 bottom-2 rounded-full bg-black/45 px-1.5 text-white" : "mt-0.5 -mb-0.5"} ${
                mine && !m.deleted && !mediaOnly ? "text-white/75" : mediaOnly ? "" : "text-zinc-500 dark:text-zinc-400"
              }`}
            >
              {m.edited_at && !m.deleted && <span>edited</span>}
              <time dateTime={m.created_at}>{formatTime(m.created_at)}</time>
              {status && <Ticks status={status} />}
            </span>
          </div>
        )}
        {pending?.status === "failed" && (
          <div role="alert" className="mt-1 flex items-center gap-2 text-xs text-red-600 dark:text-red-400">
            <span>Not sent{pending.error ? `: ${pending.error}` : ""}</span>
            <button type="button" className="font-semibold underline" onClick={() => retryMessage(pending.client_id)}>
              Retry
            </button>
            <button type="button" className="underline" onClick={() => discardMessage(pending.client_id)}>
              Delete
            </button>
          </div>
        )}
        {m.reactions.length > 0 && !m.deleted && (
          <div className={`relative -mt-1 mb-1 flex flex-wrap gap-1 ${mine ? "mr-2 justify-end" : "ml-2"}`}>
            {m.reactions.map((r) => {
              const minePick = r.user_ids.includes(me);
              const who = r.user_ids.map((u) => (u === me ? "you" : memberName(c, u))).join(", ");
              return (
                <button
                  key={r.emoji}
                  type="button"
                  aria-pressed={minePick}
                  aria-label={`${r.emoji} ${r.user_ids.length}, from ${who}`}
                  title={who}
                  onClick={() => void react(m.id, r.emoji, !minePick)}
                  className={`flex items-center gap-1 rounded-full px-1.5 py-0.5 text-xs shadow-sm ring-1 ${
                    minePick
                      ? "bg-brand-50 ring-brand-400 dark:bg-brand-500/20"
                      : "bg-white ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700"
                  }`}
                >
                  <span>{r.emoji}</span>
                  <span className="font-medium text-zinc-700 dark:text-zinc-300">{r.user_ids.length}</span>
                </button>
              );
            })}
          </div>
        )}
      </div>
      {info && <ReadInfoDialog m={m} me={me} onClose={() => setInfo(false)} />}
      {canAct && !editing && (
        <div
          className={`relative flex shrink-0 items-center gap-0.5 self-center opacity-0 transition group-focus-within/msg:opacity-100 group-hover/msg:opacity-100 ${picker || confirmDelete ? "opacity-100" : ""}`}
        >
          {confirmDelete ? (
            <span className="flex items-center gap-1 rounded-full bg-white px-2 py-1 text-xs shadow ring-1 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700">
              Delete?
              <button
                type="button"
                className="font-semibold text-red-600"
                onClick={() => void deleteMessage(m.id).then(() => setConfirmDelete(false))}
              >
                Yes
              </button>
              <button type="button" onClick={() => setConfirmDelete(false)}>
                No
              </button>
            </span>
          ) : (
            <>
              <ActionButton label="Reply" onClick={() => setReplyTo({ conversation_id: c.id, message_id: m.id })}>
                <ReplyIcon width={16} height={16} />
              </ActionButton>
              <ActionButton label="React" onClick={() => setPicker((p) => !p)}>
                <SmileIcon width={16} height={16} />
              </ActionButton>
              {mine && m.body && (
                <ActionButton label="Edit" onClick={() => setEditing(true)}>
                  <PencilIcon width={16} height={16} />
                </ActionButton>
              )}
              {mine && (
                <ActionButton label="Delete" onClick={() => setConfirmDelete(true)}>
                  <TrashIcon width={16} height={16} />
                </ActionButton>
              )}
              {mine && group && (
                <ActionButton label="Info" onClick={() => setInfo(true)}>
                  <InfoIcon width={16} height={16} />
                </ActionButton>
              )}
            </>
          )}
          {picker && (
            <div
              role="menu"
              aria-label="Reactions"
              onKeyDown={(e) => e.key === "Escape" && setPicker(false)}
              className={`absolute bottom-full z-20 mb-1 flex gap-0.5 rounded-full bg-white p-1 shadow-lg ring-1 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700 ${mine ? "right-0" : "left-0"}`}
            >
              {REACTIONS.map((e) => {
                const on = m.reactions.find((r) => r.emoji === e)?.user_ids.includes(me) ?? false;
                return (
                  <button
                    key={e}
                    type="button"
                    role="menuitem"
                    aria-label={`React ${e}`}
                    autoFocus={e === REACTIONS[0]}
                    onClick={() => {
                      setPicker(false);
                      void react(m.id, e, !on);
                    }}
                    className={`flex size-8 items-center justify-center rounded-full text-lg transition hover:scale-110 hover:bg-zinc-100 dark:hover:bg-zinc-700 ${on ? "bg-brand-50 dark:bg-brand-500/20" : ""}`}
                  >
                    {e}
                  </button>
                );
              })}
            </div>
          )}
        </div>
      )}
    </div>
  );
});

/**
 * A reply's original that is not in the loaded thread, read once from the server; undefined
 * until it answers, or when the original cannot be seen.
 */
function useOriginal(id: string | null): Message | undefined {
  const found = useSyncExternalStore(subscribeOriginals, () => (id ? fetchedOriginal(id) : undefined));
  useEffect(() => {
    if (id) void loadOriginal(id, api.message);
  }, [id]);
  return found === "missing" ? undefined : found;
}

/**
 * The quoted original above a reply's text; a button that jumps to it once its seq is known
 * (the list pages back to an original outside the loaded history).
 */
function ReplyQuote({ quote, mine, onOpen }: { quote: Quote; mine: boolean; onOpen: (seq: number) => void }) {
  const box = `mb-1.5 flex max-w-full min-w-0 flex-col rounded-lg border-l-[3px] px-2.5 py-1 text-left text-[13px] leading-snug ${
    mine ? "border-white/70 bg-white/15" : "border-brand-500 bg-zinc-100 dark:bg-zinc-700/60"
  }`;
  if (quote.kind === "missing") {
    // Not fetched yet, or not visible: without its seq the list cannot page back to it.
    return (
      <div data-testid="reply-quote" className={box}>
        <span className="truncate italic opacity-80">{quote.text}</span>
      </div>
    );
  }
  return (
    <button
      type="button"
      data-testid="reply-quote"
      aria-label={`Go to replied message from ${quote.sender}: ${quote.text}`}
      onClick={() => onOpen(quote.seq)}
      className={`${box} w-full ${mine ? "hover:bg-white/25" : "hover:bg-zinc-200 dark:hover:bg-zinc-700"}`}
    >
      <span className={`truncate font-semibold ${mine ? "" : "text-brand-700 dark:text-brand-400"}`}>
        {quote.sender}
      </span>
      <span className={`truncate ${quote.deleted ? "italic" : ""} opacity-90`}>{quote.text}</span>
    </button>
  );
}

/** The body with the members it mentions highlighted; a mention of me stands out more. */
function BodyText({ m, c, me, mine }: { m: Message; c: Conversation; me: string; mine: boolean }) {
  if (!m.mentions?.length) return <>{m.body}</>;
  return (
    <>
      {mentionSegments(m.body, m.mentions, c.members).map((s, i) =>
        "user_id" in s ? (
          <span
            key={i}
            data-testid="mention"
            data-me={s.user_id === me ? "true" : undefined}
            className={
              s.user_id === me
                ? "rounded bg-amber-200 px-0.5 font-semibold text-amber-950 dark:bg-amber-400/30 dark:text-amber-100"
                : mine
                  ? "font-semibold underline decoration-white/60 underline-offset-2"
                  : "font-semibold text-brand-700 dark:text-brand-400"
            }
          >
            {s.text}
          </span>
        ) : (
          s.text
        ),
      )}
    </>
  );
}

function ActionButton({ label, onClick, children }: { label: string; onClick: () => void; children: ReactNode }) {
  return (
    <button
      type="button"
      aria-label={label}
      title={label}
      onClick={onClick}
      className="flex size-7 items-center justify-center rounded-full text-zinc-500 hover:bg-zinc-200 hover:text-zinc-800 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
    >
      {children}
    </button>
  );
}
