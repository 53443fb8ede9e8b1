//! `multiarch verify IMAGE`: for every platform of the index, check statically (config,
//! the entrypoint and every program in the usual binary folders) and by running it (natively or under QEMU) that it
//! is what the index claims. One row per platform; any failure exits non-zero.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use multiarch::engine;
use multiarch::verify::{self, Probe, Scope, Verifier, VerifyEvent};

use super::render::verify_table;
use super::{ImageArgs, OutputArgs, PlatformArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ImageArgs,
    /// Skip running the images; check configs and binaries only
    #[arg(long)]
    static_only: bool,
    /// Judge the entrypoint's binary alone, not every ELF file in /bin, /usr/bin and the
    /// other usual binary folders (faster on large images)
    #[arg(long)]
    entrypoint_only: bool,
    /// The HTTP path to probe in each running container
    #[arg(long, default_value = "/arch")]
    path: String,
    /// The port the server listens on inside the container
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// Instead of asking over HTTP, run this command in each platform's container (after
    /// the image's entrypoint) and check it exits 0; a machine name it prints, as
    /// `uname -m` does, must be the platform's. E.g. `--exec 'uname -m'` for busybox;
    /// quoted as in a shell: `--exec 'sh -c "uname -m"'`
    #[arg(long, value_name = "CMD", conflicts_with = "static_only", value_parser = command_words)]
    exec: Option<CommandWords>,
    /// Prove each platform's code on these CPUs: machine profiles (`pi-zero`, `pi-2`,
    /// `pi-3`, `pi-4`, `pi-5`, `graviton-2`, `kvm64`, `x86-64-v1` to `v4`; each platform
    /// takes the first that runs it), `baseline` (the oldest CPU each platform name
    /// promises), or one platform's own: `linux/arm64=pi-4`. The host's own platform runs
    /// under QEMU copied into its container. `multiarch doctor` lists the profiles
    #[arg(
        long,
        value_name = "PROFILES",
        value_delimiter = ',',
        conflicts_with = "static_only"
    )]
    cpu: Vec<String>,
    /// Compare the platforms with each other: entrypoint, command, user, working folder,
    /// exposed ports, environment names, labels, the paths in their merged layers, and
    /// (with `--exec`) what the command printed, its machine name taken out; any
    /// difference fails
    #[arg(long)]
    parity: bool,
    /// How long to wait for each container's first answer
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The platforms the index must hold, exactly: a missing one or one not named fails
    #[arg(long, value_name = "PLATFORMS", value_parser = super::parse_platforms)]
    expect: Option<super::PlatformList>,
    /// The last release: a platform it has and this image lacks fails
    #[arg(long, value_name = "IMAGE")]
    against: Option<String>,
    /// The evidence every platform must carry, found the ways consumers look for it
    /// (`signature`: cosign's, for the platform's own digest; `provenance`, `sbom`:
    /// BuildKit's attestations or referrers); any missing one fails, named per platform
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    evidence: Vec<verify::evidence::Kind>,
    /// A cosign public key: each signature `--evidence signature` finds must verify
    /// against it (without it, signatures are found, not checked)
    #[arg(long, value_name = "FILE", requires = "evidence")]
    key: Option<std::path::PathBuf>,
    /// The release's other tags (`latest`, or whole references): each must name the same
    /// index, else the tag is named with its digest and the platforms it lacks or adds
    #[arg(long, value_name = "TAG", value_delimiter = ',')]
    tags: Vec<String>,
    /// With `--tags`: an index of the same platforms is enough, not the very same index
    #[arg(long, requires = "tags")]
    tags_same_platforms: bool,
    /// The page size the fleet's kernels run with (`16k`: Raspberry Pi 5, Asahi; `64k`:
    /// NVIDIA Grace, some Ampere and Kunpeng systems): an arm64, ppc64le or loong64
    /// program aligned for less fails. Without it, such a program is named, not failed
    #[arg(long, value_name = "4k|16k|64k")]
    page_size: Option<verify::page_size::PageSizeNeed>,
    #[command(flatten)]
    platforms: PlatformArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `--exec`'s words, split as a shell splits them (no expansion), so that a quoted
