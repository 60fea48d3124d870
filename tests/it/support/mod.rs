//! Test support: the AWS emulator, a scratch workspace with a config, and a
//! runner for the built binary.

pub mod alertmanager;
pub mod cloudtrail;
pub mod dns;
pub mod json_fake;
pub mod moto;
pub mod policy;
pub mod proxy;
pub mod receiver;
pub mod servicequotas;
pub mod smtp;
pub mod tls;
pub mod webdriver;

pub use moto::Moto;
pub use server::Server;

mod server {
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A server program on a loopback port, in its own scratch directory,
    /// killed on drop.
    pub struct Server {
        child: Child,
        pub addr: String,
        pub dir: tempfile::TempDir,
    }

    impl Server {
        /// Start `command(addr, dir)` and wait until `ready(addr)`. A port can
        /// be taken between the probe and the server's bind: then again on
        /// another. A server that exits or never gets ready fails the test
        /// with its stderr.
        pub fn spawn(what: &str, command: impl Fn(&str, &Path) -> Command, ready: impl Fn(&str) -> bool) -> Server {
            for _attempt in 0..3 {
                let addr = format!("127.0.0.1:{}", super::free_port());
                let dir = tempfile::tempdir().unwrap();
                let log = dir.path().join("stderr");
                let mut child = command(&addr, dir.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {what} ({e}): run deploy/test.sh, which installs it"));
                let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
                let start = Instant::now();
                let mut exited = None;
                while start.elapsed() < Duration::from_secs(60) {
                    if ready(&addr) {
                        return Server { child, addr, dir };
                    }
                    if let Ok(Some(status)) = child.try_wait() {
                        exited = Some(status);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                match exited {
                    Some(_) if stderr().contains("already in use") => continue,
                    Some(status) => panic!("{what} on {addr} exited ({status}):\n{}", stderr()),
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("{what} was not ready on {addr} within 60 s:\n{}", stderr());
                    }
                }
            }
            panic!("{what} found no free port in three tries");
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The troop binary cargo built for these tests.
pub fn troop_bin() -> &'static str {
    env!("CARGO_BIN_EXE_troop")
}

/// Which store backend a workspace's config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A throw-away cluster of its own (Debian's `postgresql`).
    Postgres,
}

/// A scratch directory holding `troop.toml` and the store (a SQLite file in
/// it, or a PostgreSQL database on the workspace's own cluster).
pub struct Workspace {
    pub dir: tempfile::TempDir,
    /// The `[agent] store` URL.
    pub store_url: String,
    /// Dropped after `dir`'s users: the cluster of a PostgreSQL workspace.
    pub pg: Option<troop_store::testing::PgCluster>,
}

impl Workspace {
    /// A workspace whose `troop.toml` is `config`, the security monkey's
    /// technologies defaulting to [`TECHNOLOGIES`].
    pub fn new(config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = with_default_technologies(config);
        std::fs::write(dir.path().join("troop.toml"), config).expect("write config");
        let store_url = format!("sqlite://{}", dir.path().join("troop.db").display());
        Workspace { dir, store_url, pg: None }
    }

    /// Replace `troop.toml` (technologies defaulted as in [`Self::new`]).
    pub fn write_config(&self, config: &str) {
        std::fs::write(self.file("troop.toml"), with_default_technologies(config)).expect("write config");
    }

    /// A config reading only the security monkey from `endpoint`.
    pub fn for_emulator(endpoint: &str, extra: &str) -> Workspace {
        Workspace::for_emulator_on(Backend::Sqlite, endpoint, extra)
    }

    /// As [`Self::for_emulator`], its store on `backend`.
    pub fn for_emulator_on(backend: Backend, endpoint: &str, extra: &str) -> Workspace {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(troop_store::testing::PgCluster::start().expect("a PostgreSQL cluster")),
        };
        let url = match &pg {
            Some(c) => c.fresh_db().expect("a database"),
            None => "sqlite://troop.db".into(),
        };
        let mut ws = Workspace::new(&format!(
            r#"
[agent]
store = "{url}"
[aws]
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{endpoint}"
[monkeys.certs]
enabled = false
[monkeys.limits]
enabled = false
[[alerts.sinks]]
name = "log"
type = "jsonl"
path = "events.jsonl"
{extra}
"#
        ));
        if pg.is_some() {
            ws.store_url = url;
        }
        ws.pg = pg;
        ws
    }

    /// `troop ARGS` with the first shard commit's transaction held open
    /// (`TROOP_FAULT_COMMIT_DELAY_MS`), killed with SIGKILL right there;
    /// the fault injection's line.
    pub fn kill_mid_commit(&self, args: &[&str]) -> String {
        let mut child = self
            .cmd(args)
            .env("TROOP_FAULT_COMMIT_DELAY_MS", "60000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let marker = await_stderr_line(
            &mut child,
            "fault injection",
            std::time::Duration::from_secs(60),
            "the scan never reached its commit",
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        marker
    }

    /// Run `f` on the workspace's store (whichever backend), on a thread of
    /// its own: the store is synchronous and may not block a runtime's.
    pub fn store<T: Send>(&self, f: impl FnOnce(&dyn troop_core::store::Backend) -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let store = troop_store::open(&self.store_url, None).expect("open store");
                f(&*store)
            })
            .join()
            .expect("store call")
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> troop_store::SqliteStore {
        troop_store::SqliteStore::open(self.file("troop.db").to_str().unwrap()).expect("open store")
    }

    /// `troop ARGS` in this workspace with a clean, emulator-friendly environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(troop_bin());
        c.args(args).current_dir(self.path()).stdin(Stdio::null());
        clean_env(&mut c, self.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd(args).output().expect("run troop");
        Run::from(out)
    }

    /// The rows of `troop ARGS --format json`, which must succeed.
    pub fn rows(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        let r = self.run(&a);
        r.assert_code(0);
        r.json().as_array().expect("a JSON array").clone()
    }
}

/// What the security monkey records in a test workspace unless the test says
/// otherwise: every technology but three whose emulated state is never
/// clean, so every scan would raise their findings beside the ones a test is
/// about: the account's posture (moto's root user has no MFA and none can be
/// added), network ACLs (each default VPC's allows all traffic, as in AWS)
/// and trails (attribution tests send CloudTrail to a fake that serves
/// LookupEvents only); and two that are slow there: EBS snapshots and AMIs
/// (moto answers `OwnerIds=self` with its 1,177 default snapshots of other
/// owners, which troop reads and drops, in every region of every account).
/// Their own tests name them.
pub const TECHNOLOGIES: &str = r#"technologies = ["ec2:security-group", "iam", "s3", "kms", "sqs", "sns", "lambda", "ecr", "secretsmanager", "elbv2"]"#;

/// `config` with [`TECHNOLOGIES`] in its `[monkeys.security]` table (added
/// when it has none) when it reads AWS (an `[aws]` table or `endpoint_url`)
/// and names no technologies of its own.
fn with_default_technologies(config: &str) -> String {
    if config.contains("technologies =") || !(config.contains("endpoint_url") || config.contains("[aws]")) {
        config.to_string()
    } else if config.contains("[monkeys.security]\n") {
        config.replacen("[monkeys.security]\n", &format!("[monkeys.security]\n{TECHNOLOGIES}\n"), 1)
    } else {
        format!("{config}\n[monkeys.security]\n{TECHNOLOGIES}\n")
    }
}

/// A `--since` after everything recorded so far (times are kept to the second).
pub fn after_now() -> String {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    troop_core::clock::rfc3339(time::OffsetDateTime::now_utc())
}

/// Only the variables a test means to set: dummy credentials, no instance
/// metadata, no profile files, no ambient endpoint or region.
pub fn clean_env(c: &mut Command, home: &Path) {
    for v in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "TROOP_LOG",
        "TROOP_CONFIG",
        "RUST_LOG",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        c.env_remove(v);
    }
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-aws-credentials"))
        .env("HOME", home);
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A plain HTTP/1.0 GET against loopback; (status, body). No client crate needed.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// Take the child's piped stderr and wait until a line containing `needle`
/// appears (the rest of stderr keeps draining in the background). Panics with
/// `what` after `limit`.
pub fn await_stderr_line(
    child: &mut std::process::Child,
    needle: &'static str,
    limit: std::time::Duration,
    what: &str,
) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr must be piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(needle) {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what}"))
}

/// Poll `f` every 100 ms until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// An ingress rule: tcp/`port` from 0.0.0.0/0.
/// A new VPC (`cidr`) holding security group `name` open to the world on
/// `port`: the group's id.
pub async fn world_open_group(ec2: &aws_sdk_ec2::Client, cidr: &str, name: &str, port: i32) -> String {
    let vpc = ec2.create_vpc().cidr_block(cidr).send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let g = ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap();
    let g = g.group_id.unwrap();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(world_ingress(port)).send().await.unwrap();
    g
}

pub fn world_ingress(port: i32) -> aws_sdk_ec2::types::IpPermission {
    aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}
