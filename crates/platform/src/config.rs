//! Loading the configuration: the figment layers that fill [`Config`] (its types, defaults and
//! validation live in `chatsync_core::config`, so adapters can take their settings without this
//! crate).
//!
//! Layers, later wins: built-in defaults (which need nothing installed), an optional TOML file
//! (`--config`, or `chatsync.toml` in the working directory), `CHATSYNC__SECTION__KEY`
//! environment variables, then the plain names in [`ENV_VARS`] (`PORT`, `DATABASE_URL`, ...),
//! which the Node app's `.env` files already use. A `.env` file is read by the binary before
//! this runs. Nothing outside this module reads environment variables.

use chatsync_core::config::{Config, ConfigError};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::path::Path;

/// One plain environment variable and the setting it fills.
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The dotted configuration key it sets.
    pub key: &'static str,
    /// What it does, for `--help` and the README.
    pub help: &'static str,
}

/// Every plain environment variable ChatSync reads. Any setting can also be given as
/// `CHATSYNC__<SECTION>__<KEY>` (e.g. `CHATSYNC__CHAT__SEND_PER_SEC=50`).
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "PORT",
        key: "http.port",
        help: "public HTTP port (default 3000; 0 = any free port)",
    },
    EnvVar {
        name: "HOST",
        key: "http.host",
        help: "interface to bind (default 127.0.0.1)",
    },
    EnvVar {
        name: "DATA_DIR",
        key: "data_dir",
        help: "directory for the SQLite file, media and generated secret (default ./data)",
    },
    EnvVar {
        name: "DATABASE_URL",
        key: "database.url",
        help: "postgres://... or sqlite://...; default sqlite file in DATA_DIR",
    },
    EnvVar {
        name: "USER_DATABASE_URL",
        key: "database.user_url",
        help: "database for the user service only (overrides DATABASE_URL)",
    },
    EnvVar {
        name: "CHAT_DATABASE_URL",
        key: "database.chat_url",
        help: "database for the chat service only (overrides DATABASE_URL)",
    },
    EnvVar {
        name: "RABBITMQ_URL",
        key: "bus.rabbitmq_url",
        help: "amqp://... (or amqps://... over TLS) enables RabbitMQ; default in-process bus",
    },
    EnvVar {
        name: "RABBITMQ_CA_FILE",
        key: "bus.rabbitmq_ca_file",
        help: "PEM certificates trusted for amqps:// besides the system's roots",
    },
    EnvVar {
        name: "REDIS_URL",
        key: "redis.url",
        help: "redis://... enables Redis sessions, presence, throttles and multi-node chat",
    },
    EnvVar {
        name: "REDIS_PREFIX",
        key: "redis.prefix",
        help: "prefix of every Redis key and channel (default chatsync:)",
    },
    EnvVar {
        name: "JWT_SECRET",
        key: "auth.jwt_secret",
        help: "access-token signing key; default generated once into DATA_DIR/jwt_secret",
    },
    EnvVar {
        name: "ACCESS_TOKEN_TTL_SECS",
        key: "auth.access_ttl_secs",
        help: "access-token lifetime (default 900)",
    },
    EnvVar {
        name: "REFRESH_TOKEN_TTL_SECS",
        key: "auth.refresh_ttl_secs",
        help: "refresh-token and session lifetime (default 2592000)",
    },
    EnvVar {
        name: "SMTP_URL",
        key: "mail.smtp_url",
        help: "smtp://user:pass@host:587?tls=required, smtps://..., or smtp://host:25 for a local relay",
    },
    EnvVar {
        name: "SMTP_HOST",
        key: "mail.smtp_host",
        help: "SMTP host (with EMAIL_USER/EMAIL_PASS); default smtp.gmail.com when EMAIL_USER is set",
    },
    EnvVar {
        name: "SMTP_PORT",
        key: "mail.smtp_port",
        help: "SMTP port (default 465 tls, 587 starttls, 25 none)",
    },
    EnvVar {
        name: "SMTP_TLS",
        key: "mail.smtp_tls",
        help: "tls | starttls | none (default tls)",
    },
    EnvVar {
        name: "EMAIL_USER",
        key: "mail.email_user",
        help: "SMTP user name; setting it turns SMTP on",
    },
    EnvVar {
        name: "EMAIL_PASS",
        key: "mail.email_pass",
        help: "SMTP password",
    },
    EnvVar {
        name: "MAIL_FROM",
        key: "mail.from",
        help: "From header of outgoing mail",
    },
    EnvVar {
        name: "MEDIA_MAX_BYTES",
        key: "media.max_upload_bytes",
        help: "largest upload in bytes (default 26214400 = 25 MiB)",
    },
    EnvVar {
        name: "MEDIA_ALLOWED_TYPES",
        key: "media.allowed_types",
        help: "comma-separated content types accepted (default: images, video, audio, PDF, documents, archives)",
    },
    EnvVar {
        name: "S3_BUCKET",
        key: "media.s3_bucket",
        help: "store media in this S3 bucket instead of DATA_DIR/media",
    },
    EnvVar {
        name: "S3_ENDPOINT",
        key: "media.s3_endpoint",
        help: "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default AWS)",
    },
    EnvVar {
        name: "S3_REGION",
        key: "media.s3_region",
        help: "S3 region (default us-east-1)",
    },
    EnvVar {
        name: "S3_ACCESS_KEY_ID",
        key: "media.s3_access_key_id",
        help: "S3 access key id",
    },
    EnvVar {
        name: "S3_SECRET_ACCESS_KEY",
        key: "media.s3_secret_access_key",
        help: "S3 secret access key",
    },
    EnvVar {
        name: "S3_PATH_STYLE",
        key: "media.s3_path_style",
        help: "path-style S3 requests (default true; false for AWS virtual hosts)",
    },
    EnvVar {
        name: "S3_PREFIX",
        key: "media.s3_prefix",
        help: "prefix of every media object key (default none)",
    },
    EnvVar {
        name: "CORS_ORIGINS",
        key: "http.cors_origins",
        help: "comma-separated origins allowed by CORS (default none: same origin only)",
    },
    EnvVar {
        name: "TRUST_FORWARDED_FOR",
        key: "http.trust_forwarded_for",
        help: "true behind a trusted reverse proxy: rate limits use X-Forwarded-For",
    },
    EnvVar {
        name: "TRUSTED_PROXIES",
        key: "http.trusted_proxies",
        help: "proxies whose X-Forwarded-For is believed, addresses or CIDRs (default loopback)",
    },
    EnvVar {
        name: "METRICS_ADDR",
        key: "http.metrics_addr",
        help: "serve /metrics here (e.g. 127.0.0.1:9100) instead of on the public port",
    },
    EnvVar {
        name: "WEB_DIR",
        key: "http.web_dir",
        help: "built web app to serve at / (default web/dist)",
    },
    EnvVar {
        name: "USER_SERVICE_URL",
        key: "services.user_url",
        help: "gateway alone: base URL of the user service",
    },
    EnvVar {
        name: "CHAT_SERVICE_URL",
        key: "services.chat_url",
        help: "gateway alone: base URL of the chat service; comma-separated for several nodes",
    },
    EnvVar {
        name: "MAIL_SERVICE_URL",
        key: "services.mail_url",
        help: "gateway alone: base URL of the mail service (dev outbox)",
    },
    EnvVar {
        name: "LOG_FORMAT",
        key: "log.format",
        help: "pretty | json (default pretty)",
    },
    EnvVar {
        name: "RUST_LOG",
        key: "log.filter",
        help: "log filter, e.g. info,chatsync_chat=debug (default info)",
    },
];

