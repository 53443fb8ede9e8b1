//! Kernel page sizes: an arm64 program whose loadable segments are aligned for 4 KiB pages
//! does not start on a kernel with 16 KiB pages (Raspberry Pi 5's default, Asahi) or 64 KiB
//! pages (NVIDIA Grace, some Ampere and Kunpeng systems); ppc64le distributions run 64 KiB
//! pages, LoongArch 16 KiB. The index cannot say it and running under QEMU's user mode
//! cannot show it (it maps the host's 4 KiB pages): the program headers say it.

use multiarch_platform::Platform;

use super::elf::page_size_name;
use super::userland::PageSize;

/// The page size a fleet's kernels run with, asked for by `--page-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PageSizeNeed(pub u64);

impl std::str::FromStr for PageSizeNeed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text
            .to_ascii_lowercase()
            .trim_end_matches("ib")
            .trim_end_matches('b')
        {
            "4k" | "4096" => Ok(Self(4 << 10)),
            "16k" | "16384" => Ok(Self(16 << 10)),
            "64k" | "65536" => Ok(Self(64 << 10)),
            _ => Err(format!("`{text}` is not a page size: 4k, 16k or 64k")),
        }
    }
}

/// Whether `platform`'s kernels come with pages larger than 4 KiB, so that its programs'
/// page size matters.
pub fn matters_for(platform: &Platform) -> bool {
    matches!(platform.architecture(), "arm64" | "ppc64le" | "loong64")
}

/// What the programs' page size means for `platform`: `None` when it does not matter, else
/// whether it falls short of `need` and the sentence that says so.
pub fn judge(
    platform: &Platform,
    found: Option<&PageSize>,
    need: Option<PageSizeNeed>,
) -> Option<(bool, String)> {
    let found = found.filter(|_| matters_for(platform))?;
    let short = need.is_some_and(|need| found.bytes < need.0);
    let largest = page_size_name(found.bytes);
    let sentence = if found.bytes >= 64 << 10 {
        format!("its programs start on kernels with pages of any size (up to {largest})")
    } else {
        let refused: Vec<String> = super::elf::PAGE_SIZES
            .iter()
            .filter(|p| **p > found.bytes)
            .map(|p| page_size_name(*p))
            .collect();
        format!(
            "its programs start on kernels with pages up to {largest} only: `{}` is aligned for no larger, so it does not start with {} pages{}",
            found.limited_by,
            refused.join(" or "),
            if platform.architecture() == "arm64" {
                " (Raspberry Pi 5's default kernel, Asahi, NVIDIA Grace)"
            } else {
                ""
            }
        )
    };
    Some((short, sentence))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: u64) -> PageSize {
        PageSize {
            bytes,
            limited_by: "/app".into(),
        }
    }

    #[test]
    fn a_4k_arm64_program_is_named_and_fails_only_when_16k_is_asked_for() {
        let arm64 = Platform::linux_arm64();
        let (short, sentence) = judge(&arm64, Some(&page(4096)), None).unwrap();
        assert!(!short);
        assert!(sentence.contains("up to 4 KiB only") && sentence.contains("16 KiB or 64 KiB"));
        let (short, _) = judge(&arm64, Some(&page(4096)), Some("16k".parse().unwrap())).unwrap();
        assert!(short);
        let (short, sentence) =
            judge(&arm64, Some(&page(65536)), Some("64k".parse().unwrap())).unwrap();
        assert!(!short && sentence.contains("any size"));
        assert_eq!(
            judge(&Platform::linux_amd64(), Some(&page(4096)), None),
            None
        );
        assert!("2k".parse::<PageSizeNeed>().is_err());
        assert_eq!("64KiB".parse::<PageSizeNeed>(), Ok(PageSizeNeed(65536)));
    }
}
