//! The platform parser never panics, and what it accepts prints back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use multiarch_platform::{Platform, parse_platform_list};

fuzz_target!(|text: &str| {
    if let Ok(platform) = text.parse::<Platform>() {
        let again: Platform = platform
            .to_string()
            .parse()
            .expect("a printed platform parses");
        assert_eq!(again, platform);
    }
    let _ = parse_platform_list(text);
    let _ = Platform::from_machine(text);
});
