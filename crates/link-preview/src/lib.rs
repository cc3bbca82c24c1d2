//! Link previews (issue 11): finds the first `http(s)` URL in a message and reads the page's
//! Open Graph / HTML meta tags (title, description, site name, image) with an HTML parser.
//!
//! Fetching a URL a user typed is a server-side request on their behalf, so every fetch is
//! fenced in (see [`Fetcher`]): 5 s and 1 MiB by default, at most a few redirects, each hop
//! re-checked, and no private, loopback or link-local address, checked on the addresses DNS
//! returns (the connection goes to exactly the address that was checked, so a name that
//! resolves differently a moment later cannot sneak past), on IP literals, and on every
//! redirect target. No proxy is used: a proxy would resolve names where we cannot check them.
//!
//! This crate only fetches and parses; the chat service decides when, stores the image in
//! media storage and caches per URL. Depends on no ChatSync crate.
#![warn(missing_docs)]

mod address;
mod parse;

pub use address::is_public;
pub use parse::{PageMeta, parse_meta};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Limits of a [`Fetcher`].
#[derive(Clone, Debug)]
pub struct Limits {
    /// Whole fetch of one page or image, redirects included.
    pub timeout: Duration,
    /// Largest body read; a longer one is refused (not truncated: half an image is useless,
    /// and a page whose head is past 1 MiB is not worth parsing).
    pub max_bytes: usize,
    /// Redirects followed per fetch.
    pub max_redirects: usize,
    /// Non-public addresses that may be fetched all the same. For tests against a local
    /// server only: each one listed lets a message make the server reach that address.
    pub allow: Vec<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
            max_redirects: 3,
            allow: Vec::new(),
        }
    }
}

/// Why there is no preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// Not an `http` or `https` URL.
    #[error("only http and https links get previews")]
    NotHttp,
    /// The address is private, loopback, link-local or otherwise not on the public internet.
    #[error("refused to fetch a non-public address")]
    Refused,
    /// Longer than the byte limit.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// Slower than the time limit.
    #[error("the fetch took too long")]
    Timeout,
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(u16),
    /// The response is not what was asked for (a page that is not HTML, an image that is not
    /// an image).
    #[error("unexpected content type {0:?}")]
    ContentType(String),
    /// The page has nothing to show.
    #[error("the page has no title or description")]
    Empty,
    /// Connection, TLS or protocol failure.
    #[error("fetch failed: {0}")]
    Network(String),
}

/// A page's preview, as read from its meta tags.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// The URL as found in the message.
    pub url: String,
    /// Title (`og:title`, else `<title>`).
    pub title: Option<String>,
    /// Description (`og:description`, else `<meta name=description>`).
    pub description: Option<String>,
    /// Site name (`og:site_name`, else the host).
    pub site_name: Option<String>,
    /// Absolute URL of the preview image, if the page names one; fetch it with
    /// [`Fetcher::image`].
    pub image_url: Option<Url>,
}

/// A fetched image, not yet checked beyond its declared type: the caller sniffs and
/// re-encodes it before storing.
#[derive(Clone, Debug)]
pub struct FetchedImage {
    /// The bytes.
    pub bytes: Bytes,
    /// The declared `Content-Type`.
    pub content_type: String,
}

/// The first `http://` or `https://` URL in `text`, as a person would read it (trailing
/// punctuation and closing brackets are not part of it).
pub fn first_url(text: &str) -> Option<Url> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
        .links(text)
        .filter_map(|l| Url::parse(l.as_str()).ok())
        .find(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Fetches pages and images within [`Limits`].
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: Limits,
}

/// Resolves names, keeping only the addresses a fetch may reach.
struct CheckedResolver {
    allow: Arc<[IpAddr]>,
}

fn reachable(ip: IpAddr, allow: &[IpAddr]) -> bool {
    is_public(ip) || allow.contains(&ip)
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| reachable(a.ip(), &allow))
                .collect();
            if found.is_empty() {
                return Err(
                    Box::new(PreviewError::Refused) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `url` may be fetched before any name is resolved: http(s), and an IP literal
/// host only if it is public (names are checked by the resolver).
fn check_url(url: &Url, allow: &[IpAddr]) -> Result<(), PreviewError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PreviewError::NotHttp);
    }
    let ip: Option<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(v4.into()),
        Some(url::Host::Ipv6(v6)) => Some(v6.into()),
        Some(url::Host::Domain(_)) => None,
        None => return Err(PreviewError::NotHttp),
    };
    match ip {
        Some(ip) if !reachable(ip, allow) => Err(PreviewError::Refused),
        _ => Ok(()),
    }
}

