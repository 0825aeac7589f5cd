//! What the CLI prints: query results as a table, CSV or JSON, and ingest summaries.

use anyhow::Result;
use arrow::array::RecordBatch;

/// How `tonghop sql` prints rows.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
}

pub(crate) fn print_ingest_summary(s: &tonghop_ingest::IngestSummary) {
    println!("{}", s.one_line());
    if s.files.len() <= 30 {
        for f in &s.files {
            let reasons: Vec<String> = f.by_reason.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let mut line = format!("  {} [{}] {}: {} accepted, {} rejected", f.source, f.format, f.status, f.accepted, f.rejected);
            if !reasons.is_empty() {
                line.push_str(&format!(" ({})", reasons.join(", ")));
            }
            if let Some(e) = &f.error {
                line.push_str(&format!("; error: {e}"));
            }
            if let Some(to) = &f.moved_to {
                line.push_str(&format!("; moved to {to}"));
            }
            println!("{line}");
        }
    }
    for (reason, n) in &s.rejected_by_reason {
        println!("  {reason}: {n}");
    }
}

pub(crate) fn print_batches(batches: &[RecordBatch], format: Format) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?,
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}
