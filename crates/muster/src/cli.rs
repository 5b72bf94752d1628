//! The command line: subcommands, their arguments, and the global flags that form the top
//! layer of the configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use muster_domain::demo::DemoScale;
use muster_domain::organization::Roles;
use secrecy::SecretString;

use crate::bench::BenchName;
use crate::config::{self, ConfigLayer};

/// Muster: the platform for defense mobilization offices.
///
/// Settings come from defaults, then an optional TOML file (--config or MUSTER_CONFIG),
/// then MUSTER_* environment variables, then the flags below; each overrides the one before.
#[derive(Debug, Parser)]
#[command(name = "muster", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags that every subcommand accepts; they override the file and the environment.
#[derive(Debug, Args)]
#[command(next_help_heading = "Settings (any subcommand; override MUSTER_* and the file)")]
pub struct GlobalArgs {
    /// TOML configuration file with any of the keys database_url, data_dir, files_dir,
    /// map_tile_url, bind, behind_tls, trusted_proxy, session_hours [env: MUSTER_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database: sqlite://PATH, a SQLite file path, or postgres://USER@HOST/DB. Default:
    /// sqlite://DATA_DIR/muster.db. Prefer MUSTER_DATABASE_URL for URLs with a password:
    /// flags are visible to other users of the machine [env: MUSTER_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse_secret)]
    pub database_url: Option<SecretString>,

    /// Directory for Muster's files, the default SQLite database among them. Default:
    /// ./data [env: MUSTER_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Directory of the attachment store (inspection photos and videos). Default:
    /// DATA_DIR/files [env: MUSTER_FILES_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,

    /// A `{z}/{x}/{y}` tile server on the deployment's own network for the facility map's
    /// background; none by default [env: MUSTER_MAP_TILE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub map_tile_url: Option<String>,

    /// Address and port the server listens on; port 0 picks a free port. Default:
    /// 127.0.0.1:8080 [env: MUSTER_BIND]
    #[arg(long, global = true, value_name = "ADDR:PORT", value_parser = parse_bind_flag)]
    pub bind: Option<SocketAddr>,

    /// Whether users reach Muster over HTTPS (directly or through a proxy), so that session
    /// cookies are marked Secure. Default: false [env: MUSTER_BEHIND_TLS]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub behind_tls: Option<bool>,

    /// The IP address of the reverse proxy in front of Muster, if any. Requests from it are
    /// counted against the client address it puts last in X-Forwarded-For (the sign-in
    /// limiter's per-address budget); the header is ignored from anyone else. Give the
    /// address Muster sees the proxy connect from. Default: none
    /// [env: MUSTER_TRUSTED_PROXY]
    #[arg(long, global = true, value_name = "IP", value_parser = parse_proxy_flag)]
    pub trusted_proxy: Option<IpAddr>,

    /// How many hours a sign-in lasts, 1 to 720. Default: 8 [env: MUSTER_SESSION_HOURS]
    #[arg(long, global = true, value_name = "HOURS", value_parser = config::parse_session_hours_flag)]
    pub session_hours: Option<u64>,
}

impl GlobalArgs {
    /// The flags as the top configuration layer.
    pub fn layer(&self) -> ConfigLayer {
        ConfigLayer {
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            files_dir: self.files_dir.clone(),
            map_tile_url: self.map_tile_url.clone(),
            bind: self.bind,
            behind_tls: self.behind_tls,
            trusted_proxy: self.trusted_proxy,
            session_hours: self.session_hours,
        }
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

fn parse_proxy_flag(text: &str) -> Result<IpAddr, String> {
    config::parse_proxy(text, "--trusted-proxy").map_err(|e| e.to_string())
}

fn parse_bind_flag(text: &str) -> Result<SocketAddr, String> {
    config::parse_bind(text, "--bind").map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server until Ctrl-C (or SIGTERM), then stop gracefully.
    ///
    /// Opens the database and applies pending migrations first. On a database without users
    /// it prints a one-time setup link for creating the first administrator.
    Serve(ServeArgs),

    /// Apply pending database migrations and exit.
    Migrate,

    /// Load synthetic demo data (regions, organizations and one user per role) into an empty
    /// database, and print the demo users and their password.
    Demo(DemoArgs),

    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),

    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),

    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Write a consistent copy of a SQLite database, safe while the server runs.
    ///
    /// PostgreSQL is backed up with pg_dump; for a PostgreSQL database this prints how, and
    /// exits with status 1.
    Backup(BackupArgs),

    /// Run a benchmark on data it generates itself, and compare with the anchor the issue
    /// names.
    ///
    /// Prints a table with each figure's ratio to the anchor measured in the same run (each
    /// the median of three runs), or one JSON object with --json. PostgreSQL figures use a
    /// fresh database, dropped afterwards, on the server at MUSTER_BENCH_POSTGRES_URL
    /// (default postgres://postgres@127.0.0.1:5432/postgres) and are skipped if it cannot be
    /// reached. Build with --release for figures that mean anything.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Load the province-scale demo data first if the database has no regions yet, and
    /// print the demo sign-in (the credentials are printed even when the data was already
    /// there)
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed for the generator: the same seed always gives the same demo
    #[arg(long, value_name = "N", default_value_t = 2026)]
    pub seed: u64,

    /// How much to generate: province (21,617 regions) or nation (1,000,000 regions)
    #[arg(long, value_enum, default_value_t = ScaleArg::Province)]
    pub scale: ScaleArg,

    /// Start the server after loading, as `muster serve` does
    #[arg(long)]
    pub serve: bool,
}

/// The demo sizes offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaleArg {
    /// One province: 16 cities, 100 counties, 1,500 townships, 20,000 villages
    Province,
    /// A nation of a million regions (organizations only down to county level)
    Nation,
    /// A few dozen regions, for tests
    #[value(hide = true)]
    Tiny,
}

