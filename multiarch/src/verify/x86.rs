//! Which x86-64 micro-architecture level a binary needs, from its GNU property note.
//!
//! `linux/amd64/v2`..`v4` promise a CPU level (SSE4.2, AVX2, AVX-512), and a binary built
//! for v3 dies with "illegal instruction" on a v2 machine. Since binutils 2.36 the linker
//! records the level as `GNU_PROPERTY_X86_ISA_1_NEEDED` in `.note.gnu.property`
//! (`readelf -n` prints "x86 ISA needed: x86-64-baseline, x86-64-v3"); a binary without
//! the note says nothing either way.

use serde::Serialize;

/// `NT_GNU_PROPERTY_TYPE_0`, the note that holds program properties.
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
/// `GNU_PROPERTY_X86_ISA_1_NEEDED` (binutils 2.36 and later).
const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;

/// The x86-64 level a binary needs: 1 is the baseline (`amd64`, `amd64/v1`), 2..4 are
/// `amd64/v2`..`v4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IsaLevel(pub u8);

impl IsaLevel {
    /// Reads the property note of an ELF file; `Ok(None)` when it has none.
    ///
    /// # Errors
    /// A file goblin cannot parse, or a note that does not follow the format.
    pub(crate) fn of_elf(file: &[u8]) -> Result<Option<Self>, String> {
        let elf = goblin::elf::Elf::parse(file).map_err(|e| e.to_string())?;
        let align = if elf.is_64 { 8 } else { 4 };
        let notes = elf
            .iter_note_headers(file)
            .or_else(|| elf.iter_note_sections(file, Some(".note.gnu.property")));
        let Some(notes) = notes else {
            return Ok(None);
        };
        for note in notes {
            let note = note.map_err(|e| e.to_string())?;
            if note.n_type == NT_GNU_PROPERTY_TYPE_0 && note.name.trim_end_matches('\0') == "GNU" {
                if let Some(bits) = needed_bits(note.desc, align)? {
                    return Ok(Self::from_bits(bits));
                }
            }
        }
        Ok(None)
    }

    /// The highest level among the `x86-64-baseline`, `-v2`, `-v3`, `-v4` bits.
    fn from_bits(bits: u32) -> Option<Self> {
        (0..4u8)
            .rev()
            .find(|level| bits & (1 << level) != 0)
            .map(|level| Self(level + 1))
    }

    /// The level an `amd64` platform variant promises (no variant: the baseline).
    pub(crate) fn of_variant(variant: Option<&str>) -> Self {
        Self(match variant {
            Some("v2") => 2,
            Some("v3") => 3,
            Some("v4") => 4,
            _ => 1,
        })
    }

    /// `x86-64-v3`, as readelf names it.
    pub fn describe(&self) -> String {
        match self.0 {
            1 => "x86-64-baseline".into(),
            level => format!("x86-64-v{level}"),
        }
    }
}

/// The `ISA_1_NEEDED` bits of a property array, if it has that property.
fn needed_bits(mut desc: &[u8], align: usize) -> Result<Option<u32>, String> {
    let word = |bytes: &[u8]| u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
    while desc.len() >= 8 {
        let kind = word(&desc[..4]);
        let size = word(&desc[4..8]) as usize;
        let data = desc
            .get(8..8 + size)
            .ok_or("a property runs past the end of its note")?;
        if kind == GNU_PROPERTY_X86_ISA_1_NEEDED {
            if data.len() != 4 {
                return Err(format!(
                    "an x86 ISA property of {} bytes, not 4",
                    data.len()
                ));
            }
            return Ok(Some(word(data)));
        }
        let padded = (8 + size).div_ceil(align) * align;
        desc = desc.get(padded..).unwrap_or_default();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A property array as the linker writes it for ELF64: one 4-byte property padded
    /// to 8, after another property that is skipped.
    fn properties(bits: u32) -> Vec<u8> {
        let mut desc = Vec::new();
        desc.extend(0xc000_0002u32.to_le_bytes()); // GNU_PROPERTY_X86_FEATURE_1_AND
        desc.extend(4u32.to_le_bytes());
        desc.extend(3u32.to_le_bytes());
        desc.extend([0; 4]);
        desc.extend(GNU_PROPERTY_X86_ISA_1_NEEDED.to_le_bytes());
        desc.extend(4u32.to_le_bytes());
        desc.extend(bits.to_le_bytes());
        desc.extend([0; 4]);
        desc
    }

    #[rstest]
    #[case::debian_ls(0b0001, "x86-64-baseline", None, true)]
    #[case::built_for_v3(0b0101, "x86-64-v3", Some("v2"), false)]
    #[case::v3_in_v3(0b0101, "x86-64-v3", Some("v3"), true)]
    #[case::v4_in_amd64(0b1001, "x86-64-v4", None, false)]
    fn the_needed_level_decides_the_slot(
        #[case] bits: u32,
        #[case] described: &str,
        #[case] variant: Option<&str>,
        #[case] fits: bool,
    ) {
        let needed = needed_bits(&properties(bits), 8).unwrap().unwrap();
        let level = IsaLevel::from_bits(needed).unwrap();
        assert_eq!(level.describe(), described);
        assert_eq!(level <= IsaLevel::of_variant(variant), fits);
    }

    #[test]
    fn a_property_past_its_note_says_why() {
        let mut desc = properties(1);
        desc.truncate(26);
        let error = needed_bits(&desc, 8).unwrap_err();
        assert!(error.contains("runs past the end"), "{error}");
    }
}
