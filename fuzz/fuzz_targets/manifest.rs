//! The index/manifest reader never panics on bytes from a registry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use multiarch::oci::index::{Manifest, entries, platforms};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(Manifest::Index(index)) = Manifest::parse(bytes) {
        let listed = entries(&index);
        let _ = platforms(&listed);
        for entry in &listed {
            let _ = entry.label();
        }
    }
});
