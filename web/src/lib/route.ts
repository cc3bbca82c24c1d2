// The open conversation lives in the URL (/c/<id>), so a reload keeps it open and the phone's
// back button returns to the list. The gateway answers every such path with index.html.

const PATH = /^\/c\/([0-9a-f-]{36})$/i;

export function conversationInUrl(): string | null {
  return PATH.exec(location.pathname)?.[1] ?? null;
}

export function showInUrl(id: string | null, mode: "push" | "replace" = "push"): void {
  const path = id ? `/c/${id}` : "/";
  if (location.pathname === path) return;
  if (mode === "push") history.pushState(null, "", path);
  else history.replaceState(null, "", path);
}
