//! [`Throwaway`]: a private PostgreSQL server for tests and benchmarks — a fresh cluster
//! (`initdb`) in a temporary folder, listening only on a Unix socket in that folder,
//! stopped and removed when dropped, and killed with the process that started it (the
//! server gets a parent-death signal, so a test binary that ends never leaves one behind).
//! Needs the Debian package `postgresql` (or `SILO_PG_BINDIR` naming a folder with
//! `initdb` and `postgres`). As root, the server runs as the `postgres` user, because
//! PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::PgError;

/// The port number (it only names the socket file: no TCP listener is opened).
const PORT: u16 = 5432;

/// A running private server.
#[derive(Debug)]
pub struct Throwaway {
    dir: PathBuf,
    child: Mutex<Option<Child>>,
    next_db: AtomicU32,
}

fn fail(what: impl std::fmt::Display) -> PgError {
    PgError::Throwaway(what.to_string())
}

impl Throwaway {
    /// Starts a server. With `durable: false` it skips fsync (tests); benchmarks that
    /// report commit latency pass `true`.
    pub fn start(durable: bool) -> Result<Self, PgError> {
        remove_stale();
        let bindir = bindir()?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "silo-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let owner = server_user()?;
        if let Some(user) = &owner {
            nix::unistd::chown(&dir, Some(user.uid), Some(user.gid))
                .map_err(|e| fail(format!("chown {}: {e}", dir.display())))?;
        }
        let data = dir.join("data");
        let initdb = as_server_user(&owner, &bindir.join("initdb"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("running initdb: {e}")))?;
        if !initdb.status.success() {
            return Err(fail(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            )));
        }
        let mut server = as_server_user(&owner, &bindir.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .args(["-p", &PORT.to_string(), "-c", "listen_addresses="])
            .args(["-c", "max_connections=400", "-c", "shared_buffers=128MB"])
            .args(["-c", "log_min_messages=fatal"]);
        if !durable {
            server.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        let child = server
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(format!("starting postgres: {e}")))?;
        let this = Self {
            dir,
            child: Mutex::new(Some(child)),
            next_db: AtomicU32::new(0),
        };
        this.wait_ready()?;
        Ok(this)
    }

    /// One server for the whole process, started on first use by a thread that lives as
    /// long as the process (a parent-death signal follows the thread that spawned the
    /// child, and test threads end early).
    pub fn shared() -> Result<&'static Throwaway, PgError> {
        static SHARED: OnceLock<Result<Throwaway, String>> = OnceLock::new();
        let started = SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("silo-throwaway-pg".into())
                .spawn(move || {
                    let _ = tx.send(Throwaway::start(false).map_err(|e| e.to_string()));
                    loop {
                        std::thread::park();
                    }
                });
            match spawned {
                Ok(_) => rx
                    .recv()
                    .unwrap_or_else(|_| Err("the starter thread ended".into())),
                Err(e) => Err(e.to_string()),
            }
        });
        started.as_ref().map_err(fail)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        let host: String = self
            .dir
            .to_string_lossy()
            .chars()
            .map(|c| {
                if c == '/' {
                    "%2F".to_owned()
                } else {
                    c.to_string()
                }
            })
            .collect();
        format!("postgresql://postgres@{host}:{PORT}/{db}")
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> Result<String, PgError> {
        let name = format!("silo_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| fail(format!("connecting: {e}")))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .map_err(|e| fail(format!("creating database {name}: {e}")))?;
        Ok(self.url(&name))
    }

    /// The folder holding the data and the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn wait_ready(&self) -> Result<(), PgError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(fail(format!("the server did not start: {e}")))
                }
                Err(_) => {}
            }
            if let Ok(mut guard) = self.child.lock() {
                if let Some(child) = guard.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(fail(format!("postgres exited at start: {status}")));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.child.lock() {
            if let Some(mut child) = guard.take() {
                // SIGQUIT: immediate shutdown, the postmaster stops its backends.
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGQUIT,
                    );
                }
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where initdb and postgres are: `SILO_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bindir() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os("SILO_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        fail("no PostgreSQL server found: install the Debian package `postgresql` (or set SILO_PG_BINDIR)")
    })
}

/// The `postgres` user when we are root (the server refuses root), else nobody.
fn server_user() -> Result<Option<nix::unistd::User>, PgError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    nix::unistd::User::from_name("postgres")
        .map_err(|e| fail(format!("looking up the postgres user: {e}")))?
        .map(Some)
        .ok_or_else(|| {
            fail("running as root needs a `postgres` user (the Debian package makes one)")
        })
}

/// `program` run through setpriv: as the server user when there is one, and with a
/// parent-death signal (SIGQUIT: the server's immediate shutdown) in every case.
fn as_server_user(user: &Option<nix::unistd::User>, program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg("--pdeathsig=QUIT");
    if let Some(user) = user {
        cmd.arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--clear-groups");
    }
    cmd.arg("--").arg(program);
    cmd
}

/// Removes the folders of throw-away servers whose process is gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("silo-pg-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
