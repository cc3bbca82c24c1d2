//! Turns mail commands into subject, plain text and HTML.

use chatsync_core::events::{MailTemplate, SendMail};

/// A mail ready to send.
#[derive(Clone, PartialEq)]
pub struct RenderedMail {
    /// Which template it came from (`otp`), safe to log.
    pub kind: &'static str,
    /// Recipient address.
    pub to: String,
    /// Recipient name.
    pub to_name: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Shows where the mail goes and what kind it is, never its subject or bodies: they carry a
/// one-time code, and codes never go to logs (SPEC §8).
impl std::fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedMail")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `cmd`.
pub fn render(cmd: &SendMail) -> RenderedMail {
    match &cmd.template {
        MailTemplate::Otp {
            code,
            expires_in_minutes,
        } => {
            let name = cmd.to_name.trim();
            let greeting = if name.is_empty() { "Hello" } else { name };
            let text = format!(
                "Hi {greeting},\n\n\
                 Your ChatSync verification code is: {code}\n\n\
                 It expires in {expires_in_minutes} minutes. If you did not sign up for \
                 ChatSync, you can ignore this email.\n"
            );
            let html = format!(
                "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#111\">\
                 <p>Hi {name},</p>\
                 <p>Your ChatSync verification code is:</p>\
                 <p style=\"font-size:28px;font-weight:700;letter-spacing:6px\">{code}</p>\
                 <p>It expires in {expires_in_minutes} minutes. If you did not sign up for \
                 ChatSync, you can ignore this email.</p></body></html>",
                name = escape_html(greeting),
                code = escape_html(code),
            );
            RenderedMail {
                kind: cmd.template.kind(),
                to: cmd.to.clone(),
                to_name: cmd.to_name.clone(),
                subject: format!("{code} is your ChatSync code"),
                text,
                html,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_mail_carries_the_code_in_both_parts_and_escapes_the_name() {
        let m = render(&SendMail {
            request_id: None,
            to: "a@example.com".into(),
            to_name: "<b>Ann</b>".into(),
            template: MailTemplate::Otp {
                code: "123456".into(),
                expires_in_minutes: 10,
            },
        });
        assert!(m.text.contains("123456") && m.html.contains("123456"));
        assert!(m.subject.contains("123456"));
        assert!(m.html.contains("&lt;b&gt;Ann&lt;/b&gt;") && !m.html.contains("<b>Ann"));
        assert!(m.text.contains("10 minutes"));
        assert!(!format!("{m:?}").contains("123456"), "Debug hides the code");
    }
}
