//! Layered configuration: defaults → TOML file → `MUSTER_…` environment → command-line
//! flags, each layer overriding the one before it.
//!
//! Every source is first read into a [`ConfigLayer`] of typed, optional values, so a bad
//! value is refused with the name of the source that gave it. [`resolve`] then merges the
//! layers as plain values: it touches neither the process environment nor the file system,
//! which is what lets the precedence be tested as data.
//!
//! The database URL can carry a PostgreSQL password, so it lives in a [`SecretString`] from
//! the moment it is read: `Debug` output and logs show `[REDACTED]`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The data directory when no layer names one.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Where the server listens when no layer says otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// How long a sign-in lasts when no layer says otherwise.
pub const DEFAULT_SESSION_HOURS: u64 = 8;

/// The settings every command runs with, after merging all layers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `sqlite://…`, a bare SQLite path, or `postgres://…`. Secret: it may hold a password.
    pub database_url: SecretString,
    pub data_dir: PathBuf,
    /// The attachment store's directory; default `<data_dir>/files`.
    pub files_dir: PathBuf,
    /// A `{z}/{x}/{y}` tile server on the deployment's own network for the facility map.
    pub map_tile_url: Option<String>,
    pub bind: SocketAddr,
    pub behind_tls: bool,
    /// The reverse proxy in front of Muster, if any: from it alone, `X-Forwarded-For` names
    /// the client (for the sign-in limiter's per-address budget).
    pub trusted_proxy: Option<IpAddr>,
    pub session_hours: u64,
}

impl Settings {
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_hours.saturating_mul(3600))
    }

    /// The database URL as storage understands it. The secret is exposed only to parse it.
    pub fn database_url(&self) -> anyhow::Result<muster_storage::DatabaseUrl> {
        muster_storage::DatabaseUrl::parse(self.database_url.expose_secret())
            .context("the configured database URL is not usable")
    }
}

/// One source's view of the settings: only what that source sets.
#[derive(Debug, Clone, Default)]
pub struct ConfigLayer {
    pub database_url: Option<SecretString>,
    pub data_dir: Option<PathBuf>,
    pub files_dir: Option<PathBuf>,
    pub map_tile_url: Option<String>,
    pub bind: Option<SocketAddr>,
    pub behind_tls: Option<bool>,
    pub trusted_proxy: Option<IpAddr>,
    pub session_hours: Option<u64>,
}

/// The keys a configuration file may hold. Unknown keys are refused so that a typo
/// (`databse_url`) does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKeys {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    files_dir: Option<PathBuf>,
    map_tile_url: Option<String>,
    bind: Option<String>,
    behind_tls: Option<bool>,
    trusted_proxy: Option<String>,
    session_hours: Option<u64>,
}

/// The environment variables read, in the order of [`ConfigLayer`]'s fields.
pub const ENV_DATABASE_URL: &str = "MUSTER_DATABASE_URL";
pub const ENV_DATA_DIR: &str = "MUSTER_DATA_DIR";
pub const ENV_FILES_DIR: &str = "MUSTER_FILES_DIR";
pub const ENV_MAP_TILE_URL: &str = "MUSTER_MAP_TILE_URL";
pub const ENV_BIND: &str = "MUSTER_BIND";
pub const ENV_BEHIND_TLS: &str = "MUSTER_BEHIND_TLS";
pub const ENV_TRUSTED_PROXY: &str = "MUSTER_TRUSTED_PROXY";
pub const ENV_SESSION_HOURS: &str = "MUSTER_SESSION_HOURS";
/// Names the configuration file when `--config` does not.
pub const ENV_CONFIG: &str = "MUSTER_CONFIG";

