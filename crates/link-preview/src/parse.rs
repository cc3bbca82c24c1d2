//! Reading a page's preview fields from its `<head>`: Open Graph first, then Twitter cards,
//! then plain HTML (`<title>`, `<meta name="description">`).

use scraper::{Html, Selector};
use std::sync::LazyLock;
use url::Url;

/// Longest title kept, in characters.
const MAX_TITLE: usize = 300;
/// Longest description kept, in characters.
const MAX_DESCRIPTION: usize = 1000;
/// Longest site name kept, in characters.
const MAX_SITE: usize = 100;

/// The preview fields of one page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageMeta {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Site name.
    pub site_name: Option<String>,
    /// Absolute `http(s)` URL of the image.
    pub image: Option<Url>,
}

static META: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("meta").expect("a constant, valid selector"));
static TITLE: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("title").expect("a constant, valid selector"));

/// Parses `html`, served at `base` (relative image URLs resolve against it).
pub fn parse_meta(html: &str, base: &Url) -> PageMeta {
    let doc = Html::parse_document(html);
    // (key, content) of every <meta property|name=... content=...>, keys lower-cased.
    let metas: Vec<(String, &str)> = doc
        .select(&META)
        .filter_map(|m| {
            let e = m.value();
            let key = e.attr("property").or_else(|| e.attr("name"))?;
            Some((key.trim().to_ascii_lowercase(), e.attr("content")?))
        })
        .collect();
    let meta = |keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| {
            metas
                .iter()
                .find(|(key, v)| key == k && !v.trim().is_empty())
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let title = meta(&["og:title", "twitter:title"]).or_else(|| {
        doc.select(&TITLE)
            .next()
            .map(|t| t.text().collect::<String>())
    });
    PageMeta {
        title: clean(title, MAX_TITLE),
        description: clean(
            meta(&["og:description", "twitter:description", "description"]),
            MAX_DESCRIPTION,
        ),
        site_name: clean(meta(&["og:site_name", "application-name"]), MAX_SITE),
        image: meta(&[
            "og:image:secure_url",
            "og:image",
            "og:image:url",
            "twitter:image",
            "twitter:image:src",
        ])
        .and_then(|src| base.join(src.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https")),
    }
}

/// Collapses white space and control characters, drops empty values, cuts at `max`
/// characters (with an ellipsis).
fn clean(s: Option<String>, max: usize) -> Option<String> {
    let s = s?;
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.join(" ");
    if joined.is_empty() {
        return None;
    }
    if joined.chars().count() <= max {
        return Some(joined);
    }
    let mut cut: String = joined.chars().take(max - 1).collect();
    cut.push('…');
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example/articles/1").expect("url")
    }

    #[test]
    fn open_graph_wins_over_plain_html() {
        let html = r#"<html><head>
            <title>Plain title</title>
            <meta name="description" content="plain description">
            <meta property="og:title" content="  The   OG title ">
            <meta property="og:description" content="OG description">
            <meta property="og:site_name" content="Example News">
            <meta property="og:image" content="/img/cover.png">
        </head><body></body></html>"#;
        let m = parse_meta(html, &base());
        assert_eq!(m.title.as_deref(), Some("The OG title"));
        assert_eq!(m.description.as_deref(), Some("OG description"));
        assert_eq!(m.site_name.as_deref(), Some("Example News"));
        assert_eq!(
            m.image.map(|u| u.to_string()).as_deref(),
            Some("https://news.example/img/cover.png")
        );
    }

    #[test]
    fn plain_pages_fall_back_to_title_and_description() {
        let html = "<title>\n Hello\tworld </title><meta name=Description content='About it'>";
        let m = parse_meta(html, &base());
        assert_eq!(m.title.as_deref(), Some("Hello world"));
        assert_eq!(m.description.as_deref(), Some("About it"));
        assert_eq!(m.site_name, None);
        assert_eq!(m.image, None);
    }

    #[test]
    fn odd_values_are_cleaned_or_dropped() {
        let long = "x".repeat(5000);
        let html = format!(
            "<meta property=og:title content='{long}'><meta property=og:description content='   '>\
             <meta property=og:image content='javascript:alert(1)'>"
        );
        let m = parse_meta(&html, &base());
        let title = m.title.expect("title");
        assert_eq!(title.chars().count(), MAX_TITLE);
        assert!(title.ends_with('…'));
        assert_eq!(m.description, None);
        assert_eq!(m.image, None, "only http(s) images");
    }

    #[test]
    fn broken_html_still_parses() {
        let m = parse_meta("<title>Unclosed <b>bold", &base());
        assert_eq!(m.title.as_deref(), Some("Unclosed <b>bold"));
        assert_eq!(parse_meta("", &base()), PageMeta::default());
    }
}
