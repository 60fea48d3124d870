//! Tables for humans; JSON for scripts (a single array on stdout).

use serde::Serialize;
use std::io::Write;

/// Print `rows` under `headers`, columns padded to their widest cell.
/// The last column is never padded (it usually holds free text).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.collect();
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                out.push_str(&c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push('\n');
    };
    line(&mut headers.iter().map(|h| h.to_string()));
    for r in rows {
        line(&mut r.iter().cloned());
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
        let t = super::table(&["A", "BB", "C"], &[vec!["xxx".into(), "y".into(), "free text".into()]]);
        assert_eq!(t, "A    BB  C\nxxx  y   free text\n");
    }
}
