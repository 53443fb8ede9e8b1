//! Where a build's time went: per platform, per Dockerfile step, and whether each step
//! ran natively, cross (a stage on the build platform producing for the target) or
//! emulated (the target's code run under QEMU), read from BuildKit's own step names and
//! times and the builder's native platform; and, for an emulated compile, the line to
//! change and the time it would save.
//!
//! BuildKit names a step of a multi-platform build `[linux/arm64 build 3/5] RUN ...`, and
//! one of a stage on another platform than its target `[linux/amd64->arm64 build 3/5]`
//! (the platform it runs on, then the target). The step's number counts the stage's
//! `FROM`, `RUN`, `COPY`, `ADD` and `WORKDIR`, which finds its Dockerfile line. Only `RUN`
//! runs the image's code; the other steps are BuildKit's own work and count as native.
//! A single-platform solve names no platform, so a stage's `FROM --platform=` in the
//! Dockerfile says where its steps ran.

use std::collections::HashMap;

use serde::Serialize;

use multiarch_platform::Platform;

/// A step BuildKit finished, as its status stream told it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    /// BuildKit's name for it (`[linux/arm64 build 3/5] RUN cargo build`).
    pub name: String,
    /// When it started, in seconds since the Unix epoch.
    pub start: f64,
    /// How long it took; 0 when cached.
    pub seconds: f64,
    /// Whether BuildKit took it from its cache.
    pub cached: bool,
}

/// How a step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// On the node's own CPU, for its own platform (or BuildKit's own work).
    Native,
    /// On the node's own CPU, producing for another platform.
    Cross,
    /// The target's code under an emulator.
    Emulated,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Cross => "cross",
            Self::Emulated => "emulated",
        })
    }
}

/// One solve's steps and where they ran: a node (or the builder itself) whose own
/// platform is `own`, building `platforms`.
pub struct Solve<'a> {
    /// The node's name, for a builder made of nodes.
    pub node: Option<&'a str>,
    /// The platform the node's CPU runs (`None`: unknown, and nothing is called emulated).
    pub own: Option<&'a Platform>,
    /// The platforms this solve built.
    pub platforms: &'a [Platform],
    /// Its finished steps.
    pub steps: &'a [StepTime],
}

/// A Dockerfile step of one platform, profiled.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The instruction as BuildKit names it (`RUN cargo build --release`).
    pub instruction: String,
    /// Its stage (`build`, `stage-0`), when BuildKit names one.
    pub stage: Option<String>,
    /// Its line in the Dockerfile, when found.
    pub line: Option<usize>,
    /// When it started, in seconds since the Unix epoch.
    pub start: f64,
    /// How long it took (0 when cached).
    #[serde(rename = "duration_seconds")]
    pub seconds: f64,
    /// Whether BuildKit took it from its cache.
    pub cached: bool,
    /// How it ran.
    pub how: How,
    /// The platform whose code it ran.
    pub runs_on: String,
    /// The emulator, for an emulated step (`qemu-aarch64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<String>,
}

/// One platform's share of a build.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformProfile {
    /// The platform.
    pub platform: String,
    /// The node that built it, for a builder made of nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// From its first step's start to its last step's end.
    pub wall_seconds: f64,
    /// Step time that ran natively.
    pub native_seconds: f64,
    /// Step time that ran cross.
    pub cross_seconds: f64,
    /// Step time that ran emulated.
    pub emulated_seconds: f64,
    /// Steps taken from the cache.
    pub cached_steps: usize,
    /// Its Dockerfile steps, in the order they started.
    pub steps: Vec<Step>,
}

/// The way out of an emulated compile.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    /// The platform it was emulated for.
    pub platform: String,
    /// The Dockerfile line, when found.
    pub line: Option<usize>,
    /// The instruction.
    pub instruction: String,
    /// How long it ran emulated.
    pub seconds: f64,
    /// What it would save: the emulated time less the same step's native or cross time
    /// for another platform of this build, when one ran.
    pub saving_seconds: Option<f64>,
    /// The rewrite that applies.
    pub advice: String,
}

