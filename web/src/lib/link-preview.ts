import type { LinkPreview } from "./protocol";

/** What the preview card under a message shows; built from the server's `preview`. */
export interface PreviewCard {
  href: string;
  /** The page's site name, else its host name. */
  site: string;
  title: string | null;
  description: string | null;
  image: { src: string; alt: string; width?: number; height?: number } | null;
}

/**
 * The card for a message's preview, or null when there is nothing to show. Only http(s) links
 * are linked to: the server fetched one, but a `javascript:` href must never reach the page.
 */
export function previewCard(p: LinkPreview | null | undefined): PreviewCard | null {
  if (!p) return null;
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const title = p.title?.trim() || null;
  const description = p.description?.trim() || null;
  const site = p.site_name?.trim() || url.hostname.replace(/^www\./, "");
  const src = p.image?.thumbnail_url || p.image?.url;
  const image = p.image && src ? { src, alt: title ?? site, width: p.image.width, height: p.image.height } : null;
  if (!title && !description && !image) return null;
  return { href: url.href, site, title, description, image };
}