/// argument stays one argument.
#[derive(Debug, Clone, PartialEq)]
struct CommandWords(Vec<String>);

fn command_words(line: &str) -> Result<CommandWords, String> {
    match shlex::split(line) {
        Some(words) if !words.is_empty() => Ok(CommandWords(words)),
        Some(_) => Err("the command is empty".into()),
        None => Err("a quote is not closed".into()),
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (reference, registry) = args.target.open(args.output.json)?;
    let (fetched, listed) = registry
        .fetch_entries(&reference)
        .await
        .with_context(|| format!("cannot verify `{}`", args.target.image))?;
    // The index as a contract, from manifests alone: a broken one stops here, before any
    // layer is downloaded or any platform run.
    let against = args
        .against
        .as_deref()
        .map(multiarch::input::parse_reference)
        .transpose()?;
    let findings = verify::contract::check(
        &registry,
        &reference,
        &listed,
        args.expect.map(|list| list.0),
        against.as_ref(),
    )
    .await
    .with_context(|| format!("cannot verify `{}`", args.target.image))?;
    let mut findings = findings;
    if !args.tags.is_empty() {
        let tags = args
            .tags
            .iter()
            .map(|tag| {
                if tag.contains('/') || tag.contains('@') {
                    multiarch::input::parse_reference(tag)
                } else {
                    multiarch::input::parse_reference(&format!(
                        "{}/{}:{tag}",
                        reference.registry(),
                        reference.repository()
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        findings.extend(
            verify::contract::tags_agree(
                &registry,
                &fetched.digest,
                &multiarch::oci::index::platforms(&listed),
                &tags,
                args.tags_same_platforms,
            )
            .await
            .with_context(|| format!("cannot read the tags of `{}`", args.target.image))?,
        );
    }
    let key = args
        .key
        .as_ref()
        .map(|path| {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            verify::evidence::CosignKey::from_pem(&pem)
                .map_err(|why| anyhow::anyhow!("`{}` is {why}", path.display()))
        })
        .transpose()?;
    let evidence = if args.evidence.is_empty() {
        Vec::new()
    } else {
        verify::evidence::gather(&registry, &reference, &listed, &args.evidence, key.as_ref())
            .await
            .with_context(|| format!("cannot read the evidence of `{}`", args.target.image))?
    };
    let as_json = |reports: &[verify::PlatformReport]| {
        serde_json::to_string_pretty(&serde_json::json!({
            "image": reference.whole(),
            "digest": fetched.digest,
            "passed": findings.is_empty() && reports.iter().all(verify::PlatformReport::passed),
            "index": findings,
            "platforms": reports,
            "evidence": evidence,
        }))
    };
    if !findings.is_empty() {
        if args.output.json {
            println!("{}", as_json(&[])?);
        } else {
            for finding in &findings {
                println!("FAIL  {finding}");
            }
        }
        eprintln!(
            "error: the index of `{}` breaks {} promise(s); no platform was downloaded or run",
            args.target.image,
            findings.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    let wanted = args
        .platforms
        .platform
        .as_ref()
        .map(|list| list.0.as_slice());
    let targets = verify::targets(&reference, &listed, wanted)?;
    let cpu = verify::cpu::CpuPlan::parse(&args.cpu).context("cannot use `--cpu`")?;
    let checked: Vec<_> = targets
        .iter()
        .map(|(platform, _)| platform.clone())
        .collect();
    cpu.check_used(&checked).context("cannot use `--cpu`")?;

    let docker = if args.static_only {
        None
    } else {
        Some(engine::connect().await?)
    };
    let verifier = Verifier {
        registry: &registry,
        reference: &reference,
        docker: docker.as_ref(),
        probe: Probe {
            exec: args.exec.map(|words| words.0),
            port: args.port,
            path: args.path.clone(),
            timeout: args.timeout,
        },
        labels: engine::session_labels(),
        cpu,
        page_size: args.page_size,
        scope: if args.entrypoint_only {
            Scope::Entrypoint
        } else {
            Scope::Userland
        },
    };
    // Ctrl-C is handled once for every command: `cli::run` removes this session's containers.
    let reports = verifier
        .verify(&targets, |VerifyEvent::Checking(platform)| {
            eprintln!("checking {platform} ...");
        })
        .await?;

    let drift = if args.parity {
        verifier
            .parity(&targets, &reports)
            .await
            .with_context(|| format!("cannot compare the platforms of `{}`", args.target.image))?
    } else {
        Vec::new()
    };
    let failed = reports.iter().filter(|r| !r.passed()).count();
    let unproven: Vec<String> = evidence
        .iter()
        .flat_map(|e| {
            e.found
                .iter()
                .filter(|(_, found)| found.failed())
                .map(move |(kind, _)| {
                    format!(
                        "{} {}",
                        e.platform,
                        serde_json::to_value(kind)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or_default()
                    )
                })
        })
        .collect();
    if args.output.json {
        let mut json = as_json(&reports)?;
        if args.parity {
            let mut value: serde_json::Value = serde_json::from_str(&json)?;
            value["parity"] = serde_json::to_value(&drift)?;
            value["passed"] = (value["passed"] == true && drift.is_empty()).into();
            json = serde_json::to_string_pretty(&value)?;
        }
        println!("{json}");
    } else {
        print!("{}", verify_table(&reports));
        if !evidence.is_empty() {
            println!();
            print!("{}", super::render::evidence_table(&evidence));
        }
        if !drift.is_empty() {
            println!();
            for found in &drift {
                println!("DRIFT  {found}");
            }
        }
    }
    if args.parity && drift.is_empty() {
        eprintln!("the {} platform(s) agree with each other", reports.len());
    }
    if args.page_size.is_none() {
        for report in &reports {
            let judged =
                verify::page_size::judge(&report.platform, report.page_size.as_ref(), None);
            if let Some((_, sentence)) = judged.filter(|(_, s)| !s.contains("any size")) {
                eprintln!(
                    "note: {}: {sentence}; `--page-size 16k` makes that fail",
                    report.platform
                );
            }
        }
    }
    if !drift.is_empty() {
        eprintln!(
            "error: the platforms of `{}` drifted apart in {} way(s)",
            args.target.image,
            drift.len()
        );
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} platform(s) of `{}` failed verification",
            reports.len(),
            args.target.image
        );
    }
    if !unproven.is_empty() {
        eprintln!(
            "error: evidence is missing or does not verify: {}",
            unproven.join(", ")
        );
    }
    if failed > 0 || !drift.is_empty() || !unproven.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "all {} platform(s) of `{}` hold what the index claims",
        reports.len(),
        args.target.image
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Result<Vec<String>, String> {
        command_words(line).map(|w| w.0)
    }

    #[test]
    fn exec_splits_as_a_shell_does() {
        assert_eq!(words("uname -m").unwrap(), ["uname", "-m"]);
        assert_eq!(
            words(r#"sh -c "uname -m | grep -q arm""#).unwrap(),
            ["sh", "-c", "uname -m | grep -q arm"]
        );
        assert_eq!(words("echo 'a  b'").unwrap(), ["echo", "a  b"]);
    }

    #[test]
    fn exec_refuses_an_open_quote_and_an_empty_command() {
        assert_eq!(
            words("sh -c 'uname -m").unwrap_err(),
            "a quote is not closed"
        );
        assert_eq!(words("   ").unwrap_err(), "the command is empty");
    }
}