/// An emulator the build ran for a platform none of its platforms asked for: a stage
/// pinned to another platform (`FROM --platform=linux/amd64 node`), so its `RUN` steps
/// ran under QEMU for an image of another CPU.
#[derive(Debug, Clone, Serialize)]
pub struct UnaskedEmulation {
    /// The image platform the step was part of.
    pub platform: String,
    /// The platform whose code ran, which the build did not ask for.
    pub runs_on: String,
    /// The emulator that ran it (`qemu-aarch64`), when the kit knows its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<String>,
    /// The Dockerfile line, when found.
    pub line: Option<usize>,
    /// The instruction.
    pub instruction: String,
    /// How long it ran emulated.
    pub seconds: f64,
}

/// Where a build's time went.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Each platform built.
    pub platforms: Vec<PlatformProfile>,
    /// One per emulated compile worth changing.
    pub hints: Vec<Hint>,
    /// Each step that ran under an emulator for a platform no one asked for.
    pub unasked: Vec<UnaskedEmulation>,
    /// What making the profile cost, beyond following the build (asking the builder its
    /// platform, reading the Dockerfile, this arithmetic), in seconds.
    pub cost_seconds: f64,
}

/// An emulated step below this share of its platform's time, or this many seconds, gets
/// no hint: it is not where the time went.
const HINT_SHARE: f64 = 0.2;
const HINT_SECONDS: f64 = 2.0;