impl ConfigLayer {
    /// Parses the text of a TOML configuration file; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> anyhow::Result<Self> {
        let keys: FileKeys = toml::from_str(text)
            .with_context(|| format!("cannot read the configuration file {}", origin.display()))?;
        let source = format!("`bind` in {}", origin.display());
        Ok(Self {
            database_url: keys.database_url.map(SecretString::from),
            data_dir: keys.data_dir,
            files_dir: keys.files_dir,
            map_tile_url: keys.map_tile_url,
            bind: keys.bind.map(|b| parse_bind(&b, &source)).transpose()?,
            behind_tls: keys.behind_tls,
            trusted_proxy: keys
                .trusted_proxy
                .map(|p| parse_proxy(&p, &format!("`trusted_proxy` in {}", origin.display())))
                .transpose()?,
            session_hours: keys
                .session_hours
                .map(|h| check_session_hours(h, &origin.display().to_string()))
                .transpose()?,
        })
    }

    /// Reads the `MUSTER_…` variables through `lookup`, which is `std::env::var` in the
    /// binary and a table in tests. Empty values count as unset.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            database_url: get(ENV_DATABASE_URL).map(SecretString::from),
            data_dir: get(ENV_DATA_DIR).map(PathBuf::from),
            files_dir: get(ENV_FILES_DIR).map(PathBuf::from),
            map_tile_url: get(ENV_MAP_TILE_URL),
            bind: get(ENV_BIND)
                .map(|b| parse_bind(&b, ENV_BIND))
                .transpose()?,
            behind_tls: get(ENV_BEHIND_TLS)
                .map(|b| parse_bool(&b, ENV_BEHIND_TLS))
                .transpose()?,
            trusted_proxy: get(ENV_TRUSTED_PROXY)
                .map(|p| parse_proxy(&p, ENV_TRUSTED_PROXY))
                .transpose()?,
            session_hours: get(ENV_SESSION_HOURS)
                .map(|h| {
                    let hours = h.trim().parse::<u64>().with_context(|| {
                        format!(
                            "{ENV_SESSION_HOURS}: expected a whole number of hours, found {h:?}"
                        )
                    })?;
                    check_session_hours(hours, ENV_SESSION_HOURS)
                })
                .transpose()?,
        })
    }
}

/// Merges the layers, highest precedence last in the argument list. The default database
/// is `muster.db` in the data directory that won, so `--data-dir` alone moves it.
pub fn resolve(file: ConfigLayer, env: ConfigLayer, flags: ConfigLayer) -> Settings {
    let data_dir = flags
        .data_dir
        .or(env.data_dir)
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let database_url = flags
        .database_url
        .or(env.database_url)
        .or(file.database_url)
        .unwrap_or_else(|| {
            SecretString::from(format!("sqlite://{}", data_dir.join("muster.db").display()))
        });
    // Like the database, the attachment store follows the data directory unless named.
    let files_dir = flags
        .files_dir
        .or(env.files_dir)
        .or(file.files_dir)
        .unwrap_or_else(|| data_dir.join("files"));
    Settings {
        database_url,
        files_dir,
        map_tile_url: flags
            .map_tile_url
            .or(env.map_tile_url)
            .or(file.map_tile_url),
        bind: flags
            .bind
            .or(env.bind)
            .or(file.bind)
            .unwrap_or_else(default_bind),
        behind_tls: flags
            .behind_tls
            .or(env.behind_tls)
            .or(file.behind_tls)
            .unwrap_or(false),
        trusted_proxy: flags
            .trusted_proxy
            .or(env.trusted_proxy)
            .or(file.trusted_proxy),
        session_hours: flags
            .session_hours
            .or(env.session_hours)
            .or(file.session_hours)
            .unwrap_or(DEFAULT_SESSION_HOURS),
        data_dir,
    }
}

