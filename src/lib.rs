//! The root package of the Sluice workspace.
//!
//! It ships no code of its own: it exists so that tests and benchmarks that span several
//! crates (or, later, several processes) have a home in `tests/` and `benches/`. The server
//! lives in `crates/`; see `ARCHITECTURE.md` in the shared folder for the map.