/// The profile of a build made of `solves`, with `dockerfile` (its text) for the lines.
pub fn profile(dockerfile: &str, solves: &[Solve<'_>]) -> Profile {
    let started = std::time::Instant::now();
    let stages = Stages::read(dockerfile);
    let mut platforms: Vec<PlatformProfile> = Vec::new();
    for solve in solves {
        for platform in solve.platforms {
            let steps: Vec<Step> = solve
                .steps
                .iter()
                .filter_map(|time| {
                    let name = StepName::parse(&time.name)?;
                    let target = name.target.clone().or_else(|| {
                        // A single-platform solve names no platform.
                        (solve.platforms.len() == 1).then(|| solve.platforms[0].clone())
                    })?;
                    (&target == platform).then(|| step(&name, time, &target, solve.own, &stages))
                })
                .collect();
            platforms.push(platform_profile(platform, solve.node, steps));
        }
    }
    let hints = hints(&platforms);
    let asked: Vec<String> = solves
        .iter()
        .flat_map(|s| s.platforms)
        .map(Platform::to_string)
        .collect();
    let unasked = unasked(&platforms, &asked);
    Profile {
        platforms,
        hints,
        unasked,
        cost_seconds: started.elapsed().as_secs_f64(),
    }
}

fn platform_profile(
    platform: &Platform,
    node: Option<&str>,
    mut steps: Vec<Step>,
) -> PlatformProfile {
    steps.sort_by(|a, b| a.start.total_cmp(&b.start));
    let ran: Vec<&Step> = steps.iter().filter(|s| !s.cached).collect();
    let first = ran.iter().map(|s| s.start).fold(f64::INFINITY, f64::min);
    let last = ran
        .iter()
        .map(|s| s.start + s.seconds)
        .fold(f64::NEG_INFINITY, f64::max);
    // Folded from 0.0: a float sum of nothing is -0.0, which would print as `-0.0 s`.
    let sum = |how: How| {
        ran.iter()
            .filter(|s| s.how == how)
            .fold(0.0, |total, s| total + s.seconds)
    };
    PlatformProfile {
        platform: platform.to_string(),
        node: node.map(String::from),
        wall_seconds: if ran.is_empty() { 0.0 } else { last - first },
        native_seconds: sum(How::Native),
        cross_seconds: sum(How::Cross),
        emulated_seconds: sum(How::Emulated),
        cached_steps: steps.iter().filter(|s| s.cached).count(),
        steps,
    }
}

fn step(
    name: &StepName,
    time: &StepTime,
    target: &Platform,
    own: Option<&Platform>,
    stages: &Stages,
) -> Step {
    let stage_runs_on = || match stages.pin(name.stage.as_deref())? {
        Pin::BuildPlatform => own.cloned(),
        Pin::Platform(platform) => Some(platform.clone()),
    };
    let runs_on = name
        .runs_on
        .clone()
        .or_else(stage_runs_on)
        .unwrap_or_else(|| target.clone());
    let native = own.is_none_or(|own| crate::engine::host::runs_natively(own, &runs_on));
    let how = if !name.runs_code() || native {
        if &runs_on == target {
            How::Native
        } else {
            How::Cross
        }
    } else {
        How::Emulated
    };
    Step {
        instruction: name.instruction.clone(),
        stage: name.stage.clone(),
        line: stages.line(name.stage.as_deref(), name.number),
        start: time.start,
        seconds: if time.cached { 0.0 } else { time.seconds },
        cached: time.cached,
        how,
        runs_on: runs_on.to_string(),
        emulator: (how == How::Emulated)
            .then(|| crate::engine::host::emulator_for(&runs_on).map(String::from))
            .flatten(),
    }
}

/// An emulated compile that took a real share of its platform's time, with its way out.
fn hints(platforms: &[PlatformProfile]) -> Vec<Hint> {
    let mut hints = Vec::new();
    for profile in platforms {
        for step in &profile.steps {
            let worth =
                step.seconds >= HINT_SECONDS && step.seconds >= HINT_SHARE * profile.wall_seconds;
            if step.how != How::Emulated || !worth {
                continue;
            }
            let Some(advice) = advice(&step.instruction, &profile.platform) else {
                continue;
            };
            // The same step for a platform that did not emulate it.
            let elsewhere = platforms
                .iter()
                .flat_map(|p| &p.steps)
                .filter(|s| {
                    !s.cached
                        && s.how != How::Emulated
                        && s.instruction == step.instruction
                        && s.stage == step.stage
                })
                .map(|s| s.seconds)
                .fold(None, |min: Option<f64>, s| {
                    Some(min.map_or(s, |m| m.min(s)))
                });
            hints.push(Hint {
                platform: profile.platform.clone(),
                line: step.line,
                instruction: step.instruction.clone(),
                seconds: step.seconds,
                saving_seconds: elsewhere.map(|native| (step.seconds - native).max(0.0)),
                advice,
            });
        }
    }
    hints
}

/// The steps that ran under an emulator for a platform none of `asked` is.
fn unasked(platforms: &[PlatformProfile], asked: &[String]) -> Vec<UnaskedEmulation> {
    platforms
        .iter()
        .flat_map(|p| p.steps.iter().map(move |s| (p, s)))
        .filter(|(_, s)| s.how == How::Emulated && !s.cached && !asked.contains(&s.runs_on))
        .map(|(p, s)| UnaskedEmulation {
            platform: p.platform.clone(),
            runs_on: s.runs_on.clone(),
            emulator: s.emulator.clone(),
            line: s.line,
            instruction: s.instruction.clone(),
            seconds: s.seconds,
        })
        .collect()
}

/// The rewrite for a compile or package build in `instruction`, run emulated for
/// `platform`; `None` when the command builds nothing.
fn advice(instruction: &str, platform: &str) -> Option<String> {
    let words: Vec<&str> = instruction
        .split(|c: char| c.is_whitespace() || ";&|()\"'[],`".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |first: &str, second: &[&str]| {
        words.windows(2).any(|w| {
            w[0].rsplit('/').next() == Some(first) && (second.is_empty() || second.contains(&w[1]))
        }) || (second.is_empty() && words.iter().any(|w| w.rsplit('/').next() == Some(first)))
    };
    let pin = "pin its stage to the build platform (`FROM --platform=$BUILDPLATFORM ...`)";
    let node = format!(
        "or build {platform} on a node that runs it natively (`multiarch builder create --node`)"
    );
    let rewrite = if has("go", &["build", "install"]) {
        format!(
            "{pin} and let Go cross-compile: `ARG TARGETOS TARGETARCH` then `RUN GOOS=$TARGETOS GOARCH=$TARGETARCH CGO_ENABLED=0 go build ...`"
        )
    } else if has("cargo", &["build", "install"]) {
        format!(
            "{pin} and let Rust cross-compile: add the target's standard library and a cross linker, then `cargo build --target <triple>` with `CARGO_TARGET_<TRIPLE>_LINKER` set (this repository's Dockerfile does it with Debian's packages)"
        )
    } else if [
        "gcc", "g++", "cc", "c++", "clang", "make", "cmake", "ninja", "meson",
    ]
    .iter()
    .any(|tool| has(tool, &[]))
    {
        format!(
            "{pin} and use a cross C toolchain for the target (`gcc-aarch64-linux-gnu` and `CC=aarch64-linux-gnu-gcc`, or tonistiigi/xx's `xx-clang`)"
        )
    } else if has("npm", &["ci", "install"])
        || has("yarn", &["install"])
        || has("pnpm", &["install"])
    {
        format!(
            "{pin} for the install (JavaScript is the same on every CPU) and fetch native modules' prebuilt binaries for the target (`npm ci --cpu=<arch> --os=linux`)"
        )
    } else if has("pip", &["install", "wheel"]) || has("pip3", &["install", "wheel"]) {
        format!(
            "{pin} and fetch wheels built for the target (`pip download --platform manylinux2014_<arch> --only-binary=:all:`), or build the missing wheels once and keep them"
        )
    } else if has("dotnet", &["publish", "build"]) {
        format!(
            "{pin} and publish for the target's runtime (`dotnet publish -r linux-<arch>`): the SDK cross-publishes"
        )
    } else if has("mvn", &[]) || has("mvnw", &[]) || has("gradle", &[]) || has("gradlew", &[]) {
        format!(
            "{pin}: JVM bytecode is the same for every CPU, so build it once and copy it into each platform's image"
        )
    } else {
        return None;
    };
    Some(format!("{rewrite}; {node}"))
}

/// What BuildKit's name of a Dockerfile step says.
#[derive(Debug, PartialEq)]
struct StepName {
    /// The platform it runs on, when the name gives one.
    runs_on: Option<Platform>,
    /// The platform it produces for, when the name gives one.
    target: Option<Platform>,
    stage: Option<String>,
    /// Its number in its stage, `FROM` being 1.
    number: usize,
    instruction: String,
}

impl StepName {
    /// `[linux/amd64->arm64 build 3/5] RUN ...`; `None` for BuildKit's own steps
    /// (`[internal] load build definition`, `exporting to image`).
    fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix('[')?;
        let (head, instruction) = rest.split_once("] ")?;
        let mut tokens: Vec<&str> = head.split_whitespace().collect();
        let (number, _) = tokens.pop()?.split_once('/')?;
        let number: usize = number.parse().ok()?;
        let (mut runs_on, mut target) = (None, None);
        if tokens.first().is_some_and(|t| t.contains('/')) {
            let platform = tokens.remove(0);
            let (on, to) = match platform.split_once("->") {
                Some((on, to)) => (on, Some(to)),
                None => (platform, None),
            };
            let on: Platform = on.parse().ok()?;
            let to = match to {
                // The same OS: only the architecture (and variant) is written.
                Some(to)
                    if !to.contains('/')
                        || to.starts_with("arm/")
                        || to.starts_with("arm64/")
                        || to.starts_with("amd64/") =>
                {
                    format!("{}/{to}", on.os()).parse().ok()?
                }
                Some(to) => to.parse().ok()?,
                None => on.clone(),
            };
            runs_on = Some(on);
            target = Some(to);
        }
        Some(Self {
            runs_on,
            target,
            stage: tokens.first().map(|s| (*s).to_string()),
            number,
            instruction: instruction.to_string(),
        })
    }

    /// Whether the step runs the image's code (`RUN`), rather than BuildKit's own work.
    fn runs_code(&self) -> bool {
        self.instruction
            .split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("RUN"))
    }
}

