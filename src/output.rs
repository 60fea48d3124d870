//! Tables for humans; JSON for scripts (a single array on stdout).
//! Tables fit the terminal (`--wide` for everything) and colour severities
//! on a terminal unless `NO_COLOR` is set (<https://no-color.org>).

use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// How this process writes for humans: decided once, from the flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct Term {
    /// Columns to fit tables in; `None` = no limit.
    pub width: Option<usize>,
    pub color: bool,
}

static TERM: OnceLock<Term> = OnceLock::new();

/// `NO_COLOR` set to anything but the empty string turns colour off.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Decide width and colour: `--wide` = no limit, else `COLUMNS`, else the
/// terminal's width when stdout is one; colour `always`, `never`, or on a
/// terminal unless `NO_COLOR`.
pub fn init(wide: bool, color: crate::cli::ColorArg) {
    let tty = std::io::stdout().is_terminal();
    let width = if wide {
        None
    } else {
        std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|w| *w > 0).or_else(|| {
            tty.then(terminal_size::terminal_size).flatten().map(|(terminal_size::Width(w), _)| usize::from(w))
        })
    };
    let color = match color {
        crate::cli::ColorArg::Always => true,
        crate::cli::ColorArg::Never => false,
        crate::cli::ColorArg::Auto => tty && !no_color(),
    };
    let _ = TERM.set(Term { width, color });
}

pub fn term() -> Term {
    TERM.get().copied().unwrap_or_default()
}

fn style_of(header: &str, cell: &str) -> Option<anstyle::Style> {
    use anstyle::{AnsiColor, Style};
    match (header, cell) {
        ("SEVERITY", "critical") => Some(Style::new().fg_color(Some(AnsiColor::Red.into())).bold()),
        ("SEVERITY", "warning") => Some(Style::new().fg_color(Some(AnsiColor::Yellow.into()))),
        ("SEVERITY", "info") => Some(Style::new().dimmed()),
        _ => None,
    }
}

/// A diff line, coloured on a colour terminal (`+` green, `-` red, `@@` cyan).
pub fn diff_line(line: &str) -> String {
    use anstyle::{AnsiColor, Style};
    if !term().color {
        return line.to_string();
    }
    let style = if line.starts_with("+++") || line.starts_with("---") {
        Style::new().bold()
    } else if line.starts_with('+') {
        Style::new().fg_color(Some(AnsiColor::Green.into()))
    } else if line.starts_with('-') {
        Style::new().fg_color(Some(AnsiColor::Red.into()))
    } else if line.starts_with("@@") {
        Style::new().fg_color(Some(AnsiColor::Cyan.into()))
    } else {
        return line.to_string();
    };
    format!("{style}{line}{style:#}")
}

/// `s` safe for a terminal: every C0/C1 control character (escape sequences
/// that clear the screen or set a window title, carriage returns that
/// overwrite a line) becomes `�`, tabs and newlines a space. What AWS, a TLS
/// peer or a receiver sends reaches a human only through this.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    troop_core::clean_controls(s)
}

/// `s` cut to `w` characters, the last one an ellipsis when cut.
fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Column widths that fit `limit`: the widest column gives way first, down
/// to a floor of 8 characters (or its header), so every column stays readable.
pub fn fit(mut widths: Vec<usize>, headers: &[&str], limit: Option<usize>) -> Vec<usize> {
    let Some(limit) = limit else { return widths };
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(&widths) > limit {
        let floor = |i: usize| headers[i].chars().count().max(8);
        let Some((i, _)) = widths.iter().enumerate().filter(|(i, w)| **w > floor(*i)).max_by_key(|(_, w)| **w) else {
            break; // nothing left to give
        };
        let over = total(&widths) - limit;
        widths[i] = widths[i].saturating_sub(over).max(floor(i));
    }
    widths
}

/// Print `rows` under `headers`, columns padded to their widest cell and
/// fit to the terminal ([`term`]). The last column is never padded (it
/// usually holds free text).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let t = term();
    render(headers, rows, t.width, t.color)
}

fn render(headers: &[&str], rows: &[Vec<String>], width: Option<usize>, color: bool) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| clean(c).into_owned()).collect()).collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let widths = fit(widths, headers, width);
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>, is_header: bool| {
        let cells: Vec<String> = cells.collect();
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            let c = cut(&c, widths[i]);
            let styled = match style_of(headers[i], &c).filter(|_| color && !is_header) {
                Some(st) => format!("{st}{c}{st:#}"),
                None => c.clone(),
            };
            out.push_str(&styled);
            if i + 1 < n {
                let pad = widths[i] - c.chars().count();
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(&mut headers.iter().map(|h| h.to_string()), true);
    for r in rows {
        line(&mut r.iter().cloned(), false);
    }
    out
}

pub fn print_json<T: Serialize>(items: &[T]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, items)?;
    writeln!(out)?;
    Ok(())
}

/// A listing: JSON array of `rows` for scripts, else a table of `cells` of
/// each row under `headers` (and `empty` on stderr when there are none).
pub fn list<T: Serialize>(
    format: crate::cli::Format,
    rows: &[T],
    headers: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
    empty: &str,
) -> anyhow::Result<()> {
    if format == crate::cli::Format::Json {
        return print_json(rows);
    }
    let cells: Vec<Vec<String>> = rows.iter().map(cells).collect();
    print!("{}", table(headers, &cells));
    if rows.is_empty() && !empty.is_empty() {
        eprintln!("{empty}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_all_but_the_last_column() {
        let t = super::render(&["A", "BB", "C"], &[vec!["xxx".into(), "y".into(), "free text".into()]], None, false);
        assert_eq!(t, "A    BB  C\nxxx  y   free text\n");
    }

    #[test]
    fn fits_the_width_by_cutting_the_widest_column() {
        let rows = vec![vec!["critical".into(), "x".repeat(50), "a long free-text title of the finding".into()]];
        let t = super::render(&["SEVERITY", "RESOURCE", "TITLE"], &rows, Some(60), false);
        for line in t.lines() {
            assert!(line.chars().count() <= 60, "{line:?} is {} wide", line.chars().count());
        }
        assert!(t.contains('…'), "{t}");
        // nothing to cut: unchanged
        assert_eq!(super::fit(vec![3, 4], &["A", "B"], Some(80)), vec![3, 4]);
        // a width too small for the floors stops at the floors
        assert_eq!(super::fit(vec![30, 30], &["A", "B"], Some(5)), vec![8, 8]);
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "CN=evil\x1b[2J\x1b]0;owned\x07\r\u{9b}31m";
        let t = super::render(&["SUBJECT"], &[vec![hostile.into()]], None, false);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(t.contains("CN=evil"), "{t:?}");
        assert_eq!(super::clean("plain"), "plain");
        assert_eq!(super::clean("a\nb\tc"), "a b c");
    }

    #[test]
    fn colours_severities_only_when_asked() {
        let rows = vec![vec!["critical".into(), "x".into()]];
        let plain = super::render(&["SEVERITY", "T"], &rows, None, false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let coloured = super::render(&["SEVERITY", "T"], &rows, None, true);
        assert!(coloured.contains("\x1b[") && coloured.contains("critical"), "{coloured:?}");
        // padding counts the text, not the escape codes
        assert_eq!(coloured.lines().nth(1).map(|l| l.ends_with("critical\x1b[0m  x")), Some(true), "{coloured:?}");
    }
}
