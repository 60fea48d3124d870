//! A real headless Chromium driven through ChromeDriver, over the W3C
//! WebDriver protocol (<https://www.w3.org/TR/webdriver2/>): a session, and
//! the dozen commands the UI tests use. A client of its own over reqwest
//! (already in every test build) rather than fantoccini, whose `webdriver`
//! crate adds some twenty crates to each test build for the same dozen
//! commands. Debian's `chromium` and `chromium-driver` (installed by
//! deploy/test.sh); `TROOP_CHROMEDRIVER` and `TROOP_CHROMIUM` override the
//! paths.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver: Child,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Start ChromeDriver on a free loopback port and a headless Chromium
    /// session `width` × 900 pixels (below 500, Chromium's narrowest
    /// window, a phone's screen is emulated: `width` × 844).
    pub async fn start(width: u32) -> Browser {
        let port = super::free_port();
        let driver_bin = std::env::var("TROOP_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("TROOP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{driver_bin}: {e} (Debian package chromium-driver; deploy/test.sh installs it)")
            });
        let tls =
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        let http =
            reqwest::Client::builder().tls_backend_preconfigured(tls).timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not answer on {base}");
        let mut b = Browser { http, session: base.clone(), driver };
        let mut options = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={},900", width.max(500)), "--lang=en-US"],
        });
        // a window is at least 500 px wide: a phone's width is emulated
        if width < 500 {
            options["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 1.0}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let v = b.call("POST", "/session", Some(caps)).await.expect("a Chromium session");
        b.session = format!("{base}/session/{}", v["sessionId"].as_str().expect("sessionId"));
        b
    }

    /// One command; its `value`, or the WebDriver error's `error` and
    /// `message`.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        // before the session: ChromeDriver's base; after: the session's URL
        let url = format!("{}{path}", self.session);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
        };
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let ok = resp.status().is_success();
        let v: Value = serde_json::from_slice(&resp.bytes().await.map_err(|e| e.to_string())?)
            .map_err(|e| format!("{method} {path}: not JSON: {e}"))?;
        if ok { Ok(v["value"].clone()) } else { Err(format!("{}: {}", v["value"]["error"], v["value"]["message"])) }
    }

    async fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body).await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.must("GET", "/url", None).await.as_str().unwrap_or_default().to_string()
    }

    /// Wait (up to 10 s) until the current URL contains `part`: a click
    /// that submits a form or follows a link may answer before the new
    /// page has loaded.
    pub async fn wait_url(&self, part: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.contains(part) && self.call("GET", "/title", None).await.is_ok() {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never went to a URL with {part}: still {}", self.url().await)
    }

    /// The first element `css` selects; panics when there is none.
    pub async fn find(&self, css: &str) -> Element {
        let v = self.must("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        Element(v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element for {css}: {v}")).to_string())
    }

    /// Every element `css` selects.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self.must("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str()).map(|s| Element(s.to_string())).collect()
    }

    /// An element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        self.must("GET", &format!("/element/{}/text", e.0), None).await.as_str().unwrap_or_default().to_string()
    }

    /// The whole page's rendered text.
    pub async fn page_text(&self) -> String {
        let body = self.find("body").await;
        self.text(&body).await
    }

    /// A computed CSS property (`background-color` as `rgba(…)`).
    pub async fn css(&self, e: &Element, property: &str) -> String {
        self.must("GET", &format!("/element/{}/css/{property}", e.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.must("GET", &format!("/element/{}/attribute/{name}", e.0), None).await.as_str().map(str::to_string)
    }

    pub async fn click(&self, e: &Element) {
        self.must("POST", &format!("/element/{}/click", e.0), Some(json!({}))).await;
    }

    /// Clear a field and type `text` into it.
    pub async fn fill(&self, e: &Element, text: &str) {
        self.must("POST", &format!("/element/{}/clear", e.0), Some(json!({}))).await;
        self.must("POST", &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).await;
    }

    /// Whether a user prompt (`alert()`) is open: a script ran.
    pub async fn alert_open(&self) -> bool {
        self.call("GET", "/alert/text", None).await.is_ok()
    }

    /// Run `script` in the page (WebDriver's own injection, which the
    /// page's CSP does not govern) and return its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.must("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.must("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// End the session (and the browser), then ChromeDriver.
    pub async fn quit(mut self) {
        let _ = self.call("DELETE", "", None).await;
        // ended: Drop has no session left to end
        self.session.clear();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// A test that panics drops its browser unquit: the session is ended
    /// first (a plain blocking DELETE), so ChromeDriver closes Chromium
    /// rather than leaving it orphaned when ChromeDriver is killed.
    fn drop(&mut self) {
        if let Some(rest) = self.session.strip_prefix("http://")
            && let Some((addr, path)) = rest.split_once('/')
            && let Ok(mut s) = std::net::TcpStream::connect(addr)
        {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(s, "DELETE /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