/// Loads every layer. `file` is an explicit config file; without one, `chatsync.toml` in
/// the working directory is read if it exists.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    match file {
        Some(f) => fig = fig.merge(Toml::file_exact(f)),
        None => fig = fig.merge(Toml::file("chatsync.toml")),
    }
    fig = fig.merge(Env::prefixed("CHATSYNC__").split("__"));
    fig = fig.merge(
        Env::raw()
            .filter_map(|name| {
                ENV_VARS
                    .iter()
                    .find(|v| name.as_str() == v.name)
                    .map(|v| v.key.into())
            })
            // `Env` lower-cases names; a dotted key nests.
            .split("."),
    );
    let cfg: Config = fig.extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
    cfg.validate()?;
    Ok(cfg)
}

/// The configuration as TOML, secrets redacted: `chatsync config default` prints it.
pub fn to_toml(cfg: &Config) -> String {
    toml::to_string_pretty(cfg).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own large error
mod tests {
    use super::*;
    use chatsync_core::config::{ConnUrl, HttpConfig, LogFormat, RateLimit, Secret, SmtpTls};

    #[test]
    fn every_plain_env_var_names_a_real_key() {
        figment::Jail::expect_with(|jail| {
            for v in ENV_VARS {
                let value = match v.key {
                    "http.port" => "4000",
                    "mail.smtp_port" => "2525",
                    "auth.access_ttl_secs" | "auth.refresh_ttl_secs" => "1234",
                    "http.trust_forwarded_for" => "true",
                    "http.trusted_proxies" => "10.0.0.0/8, 192.0.2.7",
                    "http.metrics_addr" => "127.0.0.1:9100",
                    "http.cors_origins" => "https://chat.example.com",
                    "mail.smtp_tls" => "starttls",
                    "media.max_upload_bytes" => "1000",
                    "media.s3_path_style" => "false",
                    "log.format" => "json",
                    "database.url" | "database.user_url" | "database.chat_url" => {
                        "postgres://x@y/z"
                    }
                    "auth.jwt_secret" => "0123456789abcdef0123",
                    _ => "x",
                };
                jail.set_env(v.name, value);
            }
            let c = load(None).expect("loads");
            assert_eq!(c.http.port, 4000);
            assert_eq!(c.mail.smtp_tls, SmtpTls::Starttls);
            assert_eq!(c.mail.email_user.as_deref(), Some("x"));
            assert_eq!(
                c.auth.jwt_secret.as_ref().map(Secret::expose),
                Some("0123456789abcdef0123")
            );
            assert_eq!(c.log.format, LogFormat::Json);
            assert!(c.bus.rabbitmq_url.is_some() && c.redis.url.is_some());
            Ok(())
        });
    }

    #[test]
    fn nested_env_and_files_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("chatsync.toml", "[chat]\nsend_per_sec = 7\n")?;
            jail.set_env("CHATSYNC__CHAT__TYPING_TIMEOUT_SECS", "9");
            let c = load(None).expect("loads");
            assert_eq!(c.chat.send_per_sec, 7);
            assert_eq!(c.chat.typing_timeout_secs, 9);
            Ok(())
        });
    }

    #[test]
    fn account_limits_are_settings_with_defaults() {
        let toml = to_toml(&Config::default());
        for key in [
            "login_per_account_ip",
            "login_slow_per_ip",
            "verify_per_address",
            "search_per_account",
            "pending_registrations_per_address",
            "registration_ttl_secs",
        ] {
            assert!(toml.contains(key), "{key} missing from `config default`");
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("CHATSYNC__AUTH__SEARCH_PER_ACCOUNT__LIMIT", "120");
            let c = load(None).expect("loads");
            assert_eq!(c.auth.search_per_account, RateLimit::new(120, 60));
            Ok(())
        });
    }

    #[test]
    fn http_settings_that_cannot_work_are_refused_at_start() {
        let refused = |tweak: fn(&mut HttpConfig)| {
            let mut c = Config::default();
            tweak(&mut c.http);
            c.validate().expect_err("refused").to_string()
        };
        assert!(refused(|h| h.cors_origins = "*".into()).contains("CORS_ORIGINS='*'"));
        assert!(
            refused(|h| h.cors_origins = "https://a.example, *".into()).contains("CORS_ORIGINS")
        );
        assert!(refused(|h| h.cors_origins = "chat.example.com".into()).contains("not an origin"));
        assert!(refused(|h| h.trusted_proxies = "10.0.0.0/33".into()).contains("trusted_proxies"));
        assert!(refused(|h| h.metrics_addr = Some("localhost".into())).contains("METRICS_ADDR"));
        assert!(refused(|h| h.idle_timeout_secs = 30).contains("idle_timeout_secs"));
        assert!(refused(|h| h.max_connections = 0).contains("max_connections"));
        let mut c = Config::default();
        c.http.cors_origins = "https://a.example, http://localhost:5173".into();
        c.http.trusted_proxies = "10.0.0.0/8, 192.0.2.7, ::1, fd00::/8".into();
        c.http.metrics_addr = Some("127.0.0.1:9100".into());
        c.validate().unwrap();
        assert_eq!(c.http.trusted_proxy_nets().unwrap().len(), 4);
        let toml = to_toml(&Config::default());
        for key in [
            "header_read_timeout_secs",
            "idle_timeout_secs",
            "max_connections",
            "trusted_proxies",
        ] {
            assert!(toml.contains(key), "{key} missing from `config default`");
        }
    }

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.auth.jwt_secret = Some(Secret::new("supersecretvalue1234"));
        c.database.url = Some(ConnUrl::new("postgres://u:hunter2@db/x"));
        let shown = format!("{c:?}{}", to_toml(&c));
        assert!(!shown.contains("supersecretvalue1234") && !shown.contains("hunter2"));
    }
}
