//! The embedded default: a private PostgreSQL server run from the machine's installed
//! PostgreSQL binaries, in a data directory of its own, reachable only through a Unix socket in
//! that directory.
//!
//! Layout of the data directory:
//!
//! - `pg/`: the cluster (`PGDATA`), created by `initdb` on first use by a command that may
//!   create it (`database::MissingCluster`);
//! - `run/`: the socket directory (`run/.s.PGSQL.5432`);
//! - `postgres.log`: the server's log;
//! - `masar.lock`: a file lock taken around initialisation, start and stop, so that several
//!   processes starting at once neither initialise nor start the cluster twice.
//!
//! `initdb` and `postgres` refuse to run as root: when this process is root they are run as the
//! `postgres` system user, which then owns `pg/`, `run/` and the log.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::process::Command;

/// The database role created by `initdb` and used for every connection.
pub const SUPERUSER: &str = "masar";

/// The port number in the socket's name (`.s.PGSQL.5432`); nothing listens on TCP.
pub const PORT: u16 = 5432;

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with its final NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Environment variable naming the directory of the PostgreSQL server binaries.
pub const BINDIR_ENV: &str = "MASAR_PG_BINDIR";

/// The three programs the embedded server needs, all in one directory.
const PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// How long to wait for the server to start, stop or accept connections.
const SERVER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the embedded server could not be found, prepared, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No directory holding `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found on PATH, via pg_config \
         --bindir, or under /usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: apt-get \
         install postgresql; Fedora: dnf install postgresql-server; macOS: brew install \
         postgresql@16), or set DATABASE_URL to use an existing server"
    )]
    NoBinaries,
    /// `MASAR_PG_BINDIR` names a directory without the server binaries.
    #[error("{BINDIR_ENV}={} does not contain initdb, pg_ctl and postgres", dir.display())]
    BadBinDir {
        /// The directory named.
        dir: PathBuf,
    },
    /// The socket path would exceed what the kernel accepts.
    #[error(
        "the data directory {} is too deep: its socket path {} is {length} bytes, more than \
         the {MAX_SOCKET_PATH} a Unix socket allows; choose a shorter --data-dir (or \
         MASAR_DATA_DIR), or set DATABASE_URL",
        data_dir.display(), socket.display()
    )]
    SocketPathTooLong {
        /// The data directory asked for.
        data_dir: PathBuf,
        /// The socket path it implies.
        socket: PathBuf,
        /// Its length in bytes.
        length: usize,
    },
    /// Running as root, but there is no `postgres` system user to run the server as.
    #[error(
        "running as root, but there is no `postgres` system user to run the embedded \
         PostgreSQL as (PostgreSQL refuses to run as root): install the PostgreSQL server \
         package, which creates it, or create a `postgres` user, or run masar as an \
         ordinary user, or set DATABASE_URL"
    )]
    NoPostgresUser,
    /// The `postgres` system user cannot enter a directory on the way to the data directory.
    #[error(
        "the `postgres` system user, which runs the embedded PostgreSQL when masar runs as \
         root, cannot enter {} (mode {mode:o}): choose a --data-dir outside it, or let others \
         through it (chmod o+x {})",
        dir.display(), dir.display()
    )]
    Unreachable {
        /// The directory it cannot enter.
        dir: PathBuf,
        /// That directory's permission bits.
        mode: u32,
    },
    /// `pg/` exists and is not empty, but is not a PostgreSQL cluster.
    #[error(
        "{} exists but is not a PostgreSQL data directory (it has no PG_VERSION): move it \
         away or remove it, or choose another --data-dir",
        path.display()
    )]
    NotADataDirectory {
        /// The `pg/` directory.
        path: PathBuf,
    },
    /// The data directory does not exist, and the command may not create a cluster there.
    #[error(
        "the data directory {} does not exist, so there is no log to read: check --data-dir \
         (MASAR_DATA_DIR), set DATABASE_URL, or create a database there with `masar migrate \
         --data-dir {}` (or `masar demo --data-dir {}`)",
        data_dir.display(), data_dir.display(), data_dir.display()
    )]
    NoDataDirectory {
        /// The data directory asked for (absolute).
        data_dir: PathBuf,
    },
    /// The data directory holds no initialised cluster, and the command may not create one.
    #[error(
        "the data directory {} holds no database ({} is not a PostgreSQL cluster), so there \
         is no log to read: check --data-dir (MASAR_DATA_DIR), set DATABASE_URL, or create a \
         database there with `masar migrate --data-dir {}` (or `masar demo --data-dir {}`)",
        data_dir.display(), pgdata.display(), data_dir.display(), data_dir.display()
    )]
    NoCluster {
        /// The data directory asked for (absolute).
        data_dir: PathBuf,
        /// Its `pg/`, missing or without `PG_VERSION`.
        pgdata: PathBuf,
    },
    /// A file operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A PostgreSQL program could not be run or failed.
    #[error("{program} failed: {detail}")]
    Command {
        /// The program, e.g. `initdb`.
        program: String,
        /// Its exit status and output, or why it could not run.
        detail: String,
    },
    /// The server did not start (its log is quoted).
    #[error("the embedded PostgreSQL in {} did not start: {detail}", pgdata.display())]
    Start {
        /// The cluster.
        pgdata: PathBuf,
        /// What pg_ctl said and the end of the server log.
        detail: String,
    },
    /// A server process holds the cluster but never answers on the socket.
    #[error(
        "a PostgreSQL process (pid {pid}) holds {} but does not answer on {}; see {}",
        pgdata.display(), socket.display(), log.display()
    )]
    NotAnswering {
        /// Its process id.
        pid: i32,
        /// The cluster.
        pgdata: PathBuf,
        /// The socket it should answer on.
        socket: PathBuf,
        /// The server log.
        log: PathBuf,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> EmbeddedError {
    let path = path.to_path_buf();
    move |source| EmbeddedError::Io {
        action,
        path,
        source,
    }
}

/// Takes the data directory's exclusive lock into a guard, polling so as not
/// to block the runtime while another process holds it.
macro_rules! lock_exclusive {
    ($lock:ident, $path:expr) => {{
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(20);
        loop {
            match $lock.try_write() {
                Ok(guard) => break guard,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if waited == Duration::from_secs(5) {
                        tracing::info!("waiting for another process holding {}", $path.display());
                    }
                    tokio::time::sleep(step).await;
                    waited += step;
                }
                Err(error) => return Err(io_error("lock", &$path)(error)),
            }
        }
    }};
}

/// Where to look for the PostgreSQL server binaries, in this order. Each field may be left
/// empty; [`BinarySearch::default`] finds nothing, [`BinarySearch::from_env`] looks where a
/// real machine has them.
#[derive(Debug, Clone, Default)]
pub struct BinarySearch {
    /// A directory that must hold the binaries (from `MASAR_PG_BINDIR`); when set, nothing
    /// else is searched.
    pub bindir: Option<PathBuf>,
    /// A `PATH`-style list of directories.
    pub path: Option<OsString>,
    /// The `pg_config` program to ask for `--bindir`.
    pub pg_config: Option<PathBuf>,
    /// Directories holding one `<version>/bin` per installed version, like
    /// `/usr/lib/postgresql`; the highest version wins.
    pub version_roots: Vec<PathBuf>,
}

impl BinarySearch {
    /// The real search: `MASAR_PG_BINDIR`, then `PATH`, then `pg_config --bindir`, then the
    /// highest version under `/usr/lib/postgresql/*/bin`.
    pub fn from_env() -> Self {
        BinarySearch {
            bindir: std::env::var_os(BINDIR_ENV)
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
            path: std::env::var_os("PATH"),
            pg_config: Some(PathBuf::from("pg_config")),
            version_roots: vec![PathBuf::from("/usr/lib/postgresql")],
        }
    }

    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub fn find(&self) -> Result<PathBuf, EmbeddedError> {
        if let Some(dir) = &self.bindir {
            return if has_programs(dir) {
                Ok(resolve(dir))
            } else {
                Err(EmbeddedError::BadBinDir { dir: dir.clone() })
            };
        }
        if let Some(path) = &self.path {
            if let Some(dir) = std::env::split_paths(path).find(|dir| has_programs(dir)) {
                return Ok(resolve(&dir));
            }
        }
        if let Some(pg_config) = &self.pg_config {
            if let Some(dir) = ask_pg_config(pg_config, self.path.as_ref()) {
                if has_programs(&dir) {
                    return Ok(resolve(&dir));
                }
            }
        }
        let mut versions: Vec<(Vec<u64>, PathBuf)> = Vec::new();
        for root in &self.version_roots {
            let Ok(entries) = fs::read_dir(root) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(version) = name.to_str().and_then(parse_version) else {
                    continue;
                };
                let bin = entry.path().join("bin");
                if has_programs(&bin) {
                    versions.push((version, bin));
                }
            }
        }
        versions.sort();
        versions
            .pop()
            .map(|(_, dir)| dir)
            .ok_or(EmbeddedError::NoBinaries)
    }
}

fn parse_version(name: &str) -> Option<Vec<u64>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn has_programs(dir: &Path) -> bool {
    PROGRAMS
        .iter()
        .all(|program| is_executable(&dir.join(program)))
}

/// Follows a symlinked `initdb` (e.g. `/usr/local/bin/initdb`) to the real binary directory
/// when that directory holds all three programs.
fn resolve(dir: &Path) -> PathBuf {
    fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|real| has_programs(real))
        .unwrap_or_else(|| dir.to_path_buf())
}

fn ask_pg_config(pg_config: &Path, path: Option<&OsString>) -> Option<PathBuf> {
    let program = if pg_config.components().count() > 1 {
        pg_config.to_path_buf()
    } else {
        let path = path?;
        std::env::split_paths(path)
            .map(|dir| dir.join(pg_config))
            .find(|candidate| is_executable(candidate))?
    };
    let output = std::process::Command::new(program)
        .arg("--bindir")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The system user the server runs as when this process is root.
#[derive(Debug, Clone)]
struct RunAs {
    uid: Uid,
    gid: Gid,
}

/// Whether the server answers on its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Running and answering (normally: accepting connections).
    Ready,
    /// Answering, but not accepting connections yet (starting up, recovering, shutting down).
    Busy,
    /// Not answering.
    Down,
}

/// A private PostgreSQL server in a data directory (see the module documentation).
#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bindir: PathBuf,
    run_as: Option<RunAs>,
    settings: Vec<(String, String)>,
}

impl EmbeddedPostgres {
    /// The embedded server of `data_dir` (made absolute), with binaries found by
    /// [`BinarySearch::from_env`]. Nothing is created or started yet.
    pub fn new(data_dir: &Path) -> Result<Self, EmbeddedError> {
        Self::with_search(data_dir, &BinarySearch::from_env())
    }

    /// As [`EmbeddedPostgres::new`], finding the binaries with `search`.
    pub fn with_search(data_dir: &Path, search: &BinarySearch) -> Result<Self, EmbeddedError> {
        let data_dir = std::path::absolute(data_dir)
            .map_err(io_error("make absolute the data directory", data_dir))?;
        check_socket_path(&data_dir)?;
        let bindir = search.find()?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(EmbeddedError::NoPostgresUser)?;
            Some(RunAs {
                uid: user.uid,
                gid: user.gid,
            })
        } else {
            None
        };
        Ok(EmbeddedPostgres {
            data_dir,
            bindir,
            run_as,
            settings: Vec::new(),
        })
    }

    /// Adds a server setting passed at start (`-c name=value`), e.g. `max_connections`. It
    /// takes effect only when this process starts the server.
    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the PostgreSQL binaries in use.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The cluster, `<data_dir>/pg`.
    pub fn pgdata(&self) -> PathBuf {
        self.data_dir.join("pg")
    }

    /// The socket directory, `<data_dir>/run`.
    pub fn socket_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    /// The server log, `<data_dir>/postgres.log`.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("postgres.log")
    }

    fn lock_file(&self) -> PathBuf {
        self.data_dir.join("masar.lock")
    }

    fn socket(&self) -> PathBuf {
        self.socket_dir().join(format!(".s.PGSQL.{PORT}"))
    }

    /// Connection options for `database` over the socket, independent of `PG*` variables.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(self.socket_dir())
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
            .ssl_mode(PgSslMode::Disable)
            .disable_statement_logging()
    }

    /// A connection string for `database` that another process can use, e.g.
    /// `postgresql:///masar?user=masar&host=/abs/run&port=5432&sslmode=disable` (the form
    /// libpq documents; `postgresql://masar@/masar` is refused by URL parsers as an empty
    /// host).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql:///{}?user={SUPERUSER}&host={}&port={PORT}&sslmode=disable",
            percent_encode(database),
            percent_encode(&self.socket_dir().to_string_lossy()),
        )
    }

    /// Whether the server runs and answers on its socket now.
    pub async fn is_running(&self) -> bool {
        self.state().await == State::Ready
    }

    async fn state(&self) -> State {
        if !self.socket().exists() {
            return State::Down;
        }
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            PgConnection::connect_with(&self.connect_options("postgres")),
        )
        .await;
        match attempt {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                State::Ready
            }
            // cannot_connect_now: starting up, recovering or shutting down.
            Ok(Err(sqlx::Error::Database(error))) if error.code().as_deref() == Some("57P03") => {
                State::Busy
            }
            // Any other answer (e.g. a missing role) comes from a running server.
            Ok(Err(sqlx::Error::Database(_))) => State::Ready,
            Ok(Err(_)) => State::Down,
            Err(_) => State::Busy,
        }
    }

    /// Initialises the cluster if needed and starts the server unless it already runs.
    /// Returns whether this call started it. Safe to call from several processes at once.
    pub async fn start(&self) -> Result<bool, EmbeddedError> {
        self.prepare_data_dir()?;
        let mut lock = self.open_lock()?;
        let _guard = lock_exclusive!(lock, self.lock_file());

        if self.wait_unless_down().await? {
            return Ok(false);
        }
        self.prepare_server_dirs()?;
        self.initialise().await?;
        if self.clear_stale_or_wait().await? {
            return Ok(false);
        }

        tracing::info!(
            "starting embedded PostgreSQL in {} (socket in {}, log in {})",
            self.pgdata().display(),
            self.socket_dir().display(),
            self.log_file().display()
        );
        // pg_ctl hands these to the shell: each word is quoted on its own.
        let mut settings = vec![
            "listen_addresses=".to_owned(),
            format!("port={PORT}"),
            format!(
                "unix_socket_directories=\"{}\"",
                self.socket_dir().display()
            ),
        ];
        settings.extend(
            self.settings
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        );
        let options = settings
            .iter()
            .map(|setting| format!("-c {}", shell_quote(setting)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = self.command("pg_ctl");
        command
            .arg("start")
            .arg("-D")
            .arg(self.pgdata())
            .arg("-l")
            .arg(self.log_file())
            .arg("-w")
            .arg("-t")
            .arg(SERVER_TIMEOUT.as_secs().to_string())
            .arg("-s")
            .arg("-o")
            .arg(options);
        let output = run(command, "pg_ctl start").await?;
        if !output.status.success() {
            return Err(EmbeddedError::Start {
                pgdata: self.pgdata(),
                detail: format!(
                    "{}\nend of {}:\n{}",
                    describe(&output),
                    self.log_file().display(),
                    tail(&self.log_file(), 20)
                ),
            });
        }
        // pg_ctl -w has seen it accept connections; wait out any brief restart anyway.
        let deadline = Instant::now() + SERVER_TIMEOUT;
        while self.state().await != State::Ready {
            if Instant::now() > deadline {
                return Err(EmbeddedError::Start {
                    pgdata: self.pgdata(),
                    detail: format!(
                        "it does not accept connections on {}; end of {}:\n{}",
                        self.socket().display(),
                        self.log_file().display(),
                        tail(&self.log_file(), 20)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!("embedded PostgreSQL started");
        Ok(true)
    }

    /// Stops the server (`pg_ctl stop -m fast`) if it runs.
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        let mut lock = self.open_lock()?;
        let _guard = lock_exclusive!(lock, self.lock_file());
        if !self.pgdata().join("postmaster.pid").exists() {
            return Ok(());
        }
        tracing::info!(
            "stopping embedded PostgreSQL in {}",
            self.pgdata().display()
        );
        let mut command = self.command("pg_ctl");
        command
            .arg("stop")
            .arg("-D")
            .arg(self.pgdata())
            .arg("-m")
            .arg("fast")
            .arg("-w")
            .arg("-t")
            .arg(SERVER_TIMEOUT.as_secs().to_string())
            .arg("-s");
        let output = run(command, "pg_ctl stop").await?;
        if output.status.success() || self.state().await == State::Down {
            Ok(())
        } else {
            Err(EmbeddedError::Command {
                program: "pg_ctl stop".into(),
                detail: describe(&output),
            })
        }
    }

    /// Waits while the server answers but is busy; returns whether it is ready.
    async fn wait_unless_down(&self) -> Result<bool, EmbeddedError> {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            match self.state().await {
                State::Ready => return Ok(true),
                State::Down => return Ok(false),
                State::Busy if Instant::now() > deadline => {
                    return Err(EmbeddedError::Start {
                        pgdata: self.pgdata(),
                        detail: format!(
                            "it answers on {} but does not accept connections; see {}",
                            self.socket().display(),
                            self.log_file().display()
                        ),
                    })
                }
                State::Busy => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// With the server not answering: removes a stale `postmaster.pid` (and socket lock) left
    /// by a server that is gone, or waits for a live one to answer. Returns whether a server
    /// became ready meanwhile.
    async fn clear_stale_or_wait(&self) -> Result<bool, EmbeddedError> {
        let pid_file = self.pgdata().join("postmaster.pid");
        let deadline = Instant::now() + SERVER_TIMEOUT;
        while let Some(pid) = read_pid(&pid_file) {
            if !self.is_our_server(pid) {
                tracing::info!(
                    "removing stale {} (process {pid} is gone)",
                    pid_file.display()
                );
                remove_if_exists(&pid_file)?;
                break;
            }
            match self.state().await {
                State::Ready => return Ok(true),
                _ if Instant::now() > deadline => {
                    return Err(EmbeddedError::NotAnswering {
                        pid,
                        pgdata: self.pgdata(),
                        socket: self.socket(),
                        log: self.log_file(),
                    })
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        // No server of ours runs: whatever is left in the socket directory is stale.
        let socket = self.socket();
        let mut socket_lock = socket.clone().into_os_string();
        socket_lock.push(".lock");
        remove_if_exists(&socket)?;
        remove_if_exists(Path::new(&socket_lock))?;
        Ok(false)
    }

    /// Whether `pid` is a live postmaster of this cluster (not a reused pid).
    fn is_our_server(&self, pid: i32) -> bool {
        let alive = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(nix::errno::Errno::ESRCH) => false,
            Err(_) => true,
        };
        if !alive {
            return false;
        }
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        if !Path::new("/proc/self").exists() {
            return true; // no procfs: assume it is ours
        }
        if let Ok(cwd) = fs::read_link(proc_dir.join("cwd")) {
            if same_file(&cwd, &self.pgdata()) {
                return true;
            }
        }
        match fs::read(proc_dir.join("cmdline")) {
            Ok(cmdline) => {
                let pgdata = self.pgdata();
                let wanted = pgdata.as_os_str().as_encoded_bytes();
                cmdline
                    .split(|byte| *byte == 0)
                    .any(|arg| arg == wanted || arg.ends_with(wanted))
            }
            Err(_) => false,
        }
    }

    fn prepare_data_dir(&self) -> Result<(), EmbeddedError> {
        let dir = &self.data_dir;
        if let Some(run_as) = &self.run_as {
            // The postgres user must reach pg/ and run/ through every directory above them;
            // checked before anything is created.
            for ancestor in dir.ancestors().skip(1) {
                let Ok(meta) = fs::metadata(ancestor) else {
                    continue;
                };
                let mode = meta.permissions().mode();
                let through = mode & 0o001 != 0
                    || (meta.uid() == run_as.uid.as_raw() && mode & 0o100 != 0)
                    || (meta.gid() == run_as.gid.as_raw() && mode & 0o010 != 0);
                if !through {
                    return Err(EmbeddedError::Unreachable {
                        dir: ancestor.to_path_buf(),
                        mode: mode & 0o7777,
                    });
                }
            }
        }
        if !dir.exists() {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
            }
            create_private_dir(dir)?;
        }
        if self.run_as.is_some() {
            let meta = fs::metadata(dir).map_err(io_error("read", dir))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o011 != 0o011 {
                fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o011))
                    .map_err(io_error("change the permissions of", dir))?;
            }
        }
        Ok(())
    }

    fn prepare_server_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [self.pgdata(), self.socket_dir()] {
            create_private_dir(&dir)?;
            self.give(&dir)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(io_error("change the permissions of", &dir))?;
        }
        let log = self.log_file();
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(io_error("create", &log))?;
        self.give(&log)
    }

    /// Hands `path` to the user the server runs as (when root).
    fn give(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Some(run_as) = &self.run_as {
            nix::unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|errno| {
                EmbeddedError::Io {
                    action: "change the owner of",
                    path: path.to_path_buf(),
                    source: io::Error::from(errno),
                }
            })?;
        }
        Ok(())
    }

    async fn initialise(&self) -> Result<(), EmbeddedError> {
        let pgdata = self.pgdata();
        if pgdata.join("PG_VERSION").exists() {
            return Ok(());
        }
        let empty = fs::read_dir(&pgdata)
            .map_err(io_error("read", &pgdata))?
            .next()
            .is_none();
        if !empty {
            return Err(EmbeddedError::NotADataDirectory { path: pgdata });
        }
        tracing::info!(
            "initialising embedded PostgreSQL cluster in {} with {}",
            pgdata.display(),
            self.bindir.display()
        );
        let mut command = self.command("initdb");
        command
            .arg("-D")
            .arg(&pgdata)
            .arg("-E")
            .arg("UTF8")
            .arg("--locale=C")
            .arg("-U")
            .arg(SUPERUSER)
            .arg("--auth=trust");
        let output = run(command, "initdb").await?;
        if !output.status.success() {
            return Err(EmbeddedError::Command {
                program: "initdb".into(),
                detail: describe(&output),
            });
        }
        Ok(())
    }

    /// A PostgreSQL program, run as the server's user, in its own process group (so that a
    /// Ctrl-C meant for masar does not reach the server), with no `PG*` variables that could
    /// redirect it.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        command
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|name| name.starts_with("PG")) {
                command.env_remove(name);
            }
        }
        command.env("LC_ALL", "C");
        if let Some(run_as) = &self.run_as {
            command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
        }
        command
    }

    fn open_lock(&self) -> Result<fd_lock::RwLock<fs::File>, EmbeddedError> {
        let path = self.lock_file();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error("open", &path))?;
        Ok(fd_lock::RwLock::new(file))
    }
}

/// Creates `dir` with mode 0700 unless it exists (its parent must exist).
fn create_private_dir(dir: &Path) -> Result<(), EmbeddedError> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(io_error("create directory", dir)(error)),
    }
}

/// Checks, creating nothing, that `data_dir` holds an initialised cluster (`pg/PG_VERSION`), as
/// a command that reads an existing log needs: fails with [`EmbeddedError::NoDataDirectory`]
/// or [`EmbeddedError::NoCluster`] otherwise.
pub fn require_cluster(data_dir: &Path) -> Result<(), EmbeddedError> {
    let data_dir = std::path::absolute(data_dir)
        .map_err(io_error("make absolute the data directory", data_dir))?;
    if !data_dir.is_dir() {
        return Err(EmbeddedError::NoDataDirectory { data_dir });
    }
    let pgdata = data_dir.join("pg");
    if !pgdata.join("PG_VERSION").is_file() {
        return Err(EmbeddedError::NoCluster { data_dir, pgdata });
    }
    Ok(())
}

/// Checks that the socket of an embedded server in `data_dir` (absolute) fits in a Unix socket
/// address.
pub fn check_socket_path(data_dir: &Path) -> Result<(), EmbeddedError> {
    let socket = data_dir.join("run").join(format!(".s.PGSQL.{PORT}"));
    let length = socket.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(EmbeddedError::SocketPathTooLong {
            data_dir: data_dir.to_path_buf(),
            socket,
            length,
        });
    }
    Ok(())
}

async fn run(mut command: Command, program: &str) -> Result<Output, EmbeddedError> {
    command
        .output()
        .await
        .map_err(|error| EmbeddedError::Command {
            program: program.to_owned(),
            detail: format!("could not run it: {error}"),
        })
}

fn describe(output: &Output) -> String {
    let mut text = format!("{}", output.status);
    for stream in [&output.stdout, &output.stderr] {
        let stream = String::from_utf8_lossy(stream);
        let stream = stream.trim();
        if !stream.is_empty() {
            text.push('\n');
            text.push_str(stream);
        }
    }
    text
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return String::from("(no log)");
    };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn read_pid(pid_file: &Path) -> Option<i32> {
    let text = fs::read_to_string(pid_file).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn remove_if_exists(path: &Path) -> Result<(), EmbeddedError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("remove", path)(error)),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Quotes `text` as one word for `/bin/sh` (pg_ctl runs the server through the shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn urls_escape_the_socket_directory() {
        assert_eq!(percent_encode("/a b/run"), "/a%20b/run");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
