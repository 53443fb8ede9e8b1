//! The image reference parser never panics, and what it accepts prints back to a
//! reference that parses to the same parts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(reference) = multiarch::oci::reference::parse(text) {
        let again =
            multiarch::oci::reference::parse(&reference.whole()).expect("a printed reference parses");
        assert_eq!(again.whole(), reference.whole());
    }
});
