//! A tonghop project folder: the editable files a province keeps under version control.
//!
//! ```text
//! catalog/    data_elements.csv, indicators.csv, targets.csv
//! reference/  admin-units/ (vendored unit lists and mapping), holidays/
//! sql/        the SQL models, one view per file
//! pipelines/  pipeline specs
//! ```

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The root of a project folder.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// A project rooted at `root`; checks that the folders tonghop reads exist.
    pub fn open(root: impl Into<PathBuf>) -> Result<Project> {
        let project = Project { root: root.into() };
        for part in [project.catalog_dir(), project.reference_dir(), project.sql_dir()] {
            if !part.is_dir() {
                return Err(Error::MissingProjectPart { path: part });
            }
        }
        Ok(project)
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `catalog/`: data elements, indicators, targets.
    pub fn catalog_dir(&self) -> PathBuf {
        self.root.join("catalog")
    }

    /// `reference/`: administrative units and holidays.
    pub fn reference_dir(&self) -> PathBuf {
        self.root.join("reference")
    }

    /// `sql/`: the models.
    pub fn sql_dir(&self) -> PathBuf {
        self.root.join("sql")
    }

    /// Every pipeline spec, `pipelines/*.toml`, in name order (none when the folder is missing).
    pub fn pipeline_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root.join("pipelines"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}