impl Fetcher {
    /// A fetcher with these limits. The process must have a rustls crypto provider
    /// installed (ChatSync installs `ring` at start-up).
    pub fn new(limits: Limits) -> Result<Self, PreviewError> {
        let allow: Arc<[IpAddr]> = limits.allow.clone().into();
        let max_redirects = limits.max_redirects;
        let resolver = CheckedResolver {
            allow: allow.clone(),
        };
        let client = reqwest::Client::builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max_redirects {
                    attempt.error(PreviewError::TooManyRedirects)
                } else if let Err(e) = check_url(attempt.url(), &allow) {
                    attempt.error(e)
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!(
                "ChatSyncBot/",
                env!("CARGO_PKG_VERSION"),
                " (link preview)"
            ))
            .build()
            .map_err(|e| PreviewError::Network(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// The preview of the page at `url`.
    pub async fn preview(&self, url: &Url) -> Result<Preview, PreviewError> {
        let (final_url, content_type, body) = self.get(url, "text/html").await?;
        if !(content_type.starts_with("text/html")
            || content_type.starts_with("application/xhtml+xml"))
        {
            return Err(PreviewError::ContentType(content_type));
        }
        let html = String::from_utf8_lossy(&body);
        let meta = parse_meta(&html, &final_url);
        if meta.title.is_none() && meta.description.is_none() {
            return Err(PreviewError::Empty);
        }
        Ok(Preview {
            url: url.to_string(),
            title: meta.title,
            description: meta.description,
            site_name: meta
                .site_name
                .or_else(|| final_url.host_str().map(str::to_owned)),
            image_url: meta.image,
        })
    }

    /// The image at `url` (a preview's [`Preview::image_url`]).
    pub async fn image(&self, url: &Url) -> Result<FetchedImage, PreviewError> {
        let (_, content_type, bytes) = self.get(url, "image/*").await?;
        if !content_type.starts_with("image/") {
            return Err(PreviewError::ContentType(content_type));
        }
        Ok(FetchedImage {
            bytes,
            content_type,
        })
    }

    /// GET within the limits: the final URL, its content type and its body.
    async fn get(&self, url: &Url, accept: &str) -> Result<(Url, String, Bytes), PreviewError> {
        check_url(url, &self.limits.allow)?;
        let fetch = async {
            let res = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, accept)
                .send()
                .await
                .map_err(network)?;
            if !res.status().is_success() {
                return Err(PreviewError::Status(res.status().as_u16()));
            }
            let max = self.limits.max_bytes;
            if res.content_length().is_some_and(|n| n > max as u64) {
                return Err(PreviewError::TooLarge(max));
            }
            let final_url = res.url().clone();
            let content_type = res
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let mut body = BytesMut::new();
            let mut stream = res.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(network)?;
                if body.len() + chunk.len() > max {
                    return Err(PreviewError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((final_url, content_type, body.freeze()))
        };
        // reqwest's own timeout covers the request; this one also covers a body that
        // trickles in.
        tokio::time::timeout(self.limits.timeout, fetch)
            .await
            .map_err(|_| PreviewError::Timeout)?
    }
}

/// Maps reqwest's errors, finding our own refusals inside its error chain.
fn network(e: reqwest::Error) -> PreviewError {
    if e.is_timeout() {
        return PreviewError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(p) = s.downcast_ref::<PreviewError>() {
            return match p {
                PreviewError::Refused => PreviewError::Refused,
                PreviewError::NotHttp => PreviewError::NotHttp,
                PreviewError::TooManyRedirects => PreviewError::TooManyRedirects,
                other => PreviewError::Network(other.to_string()),
            };
        }
        source = s.source();
    }
    PreviewError::Network(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_http_url_is_found_without_trailing_punctuation() {
        let u = first_url("see (https://example.com/a?b=1). and http://other.org").expect("url");
        assert_eq!(u.as_str(), "https://example.com/a?b=1");
        assert!(first_url("mail me: a@b.com, ftp://files.example.com/x").is_none());
        assert_eq!(
            first_url("www.example.com then https://x.example/p").map(|u| u.to_string()),
            Some("https://x.example/p".to_owned())
        );
    }

    #[test]
    fn ip_literals_are_checked_before_any_connection() {
        for bad in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:192.168.0.1]/",
        ] {
            let u = Url::parse(bad).expect("url");
            assert!(
                matches!(check_url(&u, &[]), Err(PreviewError::Refused)),
                "{bad}"
            );
        }
        let local = Url::parse("http://127.0.0.1:8080/").expect("url");
        assert!(check_url(&local, &["127.0.0.1".parse().expect("ip")]).is_ok());
        assert!(matches!(
            check_url(&local, &["::1".parse().expect("ip")]),
            Err(PreviewError::Refused)
        ));
        assert!(check_url(&Url::parse("https://93.184.215.14/").expect("url"), &[]).is_ok());
        assert!(matches!(
            check_url(&Url::parse("file:///etc/passwd").expect("url"), &[]),
            Err(PreviewError::NotHttp)
        ));
    }
}
