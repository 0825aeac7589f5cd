//! End-to-end tests of the `tonghop` binary: one test binary (link once), modules by area.

mod access;
mod backup;
mod bench;
mod build;
mod chaos;
mod cluster;
mod dashboard;
mod dhis2;
mod export;
mod export_paths;
mod faults;
mod helpers;
mod hostile;
mod ingest;
mod limits;
mod maintain;
mod models;
mod nightly;
mod plans;
mod readers;
mod reform;
mod s3;
mod serve;
mod soak;
mod sql;
