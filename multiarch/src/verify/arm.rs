//! Which ARM a 32-bit ARM binary needs, from its EABI attributes (`.ARM.attributes`).
//!
//! The ELF header says only "ARM": an ARMv7 (armhf) binary in an `arm/v6` slot passes it,
//! then dies with "illegal instruction" on a Raspberry Pi Zero or 1 (moby/moby#37647,
//! docker/buildx#304). The compiler records the architecture it targeted as
//! `Tag_CPU_arch`, and the float ABI as `Tag_ABI_VFP_args`, in the attributes section
//! that every EABI toolchain writes; `readelf -A` prints the same.

use serde::Serialize;

/// `Tag_CPU_arch` values up to ARMv8 (ARM IHI 0045, "Addenda to the ARM ABI").
const CPU_ARCH_NAMES: &[&str] = &[
    "pre-v4", "v4", "v4T", "v5T", "v5TE", "v5TEJ", "v6", "v6KZ", "v6T2", "v6K", "v7", "v6-M",
    "v6S-M", "v7E-M", "v8-A",
];
const TAG_FILE: u8 = 1;
const TAG_CPU_RAW_NAME: u64 = 4;
const TAG_CPU_NAME: u64 = 5;
const TAG_CPU_ARCH: u64 = 6;
const TAG_COMPATIBILITY: u64 = 32;
const TAG_ABI_VFP_ARGS: u64 = 28;

/// What the attributes say about the CPU a binary needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArmLevel {
    /// `Tag_CPU_arch`: 6 is ARMv6, 9 ARMv6K, 10 ARMv7.
    pub cpu_arch: u64,
    /// Floating-point arguments in VFP registers (armhf), not in core registers.
    pub hard_float: bool,
}

impl ArmLevel {
    /// Reads the attributes of an ELF file; `Ok(None)` when it has no such section (a
    /// toolchain that writes none, or a stripped one), which says nothing either way.
    ///
    /// # Errors
    /// A file goblin cannot parse, or attributes that do not follow the format.
    pub(crate) fn of_elf(file: &[u8]) -> Result<Option<Self>, String> {
        let elf = goblin::elf::Elf::parse(file).map_err(|e| e.to_string())?;
        let Some(section) = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".ARM.attributes"))
        else {
            return Ok(None);
        };
        let start = usize::try_from(section.sh_offset).map_err(|e| e.to_string())?;
        let size = usize::try_from(section.sh_size).map_err(|e| e.to_string())?;
        let bytes = file
            .get(start..start.saturating_add(size))
            .ok_or("the attributes section lies outside the file")?;
        Self::parse(bytes).map(Some)
    }

    /// Parses the bytes of an `.ARM.attributes` section (format version `A`, then the
    /// `aeabi` vendor subsection and its file-scope attributes).
    ///
    /// # Errors
    /// Bytes that do not follow the format.
    pub fn parse(section: &[u8]) -> Result<Self, String> {
        let mut rest = section
            .strip_prefix(b"A")
            .ok_or("not a version-A attributes section")?;
        let mut level = Self {
            cpu_arch: 0,
            hard_float: false,
        };
        while rest.len() >= 4 {
            let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let subsection = rest
                .get(4..length)
                .ok_or("a subsection runs past the end")?;
            rest = &rest[length.max(4)..];
            let Some(vendor_end) = subsection.iter().position(|b| *b == 0) else {
                return Err("a vendor name without its end".into());
            };
            if &subsection[..vendor_end] != b"aeabi" {
                continue;
            }
            let mut inner = &subsection[vendor_end + 1..];
            while inner.len() >= 5 {
                let tag = inner[0];
                let size = u32::from_le_bytes(inner[1..5].try_into().expect("4 bytes")) as usize;
                let body = inner
                    .get(5..size)
                    .ok_or("an attribute group runs past the end")?;
                inner = &inner[size.max(5)..];
                if tag == TAG_FILE {
                    level.read_attributes(body)?;
                }
            }
        }
        Ok(level)
    }

    fn read_attributes(&mut self, mut body: &[u8]) -> Result<(), String> {
        while !body.is_empty() {
            let tag = uleb128(&mut body)?;
            match tag {
                TAG_CPU_RAW_NAME | TAG_CPU_NAME => skip_string(&mut body)?,
                TAG_COMPATIBILITY => {
                    uleb128(&mut body)?;
                    skip_string(&mut body)?;
                }
                TAG_CPU_ARCH => self.cpu_arch = uleb128(&mut body)?,
                TAG_ABI_VFP_ARGS => self.hard_float = uleb128(&mut body)? == 1,
                // Past 32, odd tags carry strings and even ones numbers (the ABI's rule
                // for tags a reader does not know); below it, all known ones are numbers.
                tag if tag > TAG_COMPATIBILITY && tag % 2 == 1 => skip_string(&mut body)?,
                _ => {
                    uleb128(&mut body)?;
                }
            }
        }
        Ok(())
    }

    /// `ARMv7, hard-float`.
    pub fn describe(&self) -> String {
        format!(
            "ARM{}, {}",
            self.arch_name(),
            if self.hard_float {
                "hard-float"
            } else {
                "soft-float"
            }
        )
    }

    /// `v6`, `v7`, ... as the ABI names `Tag_CPU_arch`.
    pub(crate) fn arch_name(&self) -> String {
        usize::try_from(self.cpu_arch)
            .ok()
            .and_then(|i| CPU_ARCH_NAMES.get(i))
            .map_or_else(
                || format!("(Tag_CPU_arch {})", self.cpu_arch),
                |n| (*n).to_string(),
            )
    }

    /// Whether a CPU of the `arm` platform's `variant` (`v5`, `v6`, `v7`) runs this code:
    /// the binary must not need a later architecture (ARMv6K still runs on an ARMv6 Pi,
    /// whose ARM1176 core is v6K; ARMv7 does not).
    pub(crate) fn runs_on(&self, variant: &str) -> bool {
        let newest = match variant {
            "v5" => 5,
            "v6" => 9,
            "v7" => 10,
            _ => return true,
        };
        self.cpu_arch <= newest
    }
}

