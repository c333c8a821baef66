//! Fuzzes the broker end to end: any bytes, taken as a request frame, go through decoding, the
//! real handler of an in-process broker (with its keeper, on loopback, data in a temporary
//! directory; started once per process by `sluice_broker::fuzzing`) and the response encoder,
//! as a connection serves them. No input may panic (in the handler or in any broker task), give a
//! response frame whose size prefix or correlation id is wrong (the harness asserts those), or
//! keep its handler running past the harness's bound although its waits were clamped. Corpus:
//! `fuzz/corpus/serve_request`, seeded with the golden frames of real clients (and reading
//! `fuzz/corpus/decode_request` too). Run with `scripts/fuzz serve_request` (cargo-fuzz, nightly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_broker::fuzzing::{CALL_BOUND_MS, Served, serve_one};

fuzz_target!(|data: &[u8]| {
    if let Served::TimedOut = serve_one(data) {
        panic!("the handler was still running after {CALL_BOUND_MS} ms with its waits clamped");
    }
});