/// Where a stage's steps run, as its `FROM --platform=` says.
#[derive(Debug, Clone, PartialEq)]
enum Pin {
    /// `$BUILDPLATFORM`: the builder's own.
    BuildPlatform,
    /// A platform written out (`linux/amd64`).
    Platform(Platform),
}

/// What the Dockerfile says of each stage: the lines of its numbered steps, and the
/// platform it is pinned to.
struct Stages {
    /// By stage name (lower case, or `stage-N`): the lines of its FROM and its RUN, COPY,
    /// ADD and WORKDIR, in order.
    lines: HashMap<String, Vec<usize>>,
    /// By stage name: its pin, for a stage pinned to the build platform or a platform
    /// written out (`$TARGETPLATFORM` and other arguments pin nothing the kit can read).
    pins: HashMap<String, Pin>,
    /// The last stage's, for names without a stage.
    last: Option<String>,
}

impl Stages {
    fn read(dockerfile: &str) -> Self {
        let mut stages = Self {
            lines: HashMap::new(),
            pins: HashMap::new(),
            last: None,
        };
        let Ok(parsed) = parse_dockerfile::parse(dockerfile) else {
            return stages;
        };
        let line_of = |offset: usize| {
            dockerfile[..offset.min(dockerfile.len())]
                .matches('\n')
                .count()
                + 1
        };
        for (i, stage) in parsed.stages().enumerate() {
            let mut lines = vec![line_of(stage.from.from.span.start)];
            for instruction in stage.instructions {
                use parse_dockerfile::Instruction;
                let start = match instruction {
                    Instruction::Run(run) => run.run.span.start,
                    Instruction::Copy(copy) => copy.copy.span.start,
                    Instruction::Add(add) => add.add.span.start,
                    Instruction::Workdir(workdir) => workdir.workdir.span.start,
                    _ => continue,
                };
                lines.push(line_of(start));
            }
            let name = stage.from.as_.as_ref().map_or_else(
                || format!("stage-{i}"),
                |(_, name)| name.value.to_lowercase(),
            );
            let written = stage
                .from
                .options
                .iter()
                .find(|flag| flag.name.value.eq_ignore_ascii_case("platform"))
                .and_then(|flag| flag.value.as_ref())
                .map(|value| value.value.trim().to_string());
            let pin = match written.as_deref() {
                Some("$BUILDPLATFORM" | "${BUILDPLATFORM}") => Some(Pin::BuildPlatform),
                Some(value) if !value.contains('$') => value.parse().ok().map(Pin::Platform),
                Some(_) => None,
                // A stage built on an earlier stage runs where that one does.
                None => stages
                    .pins
                    .get(&stage.from.image.value.to_lowercase())
                    .cloned(),
            };
            if let Some(pin) = pin {
                stages.pins.insert(format!("stage-{i}"), pin.clone());
                stages.pins.insert(name.clone(), pin);
            }
            stages.lines.insert(format!("stage-{i}"), lines.clone());
            stages.lines.insert(name.clone(), lines);
            stages.last = Some(name);
        }
        stages
    }