fn uleb128(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("a number runs past the end")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a number longer than 64 bits".into())
}

fn skip_string(bytes: &mut &[u8]) -> Result<(), String> {
    let end = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or("a string without its end")?;
    *bytes = &bytes[end + 1..];
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// An attributes section as GCC writes it: CPU name, Tag_CPU_arch, then the float ABI.
    fn section(cpu_name: &str, cpu_arch: u8, hard_float: bool) -> Vec<u8> {
        let mut attributes = vec![TAG_CPU_NAME as u8];
        attributes.extend(cpu_name.as_bytes());
        attributes.push(0);
        attributes.extend([TAG_CPU_ARCH as u8, cpu_arch, 8, 1, 9, 1]);
        attributes.extend([TAG_ABI_VFP_ARGS as u8, u8::from(hard_float), 34, 1]);
        let mut file = vec![TAG_FILE];
        file.extend((5 + attributes.len() as u32).to_le_bytes());
        file.extend(attributes);
        let mut vendor = b"aeabi\0".to_vec();
        vendor.extend(file);
        let mut out = b"A".to_vec();
        out.extend((4 + vendor.len() as u32).to_le_bytes());
        out.extend(vendor);
        out
    }

    #[rstest]
    #[case::armel_busybox("5TE", 4, false, "ARMv5TE, soft-float", true, true)]
    #[case::rust_arm_gnueabi("6", 6, false, "ARMv6, soft-float", true, true)]
    #[case::raspberry_pi_one("6KZ", 7, true, "ARMv6KZ, hard-float", true, true)]
    #[case::armhf("7-A", 10, true, "ARMv7, hard-float", false, true)]
    #[case::armv8_in_aarch32("8-A", 14, true, "ARMv8-A, hard-float", false, false)]
    fn the_arm_level_decides_the_slot(
        #[case] name: &str,
        #[case] cpu_arch: u8,
        #[case] hard_float: bool,
        #[case] described: &str,
        #[case] runs_on_v6: bool,
        #[case] runs_on_v7: bool,
    ) {
        let level = ArmLevel::parse(&section(name, cpu_arch, hard_float)).unwrap();
        assert_eq!(level.describe(), described);
        assert_eq!(level.runs_on("v6"), runs_on_v6);
        assert_eq!(level.runs_on("v7"), runs_on_v7);
    }

    #[rstest]
    #[case(b"B".as_slice(), "not a version-A")]
    #[case(b"A\xff\x00\x00\x00aeabi\x00".as_slice(), "runs past the end")]
    #[case(b"A\x09\x00\x00\x00aeabi".as_slice(), "without its end")]
    fn malformed_attributes_say_why(#[case] bytes: &[u8], #[case] why: &str) {
        let error = ArmLevel::parse(bytes).unwrap_err();
        assert!(error.contains(why), "{error}");
    }

    #[test]
    fn a_file_without_attributes_says_nothing() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(ArmLevel::of_elf(&bytes), Ok(None));
    }
}