/// Reads the configuration file named by the flag or, failing that, by `MUSTER_CONFIG`.
/// No file named means an empty layer; a named file that cannot be read is an error.
pub fn file_layer(
    flag: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ConfigLayer> {
    let path = match flag {
        Some(path) => path.to_path_buf(),
        None => match env(ENV_CONFIG).filter(|p| !p.trim().is_empty()) {
            Some(path) => PathBuf::from(path),
            None => return Ok(ConfigLayer::default()),
        },
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    ConfigLayer::from_toml(&text, &path)
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Parses `HOST:PORT` (an IP address, not a name: the server binds, it does not resolve).
pub fn parse_bind(text: &str, source: &str) -> anyhow::Result<SocketAddr> {
    text.trim().parse::<SocketAddr>().with_context(|| {
        format!("{source}: expected an address and port such as {DEFAULT_BIND} or 0.0.0.0:8080, found {text:?}")
    })
}

/// Parses the reverse proxy's address (an IP address: it is compared with each
/// connection's peer).
pub fn parse_proxy(text: &str, source: &str) -> anyhow::Result<IpAddr> {
    text.trim().parse::<IpAddr>().with_context(|| {
        format!(
            "{source}: expected the reverse proxy's IP address, such as 127.0.0.1, found {text:?}"
        )
    })
}

fn parse_bool(text: &str, source: &str) -> anyhow::Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{source}: expected true or false, found {text:?}"),
    }
}

fn check_session_hours(hours: u64, source: &str) -> anyhow::Result<u64> {
    if (1..=24 * 30).contains(&hours) {
        Ok(hours)
    } else {
        bail!("{source}: a session lasts 1 to 720 hours, found {hours}")
    }
}

/// Checks `--session-hours` the way the other sources are checked.
pub fn parse_session_hours_flag(text: &str) -> Result<u64, String> {
    let hours = text
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number of hours, found {text:?}"))?;
    check_session_hours(hours, "--session-hours").map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let table: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| table.get(name).cloned()
    }

    fn toml_layer(text: &str) -> ConfigLayer {
        ConfigLayer::from_toml(text, Path::new("muster.toml")).expect("valid TOML")
    }

    fn url(settings: &Settings) -> &str {
        settings.database_url.expose_secret()
    }

    #[test]
    fn with_no_layers_the_defaults_apply() {
        let settings = resolve(
            ConfigLayer::default(),
            ConfigLayer::default(),
            ConfigLayer::default(),
        );
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(url(&settings), "sqlite://./data/muster.db");
        assert_eq!(settings.files_dir, PathBuf::from("./data/files"));
        assert_eq!(settings.bind, default_bind());
        assert!(!settings.behind_tls);
        assert_eq!(settings.session_hours, 8);
    }

    #[test]
    fn each_layer_overrides_the_ones_below_it_key_by_key() {
        let file = toml_layer(
            r#"
            data_dir = "/srv/file"
            bind = "0.0.0.0:9000"
            behind_tls = true
            trusted_proxy = "10.1.1.1"
            session_hours = 12
            "#,
        );
        let environment = ConfigLayer::from_env(env(&[
            (ENV_BIND, "127.0.0.1:9100"),
            (ENV_SESSION_HOURS, "4"),
            (ENV_TRUSTED_PROXY, "10.2.2.2"),
        ]))
        .expect("valid env");
        let flags = ConfigLayer {
            session_hours: Some(2),
            ..ConfigLayer::default()
        };
        let settings = resolve(file, environment, flags);
        // The file alone sets these two.
        assert_eq!(settings.data_dir, PathBuf::from("/srv/file"));
        assert!(settings.behind_tls);
        // The environment beats the file.
        assert_eq!(settings.bind, "127.0.0.1:9100".parse().expect("addr"));
        assert_eq!(
            settings.trusted_proxy,
            Some("10.2.2.2".parse().expect("ip"))
        );
        // The flag beats both.
        assert_eq!(settings.session_hours, 2);
    }

    #[test]
    fn the_default_database_follows_the_winning_data_dir() {
        let file = toml_layer(r#"data_dir = "/srv/file""#);
        let flags = ConfigLayer {
            data_dir: Some(PathBuf::from("/tmp/flag")),
            ..ConfigLayer::default()
        };
        let settings = resolve(file, ConfigLayer::default(), flags);
        assert_eq!(url(&settings), "sqlite:///tmp/flag/muster.db");
    }

    #[test]
    fn the_files_dir_follows_the_data_dir_unless_a_layer_names_it() {
        let file = toml_layer(r#"data_dir = "/srv/file""#);
        let settings = resolve(file, ConfigLayer::default(), ConfigLayer::default());
        assert_eq!(settings.files_dir, PathBuf::from("/srv/file/files"));

        let file = toml_layer(
            r#"
            data_dir = "/srv/file"
            files_dir = "/mnt/photos"
            "#,
        );
        let settings = resolve(file, ConfigLayer::default(), ConfigLayer::default());
        assert_eq!(settings.files_dir, PathBuf::from("/mnt/photos"));

        let environment = ConfigLayer::from_env(env(&[(ENV_FILES_DIR, "/mnt/env")])).expect("env");
        let flags = ConfigLayer {
            files_dir: Some(PathBuf::from("/mnt/flag")),
            ..ConfigLayer::default()
        };
        let file = toml_layer(r#"files_dir = "/mnt/photos""#);
        assert_eq!(
            resolve(file, environment.clone(), ConfigLayer::default()).files_dir,
            PathBuf::from("/mnt/env")
        );
        assert_eq!(
            resolve(ConfigLayer::default(), environment, flags).files_dir,
            PathBuf::from("/mnt/flag")
        );
    }

    #[test]
    fn an_explicit_database_url_wins_over_the_data_dir_default() {
        let file = toml_layer(r#"database_url = "sqlite:///from/file.db""#);
        let environment =
            ConfigLayer::from_env(env(&[(ENV_DATABASE_URL, "postgres://u:pw@db/muster")]))
                .expect("valid env");
        let flags = ConfigLayer {
            data_dir: Some(PathBuf::from("/tmp/flag")),
            ..ConfigLayer::default()
        };
        let settings = resolve(file, environment, flags);
        assert_eq!(url(&settings), "postgres://u:pw@db/muster");
    }

    #[test]
    fn an_empty_environment_variable_counts_as_unset() {
        let file = toml_layer(r#"bind = "0.0.0.0:9000""#);
        let environment =
            ConfigLayer::from_env(env(&[(ENV_BIND, "  "), (ENV_DATA_DIR, "")])).expect("valid");
        let settings = resolve(file, environment, ConfigLayer::default());
        assert_eq!(settings.bind, "0.0.0.0:9000".parse().expect("addr"));
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn the_database_url_never_shows_in_debug_output() {
        let environment = ConfigLayer::from_env(env(&[(
            ENV_DATABASE_URL,
            "postgres://muster:hunter2-secret@db/muster",
        )]))
        .expect("valid env");
        let printed_layer = format!("{environment:?}");
        let settings = resolve(ConfigLayer::default(), environment, ConfigLayer::default());
        let printed = format!("{settings:?}");
        for text in [printed_layer, printed] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("REDACTED"), "{text}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_their_source() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(ENV_BIND, "localhost")], ENV_BIND),
            (&[(ENV_BEHIND_TLS, "perhaps")], ENV_BEHIND_TLS),
            (&[(ENV_SESSION_HOURS, "eight")], ENV_SESSION_HOURS),
            (&[(ENV_SESSION_HOURS, "0")], ENV_SESSION_HOURS),
            (&[(ENV_TRUSTED_PROXY, "proxy.local")], ENV_TRUSTED_PROXY),
        ];
        for (pairs, source) in cases {
            let error = ConfigLayer::from_env(env(pairs)).expect_err("refused");
            assert!(format!("{error:#}").contains(source), "{error:#}");
        }
        for (text, expected) in [
            ("databse_url = \"x\"", "unknown field"),
            ("bind = \"nowhere\"", "`bind` in muster.toml"),
            ("session_hours = 100000", "muster.toml"),
            (
                "trusted_proxy = \"10.0.0\"",
                "`trusted_proxy` in muster.toml",
            ),
        ] {
            let error =
                ConfigLayer::from_toml(text, Path::new("muster.toml")).expect_err("refused");
            assert!(format!("{error:#}").contains(expected), "{error:#}");
        }
    }

    #[test]
    fn booleans_take_the_usual_spellings() {
        for (text, value) in [("true", true), ("1", true), ("YES", true), ("off", false)] {
            let layer = ConfigLayer::from_env(env(&[(ENV_BEHIND_TLS, text)])).expect("valid");
            assert_eq!(layer.behind_tls, Some(value), "{text}");
        }
    }

    #[test]
    fn the_config_file_comes_from_the_flag_before_the_environment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let from_flag = dir.path().join("flag.toml");
        let from_env = dir.path().join("env.toml");
        std::fs::write(&from_flag, "session_hours = 3").expect("write");
        std::fs::write(&from_env, "session_hours = 5").expect("write");
        let env_path = from_env.display().to_string();
        let lookup = env(&[(ENV_CONFIG, env_path.as_str())]);
        let layer = file_layer(Some(&from_flag), &lookup).expect("read");
        assert_eq!(layer.session_hours, Some(3));
        let layer = file_layer(None, &lookup).expect("read");
        assert_eq!(layer.session_hours, Some(5));
        let layer = file_layer(None, env(&[])).expect("no file is fine");
        assert_eq!(layer.session_hours, None);
        assert!(file_layer(Some(&dir.path().join("missing.toml")), env(&[])).is_err());
    }
}
