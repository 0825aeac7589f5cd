//! `tonghop ingest`: submissions from files or a folder into the lake, and the refused rows back to
//! their sender as a file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tonghop_lake::Lake;

use crate::Loaded;

/// The flags of `tonghop ingest`.
#[derive(clap::Args)]
pub(crate) struct IngestArgs {
    /// Files, or one folder / file:// / s3:// URL.
    #[arg(required = true)]
    pub(crate) sources: Vec<String>,
    /// Force a format: csv, xlsx-long, xlsx-form, json, dhis2-json, dhis2-csv, adx.
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Force a text encoding (utf-8, utf-16le, windows-1258, ...).
    #[arg(long)]
    pub(crate) encoding: Option<String>,
    /// DHIS2 id-scheme mapping file (CSV kind,dhis2,tonghop).
    #[arg(long)]
    pub(crate) mapping: Option<String>,
    /// Refuse a whole file when any of its rows is refused.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Where committed files of a folder go (default: archive/ beside it).
    #[arg(long)]
    pub(crate) archive: Option<String>,
    /// Where unreadable files of a folder go (default: failed/ beside it).
    #[arg(long)]
    pub(crate) failed: Option<String>,
    /// Leave the files where they are.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Write the refused rows of the ingested files to this file (.csv or .xlsx), for the sender.
    #[arg(long)]
    pub(crate) rejections: Option<PathBuf>,
    /// Rows per commit (memory bound; smaller commits are slower).
    #[arg(long, default_value_t = 500_000, hide = true)]
    pub(crate) commit_rows: usize,
}

/// Ingests the sources, printing a summary per inbox, then writes the refused rows if asked.
pub(crate) async fn run(ctx: &Loaded, lake: &str, args: IngestArgs) -> Result<()> {
    let IngestArgs { sources, format, encoding, mapping, strict, archive, failed, keep, rejections, commit_rows } = args;
    let lake = Lake::open(lake)?;
    let ingestor = tonghop_ingest::Ingestor::new(lake.clone(), ctx.registry.clone(), ctx.catalog.clone(), crate::today());
    // On the command line, a mapping path is relative to the working directory.
    let mapping = mapping.map(|m| std::path::absolute(&m).map(|p| p.display().to_string())).transpose()?;
    let files: Vec<&String> = sources.iter().filter(|s| !s.contains("://") && std::path::Path::new(s).is_file()).collect();
    let config = |source: String, keep: bool| tonghop_ingest::InboxConfig {
        source,
        archive: archive.clone(),
        failed: failed.clone(),
        keep,
        mapping: mapping.clone(),
        format: format.clone(),
        encoding: encoding.clone(),
        strict,
    };
    // Single files: ingest each from its folder, leaving it there unless --archive/--failed say.
    let mut runs = Vec::new();
    if files.len() == sources.len() {
        let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
        for f in &files {
            let path = std::path::absolute(f)?;
            let dir = path.parent().context("a file has a folder")?.to_path_buf();
            by_dir.entry(dir).or_default().push(path.file_name().context("file name")?.to_string_lossy().into_owned());
        }
        for (dir, names) in by_dir {
            let keep = keep || (archive.is_none() && failed.is_none());
            let (inbox, mut options) = config(dir.display().to_string(), keep).resolve(ctx.project.root())?;
            options.only = Some(names);
            runs.push((inbox, options));
        }
    } else if sources.len() == 1 {
        runs.push(config(sources[0].clone(), keep).resolve(ctx.project.root())?);
    } else {
        bail!("give either files, or one folder / URL");
    }
    let mut ids = Vec::new();
    for (inbox, mut options) in runs {
        options.commit_rows = commit_rows;
        let bar = crate::progress_bar(None, "files");
        let s = ingestor.ingest(&inbox, &options, &|n| bar.inc(n)).await?;
        bar.finish_and_clear();
        crate::output::print_ingest_summary(&s);
        ids.extend(s.files.iter().map(|f| f.submission_id.clone()));
    }
    if let Some(path) = rejections {
        let engine = crate::open_read(ctx, &lake).await?;
        let list = tonghop_core::sql::literal_list(&ids);
        let batches = engine
            .query(&format!(
                "SELECT source, location, field, value, reason, message_vi, message_en FROM rejections \
                 WHERE submission_id IN ({}) ORDER BY source, row, location",
                if list.is_empty() { "''".to_string() } else { list }
            ))
            .await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let bytes = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
            let spec = tonghop_export::SheetSpec::new("Dòng bị từ chối")
                .with_title("DANH SÁCH SỐ LIỆU BỊ TỪ CHỐI")
                .with_subtitle(format!("Lập ngày {} · hãy sửa các dòng dưới đây và gửi lại", crate::today().format("%d/%m/%Y")))
                .with_headers([
                    ("source", "Tệp"),
                    ("location", "Vị trí"),
                    ("field", "Cột"),
                    ("value", "Giá trị"),
                    ("reason", "Mã lỗi"),
                    ("message_vi", "Lý do"),
                    ("message_en", "Reason (English)"),
                ]);
            tonghop_export::to_xlsx(&batches, &spec)?
        } else {
            tonghop_export::to_csv(&batches)?
        };
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{rows} refused row(s) written to {}", path.display());
    }
    Ok(())
}