    fn stage(&self, stage: Option<&str>) -> Option<String> {
        stage.map(str::to_lowercase).or_else(|| self.last.clone())
    }

    fn line(&self, stage: Option<&str>, number: usize) -> Option<usize> {
        self.lines
            .get(&self.stage(stage)?)?
            .get(number.checked_sub(1)?)
            .copied()
    }

    fn pin(&self, stage: Option<&str>) -> Option<&Pin> {
        self.pins.get(&self.stage(stage)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        text.parse().unwrap()
    }

    fn time(name: &str, start: f64, seconds: f64, cached: bool) -> StepTime {
        StepTime {
            name: name.into(),
            start,
            seconds,
            cached,
        }
    }

    #[test]
    fn step_names_say_where_each_step_ran() {
        let cross = StepName::parse("[linux/amd64->arm64 build 3/5] RUN cargo build").unwrap();
        assert_eq!(cross.runs_on, Some(p("linux/amd64")));
        assert_eq!(cross.target, Some(p("linux/arm64")));
        assert_eq!(cross.stage.as_deref(), Some("build"));
        assert_eq!(cross.number, 3);
        let v7 = StepName::parse("[linux/amd64->arm/v7 build 2/5] COPY . .").unwrap();
        assert_eq!(v7.target, Some(p("linux/arm/v7")));
        let plain = StepName::parse("[linux/arm64 3/3] RUN [\"/bin/busybox\", \"sh\"]").unwrap();
        assert_eq!(
            (plain.runs_on.clone(), plain.stage.clone()),
            (Some(p("linux/arm64")), None)
        );
        let single = StepName::parse("[build 2/4] RUN make").unwrap();
        assert_eq!(
            (single.runs_on, single.stage.as_deref()),
            (None, Some("build"))
        );
        assert_eq!(
            StepName::parse("[internal] load build definition from Dockerfile"),
            None
        );
        assert_eq!(StepName::parse("exporting to image"), None);
    }

    /// The profile of one solve of `platforms` on an amd64 builder, with [`DOCKERFILE`].
    fn on_amd64(platforms: &[Platform], steps: &[StepTime]) -> Profile {
        profile(
            DOCKERFILE,
            &[Solve {
                node: None,
                own: Some(&p("linux/amd64")),
                platforms,
                steps,
            }],
        )
    }

    const DOCKERFILE: &str = "FROM --platform=$BUILDPLATFORM base AS tools\n\
        ARG TARGETARCH\n\
        RUN make tools\n\
        FROM base\n\
        ENV A=1\n\
        COPY --from=tools /t /t\n\
        RUN cargo build --release\n";

    #[test]
    fn a_profile_splits_each_platform_by_how_its_steps_ran_and_finds_their_lines() {
        let amd64 = p("linux/amd64");
        let steps = [
            time(
                "[internal] load build definition from Dockerfile",
                0.0,
                0.1,
                false,
            ),
            time(
                "[linux/amd64->arm64 tools 2/2] RUN make tools",
                1.0,
                4.0,
                false,
            ),
            time("[linux/amd64 tools 2/2] RUN make tools", 1.0, 4.0, true),
            time(
                "[linux/arm64 stage-1 2/3] COPY --from=tools /t /t",
                5.0,
                0.5,
                false,
            ),
            time(
                "[linux/arm64 stage-1 3/3] RUN cargo build --release",
                5.5,
                100.0,
                false,
            ),
            time(
                "[linux/amd64 stage-1 3/3] RUN cargo build --release",
                5.5,
                10.0,
                false,
            ),
        ];
        let platforms = [amd64.clone(), p("linux/arm64")];
        let profile = on_amd64(&platforms, &steps);
        let [x86, arm] = &profile.platforms[..] else {
            panic!("two platforms: {profile:?}");
        };
        assert_eq!(
            (x86.cached_steps, x86.native_seconds, x86.emulated_seconds),
            (1, 10.0, 0.0)
        );
        assert_eq!(arm.cross_seconds, 4.0);
        assert_eq!(arm.native_seconds, 0.5, "COPY is BuildKit's own work");
        assert_eq!(arm.emulated_seconds, 100.0);
        assert_eq!(arm.wall_seconds, 104.5);
        let compile = arm.steps.last().unwrap();
        assert_eq!((compile.how, compile.line), (How::Emulated, Some(7)));
        assert_eq!(compile.emulator.as_deref(), Some("qemu-aarch64"));
        assert_eq!(arm.steps[0].line, Some(3), "the tools stage's RUN");
        let [hint] = &profile.hints[..] else {
            panic!("one hint: {:?}", profile.hints);
        };
        assert_eq!(hint.line, Some(7));
        assert_eq!(
            hint.saving_seconds,
            Some(90.0),
            "100 s emulated against 10 s native"
        );
        assert!(
            hint.advice.contains("--platform=$BUILDPLATFORM")
                && hint.advice.contains("cargo build --target"),
            "{}",
            hint.advice
        );
    }

    #[test]
    fn an_emulated_step_that_builds_nothing_or_costs_little_gets_no_hint() {
        let platforms = [p("linux/arm64")];
        let steps = [
            time(
                "[linux/arm64 stage-1 3/3] RUN cargo build --release",
                0.0,
                1.0,
                false,
            ),
            time(
                "[linux/arm64 stage-1 2/3] RUN apt-get install -y curl",
                1.0,
                60.0,
                false,
            ),
        ];
        let profile = on_amd64(&platforms, &steps);
        assert!(profile.hints.is_empty(), "{:?}", profile.hints);
    }

    #[test]
    fn a_stage_pinned_to_a_platform_nobody_asked_for_is_named_with_its_emulator() {
        // A single-platform solve: BuildKit's names carry no platform, the Dockerfile's
        // pins say where each stage ran.
        let dockerfile = "FROM --platform=linux/arm64 base AS tools\n\
            RUN make tools\n\
            FROM tools AS more\n\
            RUN strip /t\n\
            FROM --platform=$BUILDPLATFORM base AS fetch\n\
            RUN wget -O /f http://example.com/f\n\
            FROM base\n\
            COPY --from=more /t /t\n\
            RUN cargo build --release\n";
        let steps = [
            time("[tools 2/2] RUN make tools", 0.0, 30.0, false),
            time("[more 2/2] RUN strip /t", 30.0, 2.0, false),
            time(
                "[fetch 2/2] RUN wget -O /f http://example.com/f",
                0.0,
                1.0,
                false,
            ),
            time("[stage-3 3/3] RUN cargo build --release", 32.0, 8.0, false),
        ];
        let platforms = [p("linux/amd64")];
        let profile = profile(
            dockerfile,
            &[Solve {
                node: None,
                own: Some(&p("linux/amd64")),
                platforms: &platforms,
                steps: &steps,
            }],
        );
        let [amd64] = &profile.platforms[..] else {
            panic!("one platform: {profile:?}");
        };
        let how = |says: &str| {
            let step = amd64
                .steps
                .iter()
                .find(|s| s.instruction.contains(says))
                .unwrap();
            (step.how, step.runs_on.as_str())
        };
        assert_eq!(how("make tools"), (How::Emulated, "linux/arm64"));
        assert_eq!(how("strip"), (How::Emulated, "linux/arm64"), "inherited");
        assert_eq!(how("wget"), (How::Native, "linux/amd64"), "$BUILDPLATFORM");
        assert_eq!(how("cargo build"), (How::Native, "linux/amd64"));
        let named: Vec<(&str, Option<usize>, Option<&str>)> = profile
            .unasked
            .iter()
            .map(|u| (u.runs_on.as_str(), u.line, u.emulator.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("linux/arm64", Some(2), Some("qemu-aarch64")),
                ("linux/arm64", Some(4), Some("qemu-aarch64"))
            ]
        );
        assert_eq!(
            profile.hints.len(),
            1,
            "`make` under QEMU: {:?}",
            profile.hints
        );
    }

    #[test]
    fn emulating_a_platform_the_build_asked_for_is_not_unasked() {
        let steps = [time(
            "[linux/arm64 stage-1 3/3] RUN cargo build --release",
            0.0,
            100.0,
            false,
        )];
        let profile = on_amd64(&[p("linux/amd64"), p("linux/arm64")], &steps);
        assert_eq!(profile.platforms[1].emulated_seconds, 100.0);
        assert!(profile.unasked.is_empty(), "{:?}", profile.unasked);
    }

    #[rstest::rstest]
    #[case("RUN go build -o /out ./cmd/server", "GOARCH")]
    #[case("RUN CGO_ENABLED=0 /usr/local/go/bin/go install ./...", "GOARCH")]
    #[case("RUN ./configure && make -j4", "cross C toolchain")]
    #[case("RUN npm ci --omit=dev", "npm ci --cpu")]
    #[case("RUN pip install --no-cache-dir -r requirements.txt", "wheels")]
    #[case("RUN dotnet publish -c Release -o /app", "dotnet publish -r")]
    #[case("RUN ./gradlew bootJar", "JVM bytecode")]
    fn each_compiler_gets_its_own_rewrite(#[case] instruction: &str, #[case] says: &str) {
        let advice = advice(instruction, "linux/arm64").expect("a compile");
        assert!(
            advice.contains(says) && advice.contains("--node"),
            "{advice}"
        );
    }

    #[rstest::rstest]
    #[case("RUN apt-get update && apt-get install -y ca-certificates")]
    #[case("RUN echo cargo")]
    #[case("RUN [\"/bin/busybox\", \"uname\", \"-m\"]")]
    fn commands_that_compile_nothing_get_no_advice(#[case] instruction: &str) {
        assert_eq!(advice(instruction, "linux/arm64"), None);
    }
}
