//! What a file is, decided from its bytes alone (never the name or the client's header).

/// Bytes read before deciding. Office formats are zip files whose tell-tale entries come
/// early; 64 KiB covers them.
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// The detected content type, or `None` if the bytes match nothing known.
pub(crate) fn content_type(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.mime_type());
    }
    plain_text(head).then_some("text/plain")
}

/// UTF-8 text without NULs that does not look like markup. Markup (HTML, SVG, XML) is
/// refused rather than served as text: a browser that ignored `nosniff` would run it.
fn plain_text(head: &[u8]) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A multi-byte character cut by the sniff window is fine.
        Err(e) if e.error_len().is_none() && head.len() >= SNIFF_BYTES => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    let start = text.trim_start_matches('\u{feff}').trim_start();
    !start.starts_with('<')
}

/// True for the types that get a thumbnail and have their metadata stripped.
pub(crate) fn is_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// True for types a browser shows inline (the rest download as attachments).
pub(crate) fn inline(content_type: &str) -> bool {
    is_image(content_type)
        || content_type.starts_with("video/")
        || content_type.starts_with("audio/")
}

/// A file name safe for storage and `Content-Disposition`: no directories, no control or
/// quoting characters, at most 120 characters; "file" if nothing is left.
pub(crate) fn safe_name(raw: Option<&str>) -> String {
    let base = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | ';' | '<' | '>'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(
            content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(content_type(b"%PDF-1.7\n"), Some("application/pdf"));
        // A whole 64-byte ELF header: `infer` wants more than 52 bytes before it decides.
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        elf.resize(64, 0);
        assert_eq!(content_type(&elf), Some("application/x-executable"));
        assert_eq!(content_type(b"hello, plain words\n"), Some("text/plain"));
        assert_eq!(
            content_type(b"<!doctype html><script>alert(1)</script>"),
            Some("text/html")
        );
        assert_ne!(content_type(b"  <svg onload=alert(1)>"), Some("text/plain"));
        assert_eq!(content_type(b"\0\x01binary"), None);
    }

    #[test]
    fn names_lose_paths_and_dangerous_characters() {
        assert_eq!(safe_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(safe_name(Some("C:\\x\\a\"b;c.png")), "abc.png");
        assert_eq!(safe_name(Some(".hidden")), "hidden");
        assert_eq!(safe_name(None), "file");
        assert_eq!(safe_name(Some(&"é".repeat(300))).chars().count(), 120);
    }
}
