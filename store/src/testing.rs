//! Test support: a throw-away PostgreSQL cluster (Debian's `postgresql`
//! server binaries) in a temporary directory on a free loopback port,
//! stopped and removed on drop. Run as root, the server runs as the
//! `postgres` user (`initdb` refuses root). Not for production use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster; `troop` is its superuser, trusted on loopback.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: std::sync::atomic::AtomicUsize,
}

/// Where the server binaries are: `TROOP_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
pub fn bindir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("TROOP_PG_BINDIR") {
        return Some(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Some(p);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().next() == Some("0")))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

impl PgCluster {
    /// Start a cluster tuned for tests (no fsync: nothing in a test
    /// outlives the machine).
    pub fn start() -> Result<PgCluster, String> {
        Self::start_with(&["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"])
    }

    /// Start a cluster that serves TLS with this certificate and key (PEM),
    /// and takes TCP connections over TLS only (`hostssl` in pg_hba.conf).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<PgCluster, String> {
        let files = [
            ("server.crt", cert_pem),
            ("server.key", key_pem),
            ("pg_hba.conf", "local all all trust\nhostssl all all 127.0.0.1/32 trust\n"),
        ];
        let options = ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"];
        Self::start_inner(&options, &files)
    }

    /// Start a cluster with the server's default durability (benchmarks
    /// beside SQLite), plus `options` (`-c name=value`…).
    pub fn start_with(options: &[&str]) -> Result<PgCluster, String> {
        Self::start_inner(options, &[])
    }

    /// `files` are written into the data directory after `initdb` (mode 0600).
    fn start_inner(options: &[&str], files: &[(&str, &str)]) -> Result<PgCluster, String> {
        let bin = bindir().ok_or("no PostgreSQL server binaries (install Debian's postgresql)")?;
        let dir = std::env::temp_dir().join(format!("troop-pg-{}-{:08x}", std::process::id(), fastrand_u32()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        let cluster = PgCluster { dir, bin, port: free_port(), as_postgres, next_db: Default::default() };
        if as_postgres {
            cluster.sh(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster.dir), "chown")?;
        }
        let data = cluster.dir.join("data");
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "troop", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        cluster.sh(&mut initdb, "initdb")?;
        for (name, text) in files {
            use std::os::unix::fs::PermissionsExt;
            let path = data.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
            if as_postgres {
                cluster.sh(Command::new("chown").arg("postgres:postgres").arg(&path), "chown")?;
            }
        }
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        for o in options {
            opts.push(' ');
            opts.push_str(o);
        }
        let mut start = cluster.tool("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        cluster.sh(&mut start, "pg_ctl start")?;
        Ok(cluster)
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn sh(&self, cmd: &mut Command, what: &str) -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            Err(format!(
                "{what} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ))
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory the cluster lives in (its data in `data/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A store URL for database `db` (as the superuser, no TLS).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://troop@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// Create a fresh, empty database; its store URL.
    pub fn fresh_db(&self) -> Result<String, String> {
        let n = self.next_db.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let db = format!("t{n}");
        self.psql(&format!("CREATE DATABASE {db}"))?;
        Ok(self.url(&db))
    }

    /// Run SQL in the `postgres` database as the superuser.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in("postgres", sql)
    }

    /// Run SQL in database `db` as the superuser; psql's unaligned output
    /// (`|` between columns, a line per row).
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "troop", "-d", db, "-XAtq", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn fastrand_u32() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = self.tool("pg_ctl");
        stop.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
