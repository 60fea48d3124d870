//! The moto AWS emulator, one per test, on a free loopback port.
//!
//! `deploy/test.sh` installs the pinned `moto[server]` into a venv and exports
//! TROOP_MOTO_SERVER; without it, `moto_server` must be on PATH.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub addr: String,
}

fn server_binary() -> String {
    std::env::var("TROOP_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string())
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Start with extra environment, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`
    /// to make moto check credentials.
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let bin = server_binary();
        for attempt in 0..3 {
            let port = super::free_port();
            let addr = format!("127.0.0.1:{port}");
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let child = cmd.spawn().unwrap_or_else(|e| {
                panic!("cannot start `{bin}` ({e}): run deploy/test.sh, which installs the emulator, or set TROOP_MOTO_SERVER")
            });
            let mut moto = Moto { child, endpoint: format!("http://{addr}"), addr };
            if moto.wait_ready(Duration::from_secs(30)) {
                return moto;
            }
            eprintln!("moto did not come up on {} (attempt {attempt}); retrying", moto.addr);
        }
        panic!("moto_server did not start");
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok((200, _)) = super::http_get(&self.addr, "/moto-api/") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// An SDK config for seeding the emulator (region us-east-1 unless given).
    pub async fn sdk(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(troop_monkeys::aws::http_client())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    pub async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk(region).await)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
