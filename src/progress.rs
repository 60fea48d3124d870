//! A one-line progress indicator for interactive scans (stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;
use troop_core::monkey::Progress;

pub struct TermProgress {
    start: Instant,
    shown: Mutex<bool>,
}

impl TermProgress {
    /// `Some` only when stderr is a terminal.
    pub fn detect() -> Option<TermProgress> {
        std::io::stderr().is_terminal().then(|| TermProgress { start: Instant::now(), shown: Mutex::new(false) })
    }

    pub fn clear(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if *shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            *shown = false;
        }
    }
}

impl Progress for TermProgress {
    fn update(&self, monkey: &str, message: &str) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        eprint!("\r\x1b[2K[{:>5.1}s] {monkey}: {message}", self.start.elapsed().as_secs_f64());
        let _ = std::io::stderr().flush();
        *shown = true;
    }
}
