//! What an ELF binary was compiled for, and whether that fits a platform.
//!
//! The classic multi-arch failure is an index entry labelled `linux/arm64` that holds an
//! x86-64 binary (a `COPY` of the wrong build output, a missing `--platform`). The
//! header says so in its first 20 bytes, without running anything.

use goblin::elf::header::{self, Header};
use serde::Serialize;

use multiarch_platform::Platform;

/// The facts of an ELF header that decide where a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ElfIdent {
    /// `e_machine`: 62 is x86-64, 183 is AArch64.
    pub machine: u16,
    /// 32 or 64.
    pub bits: u8,
    /// Little-endian?
    pub little_endian: bool,
}

/// Why bytes are not an ELF header this tool can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file starts with `#!`: a script, not a binary.
    #[error("a script (`{0}`), not an ELF binary")]
    Script(String),
    /// Anything else.
    #[error("not an ELF binary: {0}")]
    NotElf(String),
}

impl ElfIdent {
    /// Reads the header at the start of `bytes`.
    ///
    /// # Errors
    /// [`ElfError::Script`] for `#!` files, [`ElfError::NotElf`] otherwise.
    pub fn parse(bytes: &[u8]) -> Result<Self, ElfError> {
        if let Some(rest) = bytes.strip_prefix(b"#!") {
            let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
            return Err(ElfError::Script(
                String::from_utf8_lossy(line).trim().to_string(),
            ));
        }
        if bytes.len() < header::SIZEOF_IDENT || &bytes[..header::SELFMAG] != header::ELFMAG {
            return Err(ElfError::NotElf("no ELF magic number".into()));
        }
        let header: Header =
            goblin::elf::Elf::parse_header(bytes).map_err(|e| ElfError::NotElf(e.to_string()))?;
        Ok(Self {
            machine: header.e_machine,
            bits: if header.e_ident[header::EI_CLASS] == header::ELFCLASS64 {
                64
            } else {
                32
            },
            little_endian: header.e_ident[header::EI_DATA] == header::ELFDATA2LSB,
        })
    }

    /// What a binary for `platform` looks like, for the platforms this tool knows.
    pub(crate) fn expected_for(platform: &Platform) -> Option<Self> {
        let (machine, bits, little_endian) = match platform.architecture() {
            "amd64" => (header::EM_X86_64, 64, true),
            "arm64" => (header::EM_AARCH64, 64, true),
            "arm" => (header::EM_ARM, 32, true),
            "386" => (header::EM_386, 32, true),
            "ppc64le" => (header::EM_PPC64, 64, true),
            "s390x" => (header::EM_S390, 64, false),
            "riscv64" => (header::EM_RISCV, 64, true),
            "mips64le" => (header::EM_MIPS, 64, true),
            "loong64" => (header::EM_LOONGARCH, 64, true),
            _ => return None,
        };
        Some(Self {
            machine,
            bits,
            little_endian,
        })
    }

    /// The platform architecture this binary runs on natively, if known.
    pub fn architecture(&self) -> Option<&'static str> {
        Some(match (self.machine, self.bits, self.little_endian) {
            (header::EM_X86_64, 64, true) => "amd64",
            (header::EM_AARCH64, 64, true) => "arm64",
            (header::EM_ARM, 32, true) => "arm",
            (header::EM_386, 32, true) => "386",
            (header::EM_PPC64, 64, true) => "ppc64le",
            (header::EM_S390, 64, false) => "s390x",
            (header::EM_RISCV, 64, true) => "riscv64",
            (header::EM_MIPS, 64, true) => "mips64le",
            (header::EM_LOONGARCH, 64, true) => "loong64",
            _ => return None,
        })
    }

    /// `x86-64, 64-bit, little-endian`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}-bit, {}-endian",
            machine_name(self.machine),
            self.bits,
            if self.little_endian { "little" } else { "big" }
        )
    }
}

