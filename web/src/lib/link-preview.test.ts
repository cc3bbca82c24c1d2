import { describe, expect, it } from "vitest";
import { previewCard } from "./link-preview";
import type { Attachment, LinkPreview } from "./protocol";

const image = (patch: Partial<Attachment> = {}): Attachment => ({
  media_id: "m1",
  content_type: "image/png",
  size: 100,
  name: "og.png",
  width: 8,
  height: 8,
  has_thumbnail: true,
  url: "/api/media/m1/content?sig=a",
  thumbnail_url: "/api/media/m1/thumbnail?sig=b",
  ...patch,
});

const preview = (patch: Partial<LinkPreview> = {}): LinkPreview => ({
  url: "https://www.example.com/post",
  title: "A post",
  description: "What it says",
  site_name: "Example",
  image: image(),
  ...patch,
});

describe("previewCard", () => {
  it("shows nothing without a preview", () => {
    expect(previewCard(null)).toBeNull();
    expect(previewCard(undefined)).toBeNull();
  });

  it("prefers the thumbnail and keeps the image's size", () => {
    expect(previewCard(preview())).toEqual({
      href: "https://www.example.com/post",
      site: "Example",
      title: "A post",
      description: "What it says",
      image: { src: "/api/media/m1/thumbnail?sig=b", alt: "A post", width: 8, height: 8 },
    });
  });

  it("falls back to the full image without a thumbnail", () => {
    const c = previewCard(preview({ image: image({ has_thumbnail: false, thumbnail_url: null }) }));
    expect(c?.image?.src).toBe("/api/media/m1/content?sig=a");
  });

  it("names the site by its host without a site name, and uses it as alt without a title", () => {
    const c = previewCard(preview({ site_name: "  ", title: null }));
    expect(c?.site).toBe("example.com");
    expect(c?.title).toBeNull();
    expect(c?.image?.alt).toBe("example.com");
  });

  it("shows nothing when there is no title, description or image", () => {
    expect(previewCard(preview({ title: "", description: null, image: null }))).toBeNull();
  });

  it("never links anything but http(s)", () => {
    expect(previewCard(preview({ url: "javascript:alert(1)" }))).toBeNull();
    expect(previewCard(preview({ url: "not a url" }))).toBeNull();
  });
});
