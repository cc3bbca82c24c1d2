import { useCallback, useEffect, useRef, useState } from "react";
import { errorMessage, uploadMedia, type Media } from "../../lib/api";
import { formatSize } from "../../lib/format";
import type { Attachment } from "../../lib/protocol";

export const MAX_FILE_BYTES = 25 * 1024 * 1024;
export const MAX_ATTACHMENTS = 10;

export interface Upload {
  key: string;
  file: File;
  /** Local preview for images, revoked when the upload is removed. */
  preview: string | null;
  progress: number;
  media: Media | null;
  error: string | null;
  abort: AbortController;
}

export function toAttachment(m: Media): Attachment {
  return {
    media_id: m.id,
    content_type: m.content_type,
    size: m.size,
    name: m.name,
    width: m.width,
    height: m.height,
    has_thumbnail: m.thumbnail_url != null,
    url: m.url,
    thumbnail_url: m.thumbnail_url,
  };
}

let seq = 0;

/** Files being attached to the next message, uploaded as soon as they are picked. */
export function useUploads() {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const live = useRef(uploads);
  live.current = uploads;

  const patch = (key: string, p: Partial<Upload>) =>
    setUploads((list) => list.map((u) => (u.key === key ? { ...u, ...p } : u)));

  const add = useCallback((files: FileList | File[]) => {
    const room = MAX_ATTACHMENTS - live.current.length;
    const picked = [...files].slice(0, Math.max(0, room));
    const fresh = picked.map<Upload>((file) => ({
      key: `u${++seq}`,
      file,
      preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
      progress: 0,
      media: null,
      error: file.size > MAX_FILE_BYTES ? `${file.name} is ${formatSize(file.size)}; the limit is 25 MB.` : null,
      abort: new AbortController(),
    }));
    setUploads((list) => [...list, ...fresh]);
    for (const u of fresh.filter((u) => !u.error)) {
      uploadMedia(u.file, "message", (progress) => patch(u.key, { progress }), u.abort.signal)
        .then((media) => patch(u.key, { media, progress: 1 }))
        .catch((e: unknown) => patch(u.key, { error: errorMessage(e) }));
    }
    return files.length - picked.length;
  }, []);

  const remove = useCallback((key: string) => {
    setUploads((list) => {
      const u = list.find((x) => x.key === key);
      u?.abort.abort();
      if (u?.preview) URL.revokeObjectURL(u.preview);
      return list.filter((x) => x.key !== key);
    });
  }, []);

  /** Hands over the finished uploads and clears the tray; failed ones are dropped. */
  const take = useCallback((): Attachment[] => {
    const done = live.current.filter((u) => u.media).map((u) => toAttachment(u.media!));
    live.current.forEach((u) => u.preview && URL.revokeObjectURL(u.preview));
    setUploads([]);
    return done;
  }, []);

  useEffect(() => () => live.current.forEach((u) => u.abort.abort()), []);

  const busy = uploads.some((u) => !u.media && !u.error);
  const ready = uploads.filter((u) => u.media).length;
  return { uploads, add, remove, take, busy, ready };
}