/// The loader (`PT_INTERP`) a dynamically linked binary names, e.g.
/// `/lib/ld-linux-aarch64.so.1`; `None` for a static binary.
///
/// # Errors
/// [`ElfError::NotElf`] when goblin cannot parse the whole file.
pub(crate) fn interpreter(file: &[u8]) -> Result<Option<String>, ElfError> {
    let elf = goblin::elf::Elf::parse(file).map_err(|e| ElfError::NotElf(e.to_string()))?;
    Ok(elf.interpreter.map(String::from))
}

/// The page sizes Linux kernels run with: 4 KiB everywhere, 16 KiB on some arm64 machines
/// (Raspberry Pi 5's default kernel, Apple silicon under Asahi) and LoongArch, 64 KiB on
/// others (NVIDIA Grace, some Ampere and Kunpeng systems, ppc64le distributions).
pub const PAGE_SIZES: [u64; 3] = [4 << 10, 16 << 10, 64 << 10];

/// The largest of [`PAGE_SIZES`] a program can be loaded with: the kernel maps each
/// loadable segment (`PT_LOAD`) at a page boundary, so a segment's file offset and address
/// must agree modulo the page size (`p_align` is the linker's promise of that). A program
/// linked for 4 KiB pages alone fails to start on a 16 KiB kernel ("cannot execute binary
/// file" or a crash in the loader). `None` for a file with no loadable segment.
///
/// # Errors
/// [`ElfError::NotElf`] when goblin cannot parse the whole file.
pub(crate) fn largest_page_size(file: &[u8]) -> Result<Option<u64>, ElfError> {
    let elf = goblin::elf::Elf::parse(file).map_err(|e| ElfError::NotElf(e.to_string()))?;
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|h| h.p_type == goblin::elf::program_header::PT_LOAD)
        .collect();
    if loads.is_empty() {
        return Ok(None);
    }
    let fits = |page: u64| {
        loads
            .iter()
            .all(|h| h.p_align >= page && h.p_offset % page == h.p_vaddr % page)
    };
    Ok(Some(
        PAGE_SIZES
            .iter()
            .rev()
            .copied()
            .find(|page| fits(*page))
            .unwrap_or(PAGE_SIZES[0]),
    ))
}

