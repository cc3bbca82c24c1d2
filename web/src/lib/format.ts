// Dates, sizes and names as people read them.

const time = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: "long" });
const shortDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const longDay = new Intl.DateTimeFormat(undefined, { month: "long", day: "numeric", year: "numeric" });

function startOfDay(d: Date): number {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

const DAY = 86_400_000;

export function formatTime(iso: string): string {
  return time.format(new Date(iso));
}

export function sameDay(a: string, b: string): boolean {
  return startOfDay(new Date(a)) === startOfDay(new Date(b));
}

/** "Today", "Yesterday", a weekday within a week, then the date. */
export function formatDay(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return weekday.format(d);
  return longDay.format(d);
}

/** Compact time for the conversation list. */
export function formatListTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY);
  if (days === 0) return time.format(d);
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return weekday.format(d).slice(0, 3);
  return shortDay.format(d);
}

export function formatLastSeen(iso: string | null, now = Date.now()): string {
  if (!iso) return "offline";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return "last seen just now";
  if (s < 3600) return `last seen ${Math.floor(s / 60)} min ago`;
  if (sameDay(iso, new Date(now).toISOString())) return `last seen today at ${formatTime(iso)}`;
  const day = formatDay(iso, new Date(now));
  // "yesterday" reads as a word in the sentence; weekdays and dates keep their capitals.
  return `last seen ${day === "Yesterday" ? "yesterday" : day} at ${formatTime(iso)}`;
}

/** An unread count as badges and the tab title show it: "99+" beyond 99. */
export function formatUnread(n: number): string {
  return n > 99 ? "99+" : String(n);
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Up to two initials from the words that start with a letter or digit ("WT" for "Weekend trip 🏕️"). */
export function initials(name: string): string {
  const firsts = name
    .split(/\s+/)
    .map((w) => Array.from(w)[0] ?? "")
    .filter((ch) => /[\p{L}\p{N}]/u.test(ch));
  if (!firsts.length) return "?";
  const letters = firsts.length > 1 ? firsts[0]! + firsts[firsts.length - 1]! : firsts[0]!;
  return letters.toUpperCase();
}