impl From<ScaleArg> for DemoScale {
    fn from(scale: ScaleArg) -> Self {
        match scale {
            ScaleArg::Province => DemoScale::Province,
            ScaleArg::Nation => DemoScale::Nation,
            ScaleArg::Tiny => DemoScale::Tiny,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import administrative regions from a CSV file, all or nothing.
    ///
    /// The header names the columns: code,name,parent_code and optionally level,lat,lon
    /// (Chinese headers such as 区划代码,名称,上级代码 work too). UTF-8 with or without a BOM,
    /// or GB18030/GBK as Excel saves it. Rows may come in any order; parents may be in the
    /// file or already stored. If any row has a problem, every problem is printed with its
    /// line and column, nothing is stored, and the exit status is 2.
    Regions(ImportRegionsArgs),
}

#[derive(Debug, Args)]
pub struct ImportRegionsArgs {
    /// The CSV file to import
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in an organization; prints the new user's id.
    ///
    /// Without --password-stdin the password is asked for on the terminal (twice, not
    /// echoed). Passwords have at least 8 characters.
    Add(UserAddArgs),

    /// Set a user's password: the way back in when the last administrator forgot theirs.
    /// Their sessions end and their API tokens are revoked. Audited as the command line's reset.
    Password(UserPasswordArgs),

    /// Disable a user: they can no longer sign in, their sessions end and their API tokens
    /// are revoked (for someone who left, or whose account is suspected). Audited.
    Disable(UserNameArgs),

    /// Enable a disabled user again; they sign in afresh (old sessions and tokens stay gone).
    Enable(UserNameArgs),
}

#[derive(Debug, Args)]
pub struct UserNameArgs {
    /// The user's sign-in name
    #[arg(long)]
    pub username: String,
}

#[derive(Debug, Args)]
pub struct UserPasswordArgs {
    /// The user's sign-in name
    #[arg(long)]
    pub username: String,

    /// Read the password from the first line of standard input instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// Sign-in name: 2 to 64 letters, digits, '.', '_', '-' or '@'
    #[arg(long)]
    pub username: String,

    /// Name shown to other users, 1 to 100 characters
    #[arg(long)]
    pub display_name: String,

    /// Id of the organization the user works for; it decides which regions they see
    #[arg(long, value_name = "N")]
    pub organization_id: i64,

    /// Comma-separated roles: administrator, office_staff, military_liaison,
    /// member_unit_officer, workstation_staff, grid_member, property_manager, viewer
    #[arg(long, value_name = "ROLE,ROLE", value_parser = parse_roles)]
    pub roles: Roles,

    /// Read the password from the first line of standard input instead of prompting (for
    /// scripts: `printf '%s\n' "$PASSWORD" | muster user add ... --password-stdin`)
    #[arg(long)]
    pub password_stdin: bool,
}

fn parse_roles(text: &str) -> Result<Roles, String> {
    Roles::parse_list(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole audit chain and report whether it is intact.
    ///
    /// Exit status 0 when intact, 1 when an entry was altered, removed or relinked (the
    /// first such entry is named).
    Verify,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist yet
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark to run
    #[arg(value_enum, value_name = "NAME")]
    pub name: BenchName,

    /// Run at a tenth of the size, in seconds rather than minutes
    #[arg(long)]
    pub quick: bool,

    /// Print the figures as one JSON object on standard output instead of a table
    #[arg(long)]
    pub json: bool,

    /// Run only these parts of the benchmark (potential only: its full run takes a quarter
    /// of an hour, most of it loading the totals' records)
    #[arg(long, value_enum, value_name = "PART", value_delimiter = ',')]
    pub only: Vec<crate::bench::BenchPart>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "muster",
            "migrate",
            "--data-dir",
            "/tmp/x",
            "--behind-tls",
            "--session-hours",
            "3",
        ])
        .expect("parses");
        let layer = cli.global.layer();
        assert_eq!(layer.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(layer.behind_tls, Some(true));
        assert_eq!(layer.session_hours, Some(3));
        let cli = Cli::try_parse_from(["muster", "--behind-tls=false", "migrate"]).expect("parses");
        assert_eq!(cli.global.layer().behind_tls, Some(false));
    }

    #[test]
    fn bad_roles_and_addresses_are_refused_at_parse_time() {
        let base = [
            "muster",
            "user",
            "add",
            "--username",
            "u",
            "--display-name",
            "U",
            "--organization-id",
            "1",
        ];
        let with = |extra: &[&'static str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        assert!(with(&["--roles", "viewer,office_staff"]).is_ok());
        assert!(with(&["--roles", "admin"]).is_err());
        assert!(Cli::try_parse_from(["muster", "--bind", "localhost", "migrate"]).is_err());
    }

    #[test]
    fn a_benchmark_runs_the_parts_named() {
        let parsed = |args: &[&str]| match Cli::try_parse_from(args).map(|cli| cli.command) {
            Ok(Command::Bench(bench)) => Ok(bench.only),
            Ok(other) => panic!("parsed as {other:?}"),
            Err(e) => Err(e.kind()),
        };
        use crate::bench::BenchPart;
        assert_eq!(
            parsed(&["muster", "bench", "potential", "--only", "csv,totals"]),
            Ok(vec![BenchPart::Csv, BenchPart::Totals])
        );
        assert_eq!(parsed(&["muster", "bench", "potential"]), Ok(Vec::new()));
        assert_eq!(
            parsed(&["muster", "bench", "potential", "--only", "cvs"]),
            Err(clap::error::ErrorKind::InvalidValue)
        );
    }
}