/// `4 KiB`, `16 KiB`, `64 KiB`.
pub fn page_size_name(bytes: u64) -> String {
    format!("{} KiB", bytes >> 10)
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        header::EM_X86_64 => "x86-64",
        header::EM_AARCH64 => "AArch64",
        header::EM_ARM => "ARM",
        header::EM_386 => "x86",
        header::EM_PPC64 => "PowerPC64",
        header::EM_S390 => "s390",
        header::EM_RISCV => "RISC-V",
        header::EM_MIPS => "MIPS",
        header::EM_LOONGARCH => "LoongArch",
        other => header::machine_to_str(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A minimal ELF header: ident, e_type, e_machine, e_version, rest zero.
    fn header_bytes(bits: u8, little_endian: bool, machine: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = if bits == 64 { 2 } else { 1 };
        bytes[5] = if little_endian { 1 } else { 2 };
        bytes[6] = 1;
        let (e_type, e_machine, e_version) = if little_endian {
            (
                2u16.to_le_bytes(),
                machine.to_le_bytes(),
                1u32.to_le_bytes(),
            )
        } else {
            (
                2u16.to_be_bytes(),
                machine.to_be_bytes(),
                1u32.to_be_bytes(),
            )
        };
        bytes[16..18].copy_from_slice(&e_type);
        bytes[18..20].copy_from_slice(&e_machine);
        bytes[20..24].copy_from_slice(&e_version);
        bytes
    }

    /// An aarch64 ELF64 whose loadable segments are (offset, address, alignment).
    fn with_loads(loads: &[(u64, u64, u64)]) -> Vec<u8> {
        let mut bytes = header_bytes(64, true, header::EM_AARCH64);
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        bytes[56..58].copy_from_slice(&(loads.len() as u16).to_le_bytes()); // e_phnum
        for (offset, address, align) in loads {
            let mut ph = vec![0u8; 56];
            ph[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            ph[4..8].copy_from_slice(&5u32.to_le_bytes()); // R+X
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[16..24].copy_from_slice(&address.to_le_bytes());
            ph[24..32].copy_from_slice(&address.to_le_bytes());
            ph[48..56].copy_from_slice(&align.to_le_bytes());
            bytes.extend(ph);
        }
        bytes
    }

    #[rstest]
    #[case::linked_for_64k(&[(0, 0, 0x10000), (0x12345, 0x22345, 0x10000)], Some(64 << 10))]
    #[case::linked_for_16k(&[(0, 0, 0x4000), (0x5000, 0x9000, 0x4000)], Some(16 << 10))]
    #[case::linked_for_4k(&[(0, 0, 0x1000), (0x1f00, 0x2f00, 0x1000)], Some(4 << 10))]
    // Aligned for 64 KiB, but the second segment's offset and address disagree there.
    #[case::offsets_that_disagree(&[(0, 0, 0x10000), (0x5000, 0x9000, 0x10000)], Some(16 << 10))]
    #[case::nothing_to_load(&[], None)]
    fn the_largest_page_size_is_read_from_the_loadable_segments(
        #[case] loads: &[(u64, u64, u64)],
        #[case] expected: Option<u64>,
    ) {
        assert_eq!(largest_page_size(&with_loads(loads)).unwrap(), expected);
    }

    #[rstest]
    #[case(
        "linux/amd64",
        64,
        true,
        header::EM_X86_64,
        "x86-64, 64-bit, little-endian"
    )]
    #[case(
        "linux/arm64",
        64,
        true,
        header::EM_AARCH64,
        "AArch64, 64-bit, little-endian"
    )]
    #[case("linux/arm/v7", 32, true, header::EM_ARM, "ARM, 32-bit, little-endian")]
    #[case("linux/386", 32, true, header::EM_386, "x86, 32-bit, little-endian")]
    #[case(
        "linux/ppc64le",
        64,
        true,
        header::EM_PPC64,
        "PowerPC64, 64-bit, little-endian"
    )]
    #[case("linux/s390x", 64, false, header::EM_S390, "s390, 64-bit, big-endian")]
    #[case(
        "linux/riscv64",
        64,
        true,
        header::EM_RISCV,
        "RISC-V, 64-bit, little-endian"
    )]
    fn headers_match_their_platform(
        #[case] platform: &str,
        #[case] bits: u8,
        #[case] little_endian: bool,
        #[case] machine: u16,
        #[case] described: &str,
    ) {
        let platform: Platform = platform.parse().unwrap();
        let ident = ElfIdent::parse(&header_bytes(bits, little_endian, machine)).unwrap();
        assert_eq!(Some(ident), ElfIdent::expected_for(&platform));
        assert_eq!(ident.architecture(), Some(platform.architecture()));
        assert_eq!(ident.describe(), described);
    }

    #[test]
    fn an_x86_binary_is_not_an_arm64_one() {
        let ident = ElfIdent::parse(&header_bytes(64, true, header::EM_X86_64)).unwrap();
        assert_ne!(
            Some(ident),
            ElfIdent::expected_for(&Platform::linux_arm64())
        );
    }

    #[test]
    fn a_dynamic_binary_names_its_loader() {
        // This test binary is linked dynamically against the host's glibc.
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let loader = interpreter(&bytes).unwrap().expect("a dynamic test binary");
        assert!(loader.contains("ld-linux"), "{loader}");
    }

    #[test]
    fn the_real_test_binary_is_recognised() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let ident = ElfIdent::parse(&bytes).unwrap();
        let here = Platform::from_machine(std::env::consts::ARCH).unwrap();
        assert_eq!(Some(ident), ElfIdent::expected_for(&here));
    }

    #[rstest]
    #[case(b"#!/bin/sh\necho hi\n".as_slice(), "a script (`/bin/sh`), not an ELF binary")]
    #[case(b"MZ\x90\x00".as_slice(), "not an ELF binary: no ELF magic number")]
    #[case(b"".as_slice(), "not an ELF binary: no ELF magic number")]
    #[case(b"\x7fELF\x02\x01\x01".as_slice(), "not an ELF binary: no ELF magic number")]
    fn what_is_not_elf_says_so(#[case] bytes: &[u8], #[case] message: &str) {
        assert_eq!(ElfIdent::parse(bytes).unwrap_err().to_string(), message);
    }
}
