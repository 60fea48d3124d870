//! The moto AWS emulator, one per test, on a free loopback port.
//!
//! `deploy/test.sh` installs the pinned `moto[server]` into a venv and exports
//! TROOP_MOTO_SERVER; without it, `moto_server` must be on PATH.

use std::process::Command;

pub struct Moto {
    _server: super::Server,
    pub endpoint: String,
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
        let server = super::Server::spawn(
            &format!("`{bin}` (the emulator; or set TROOP_MOTO_SERVER)"),
            |addr, _| {
                let port = addr.rsplit(':').next().unwrap();
                let mut c = Command::new(&bin);
                c.args(["-H", "127.0.0.1", "-p", port]).envs(env.iter().copied());
                c
            },
            |addr| matches!(super::http_get(addr, "/moto-api/"), Ok((200, _))),
        );
        let endpoint = format!("http://{}", server.addr);
        Moto { _server: server, endpoint }
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

    /// S3 Control with troop's own endpoint resolver (the override as given).
    pub async fn s3control(&self) -> aws_sdk_s3control::Client {
        let sdk = self.sdk("us-east-1").await;
        aws_sdk_s3control::Client::from_conf(
            aws_sdk_s3control::config::Builder::from(&sdk)
                .endpoint_resolver(troop_monkeys::aws::S3ControlEndpoint::default())
                .build(),
        )
    }

    pub async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk(region).await)
    }
}
