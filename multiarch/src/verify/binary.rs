//! Whether one ELF binary runs on the CPU a platform promises: the header's machine,
//! class and byte order, then the level the binary needs where the platform has levels
//! (ARM's v5/v6/v7, x86-64's v1..v4).

use multiarch_platform::Platform;

use super::Check;
use super::arm::ArmLevel;
use super::elf::ElfIdent;
use super::x86::IsaLevel;

/// Judges the whole file at `path` (its level notes lie past the header) against
/// `platform`: a [`Check::Pass`] says what it is, a [`Check::Fail`] why it cannot run there.
pub(crate) fn judge(path: &str, file: &[u8], platform: &Platform) -> Check {
    let ident = match ElfIdent::parse(file) {
        Ok(ident) => ident,
        Err(e) => return Check::Fail(format!("`{path}` is {e}")),
    };
    let header = judge_header(path, ident, platform);
    if !matches!(header, Check::Pass(_)) {
        return header;
    }
    let mut detail = format!("{path}: {}", ident.describe());
    match (platform.architecture(), platform.variant()) {
        ("arm", Some(variant)) => match ArmLevel::of_elf(file) {
            Ok(Some(level)) if level.runs_on(variant) => {
                detail += &format!(", {}", level.describe())
            }
            Ok(Some(level)) => {
                return Check::Fail(format!(
                    "{path} is {} code, which an ARM{variant} CPU cannot run (Tag_CPU_arch {})",
                    level.describe(),
                    level.arch_name()
                ));
            }
            Ok(None) => detail += "; it has no EABI attributes, so its ARM level is not known",
            Err(e) => {
                return Check::Fail(format!("`{path}`: its ARM attributes cannot be read: {e}"));
            }
        },
        ("amd64", variant) => match IsaLevel::of_elf(file) {
            Ok(Some(needed)) if needed <= IsaLevel::of_variant(variant) => {
                detail += &format!(", needs {}", needed.describe());
            }
            Ok(Some(needed)) => {
                return Check::Fail(format!(
                    "{path} needs an {} CPU, more than {platform} promises ({})",
                    needed.describe(),
                    IsaLevel::of_variant(variant).describe()
                ));
            }
            // Most binaries carry no level note; only a variant slot makes that worth saying.
            Ok(None) if variant.is_some() => {
                detail += "; it has no x86 ISA-level note, so its level is not known";
            }
            Ok(None) => {}
            Err(e) => {
                return Check::Fail(format!("`{path}`: its property note cannot be read: {e}"));
            }
        },
        _ => {}
    }
    Check::Pass(detail)
}

/// The header alone: machine, class and byte order.
pub(crate) fn judge_header(path: &str, ident: ElfIdent, platform: &Platform) -> Check {
    match ElfIdent::expected_for(platform) {
        Some(expected) if expected == ident => Check::Pass(format!("{path}: {}", ident.describe())),
        Some(_) => Check::Fail(format!(
            "{path} is {}{}, not a {platform} binary",
            ident.describe(),
            ident
                .architecture()
                .map(|a| format!(" (a linux/{a} binary)"))
                .unwrap_or_default()
        )),
        None => Check::Skipped(format!(
            "{path}: {} (no ELF rule for {platform})",
            ident.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_an_elf_header_against_a_platform() {
        let amd64 = ElfIdent::expected_for(&Platform::linux_amd64()).unwrap();
        assert_eq!(
            judge_header("/app", amd64, &Platform::linux_amd64()),
            Check::Pass("/app: x86-64, 64-bit, little-endian".into())
        );
        assert_eq!(
            judge_header("/app", amd64, &Platform::linux_arm64()),
            Check::Fail(
                "/app is x86-64, 64-bit, little-endian (a linux/amd64 binary), not a linux/arm64 binary".into()
            )
        );
    }

    #[test]
    fn the_test_binary_fits_its_own_platform_and_no_other() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let here = Platform::from_machine(std::env::consts::ARCH).unwrap();
        assert!(matches!(judge("/t", &bytes, &here), Check::Pass(_)));
        let other = if here.architecture() == "s390x" {
            Platform::linux_amd64()
        } else {
            "linux/s390x".parse().unwrap()
        };
        assert!(judge("/t", &bytes, &other).failed());
        assert!(judge("/t", b"#!/bin/sh\n", &here).failed());
    }
}
