//! Any bytes as a phone's zip outbox (Iaso's bulk upload): unpacked within the bound, or refused
//! with a message; a panic, or more bytes than the bound, is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

const BOUND: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(files) = hygeia_formats::archive::unpack_zip("outbox.zip", data, BOUND) {
        assert!(files.values().map(|bytes| bytes.len() as u64).sum::<u64>() <= BOUND);
    }
});
