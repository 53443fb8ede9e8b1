//! What a platform's SLSA provenance (BuildKit's, v0.2 or v1) says of where it was built:
//! the platform the builder ran on, and, from a `mode=max` statement, which `RUN` steps ran
//! for another platform than the image's (a stage on `$BUILDPLATFORM`: cross) and which
//! ran the image's own code on a builder of another CPU (emulated). A `mode=min`
//! statement names the builder only, so cross and emulated cannot be told apart from it.

use serde::Serialize;
use serde_json::Value;

use multiarch_platform::Platform;

/// What one provenance statement says of the build of `platform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The platform the builder ran on.
    pub built_on: Option<Platform>,
    /// Its steps, from a `mode=max` statement (`None`: `mode=min`, which lists none).
    pub steps: Option<StepsRun>,
}

/// The `RUN` steps of a `mode=max` statement, by where their code ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepsRun {
    /// Every `RUN` step it lists.
    pub total: usize,
    /// Steps that ran code of another platform than the image's: a stage pinned to
    /// the build platform, compiling for the image's (cross).
    pub other_platform: Vec<ProvenanceStep>,
    /// Steps that ran the image's own platform's code on a builder of another: under an
    /// emulator.
    pub emulated: Vec<ProvenanceStep>,
}

/// One `RUN` step named by a provenance statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenanceStep {
    /// The platform whose code it ran.
    pub platform: String,
    /// Its command, shortened.
    pub command: String,
    /// Its Dockerfile line, when the statement maps it.
    pub line: Option<u64>,
}

impl ProvenanceStep {
    /// `Dockerfile:12 cargo build --release`.
    pub fn describe(&self) -> String {
        match self.line {
            Some(line) => format!("Dockerfile:{line} `{}`", self.command),
            None => format!("`{}`", self.command),
        }
    }
}

/// Reads `statement` (an in-toto statement of SLSA provenance) for an image of
/// `platform`; `None` when it is no JSON object.
pub fn read(statement: &[u8], platform: &Platform) -> Option<Provenance> {
    let statement: Value = serde_json::from_slice(statement).ok()?;
    let predicate = statement.get("predicate")?;
    // SLSA v0.2 and v1 keep the same facts under different names.
    let built_on = predicate["invocation"]["environment"]["platform"]
        .as_str()
        .or_else(|| predicate["buildDefinition"]["internalParameters"]["builderPlatform"].as_str())
        .and_then(|p| p.parse().ok());
    let definition = predicate["buildConfig"]["llbDefinition"]
        .as_array()
        .or_else(|| {
            predicate["buildDefinition"]["internalParameters"]["buildConfig"]["llbDefinition"]
                .as_array()
        });
    let metadata = predicate["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]
        .as_object()
        .or_else(|| predicate["runDetails"]["metadata"]["buildkit_metadata"].as_object());
    let locations = metadata
        .and_then(|m| m.get("source"))
        .map(|s| &s["locations"]);
    let steps = definition.map(|steps| {
        let mut run = StepsRun::default();
        for step in steps {
            let Some(args) = step["op"]["Op"]["exec"]["meta"]["args"].as_array() else {
                continue;
            };
            run.total += 1;
            let Some(ran_for) = op_platform(&step["op"]["platform"]) else {
                continue;
            };
            let found = ProvenanceStep {
                platform: ran_for.to_string(),
                command: command(args),
                line: step["id"]
                    .as_str()
                    .and_then(|id| locations.map(|l| &l[id]))
                    .and_then(first_line),
            };
            if !same_cpu(&ran_for, platform) {
                run.other_platform.push(found);
            } else if built_on
                .as_ref()
                .is_some_and(|on: &Platform| !same_cpu(on, platform))
            {
                run.emulated.push(found);
            }
        }
        run
    });
    Some(Provenance { built_on, steps })
}

/// An LLB op's platform, as Go's JSON writes BuildKit's `pb.Platform`.
fn op_platform(value: &Value) -> Option<Platform> {
    let field = |upper: &str, lower: &str| {
        value[upper]
            .as_str()
            .or_else(|| value[lower].as_str())
            .filter(|s| !s.is_empty())
    };
    let os = field("OS", "os")?;
    let architecture = field("Architecture", "architecture")?;
    let text = match field("Variant", "variant") {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    };
    text.parse().ok()
}

/// Whether two platforms run the same code: arm64 and arm64/v8 are one CPU.
fn same_cpu(a: &Platform, b: &Platform) -> bool {
    a == b
        || (a.os() == b.os() && a.architecture() == b.architecture() && a.architecture() == "arm64")
}

/// The command a step ran: a shell's `-c` script, or the arguments, shortened.
fn command(args: &[Value]) -> String {
    let words: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
    let script = match words.iter().position(|w| *w == "-c") {
        Some(at) if at + 1 < words.len() => words[at + 1..].join(" "),
        _ => words.join(" "),
    };
    let script = script.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 60;
    if script.chars().count() > MAX {
        format!("{}...", script.chars().take(MAX).collect::<String>())
    } else {
        script
    }
}

/// The first line of a step's source locations (`{"locations":[{"ranges":[{"start":{"line":N}}]}]}`).
fn first_line(locations: &Value) -> Option<u64> {
    locations["locations"]
        .as_array()?
        .iter()
        .flat_map(|l| l["ranges"].as_array().into_iter().flatten())
        .find_map(|r| r["start"]["line"].as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `mode=max` statement as BuildKit writes it (SLSA v0.2), cut to what is read: a
    /// `$BUILDPLATFORM` stage's step, an arm64 step, and a file copy.
    const MAX_V02: &str = r#"{
      "predicateType": "https://slsa.dev/provenance/v0.2",
      "predicate": {
        "invocation": {"environment": {"platform": "linux/amd64"}},
        "buildConfig": {"llbDefinition": [
          {"id": "step0", "op": {"Op": {"source": {"identifier": "docker-image://x"}}, "platform": {"Architecture": "amd64", "OS": "linux"}}},
          {"id": "step1", "op": {"Op": {"exec": {"meta": {"args": ["/bin/sh", "-c", "GOARCH=arm64 go build  -o /out ."]}}}, "platform": {"Architecture": "amd64", "OS": "linux"}}},
          {"id": "step2", "op": {"Op": {"exec": {"meta": {"args": ["/bin/sh", "-c", "make all"]}}}, "platform": {"Architecture": "arm64", "OS": "linux"}}},
          {"id": "step3", "op": {"Op": {"file": {}}, "platform": {"Architecture": "arm64", "OS": "linux"}}}
        ]},
        "metadata": {"https://mobyproject.org/buildkit@v1#metadata": {"source": {"locations": {
          "step1": {"locations": [{"ranges": [{"start": {"line": 3}, "end": {"line": 3}}]}]},
          "step2": {"locations": [{"ranges": [{"start": {"line": 6}, "end": {"line": 6}}]}]}
        }}}}
      }
    }"#;

    #[test]
    fn a_max_statement_says_which_steps_ran_cross_and_which_emulated() {
        let read = read(MAX_V02.as_bytes(), &Platform::linux_arm64()).unwrap();
        assert_eq!(read.built_on, Some(Platform::linux_amd64()));
        let steps = read.steps.unwrap();
        assert_eq!(steps.total, 2, "file and source ops are no RUN steps");
        assert_eq!(steps.other_platform.len(), 1);
        assert_eq!(
            steps.other_platform[0].describe(),
            "Dockerfile:3 `GOARCH=arm64 go build -o /out .`"
        );
        assert_eq!(steps.other_platform[0].platform, "linux/amd64");
        assert_eq!(steps.emulated.len(), 1);
        assert_eq!(steps.emulated[0].describe(), "Dockerfile:6 `make all`");

        // The same build's amd64 image: its steps are its own, on its own CPU.
        let amd = read_for("linux/amd64");
        assert!(
            amd.other_platform.is_empty() && amd.emulated.is_empty(),
            "{amd:?}"
        );
    }

    fn read_for(platform: &str) -> StepsRun {
        // Every step of an amd64 build is amd64's: rewrite the arm64 step for it.
        let text = MAX_V02.replace("\"Architecture\": \"arm64\"", "\"Architecture\": \"amd64\"");
        read(text.as_bytes(), &platform.parse().unwrap())
            .unwrap()
            .steps
            .unwrap()
    }

    #[test]
    fn a_min_statement_names_the_builder_alone_in_either_slsa_version() {
        let v02 = br#"{"predicate":{"invocation":{"environment":{"platform":"linux/amd64"}}}}"#;
        let read_v02 = read(v02, &Platform::linux_arm64()).unwrap();
        assert_eq!(read_v02.built_on, Some(Platform::linux_amd64()));
        assert_eq!(read_v02.steps, None);
        let v1 = br#"{"predicate":{"buildDefinition":{"internalParameters":{"builderPlatform":"linux/arm64"}}}}"#;
        assert_eq!(
            read(v1, &Platform::linux_arm64()).unwrap().built_on,
            Some(Platform::linux_arm64())
        );
        assert_eq!(read(b"[]", &Platform::linux_arm64()), None);
    }

    #[test]
    fn a_v1_max_statement_is_read_from_its_own_places() {
        let v1 = r#"{"predicate":{
          "buildDefinition":{"internalParameters":{"builderPlatform":"linux/amd64","buildConfig":{"llbDefinition":[
            {"id":"step4","op":{"Op":{"exec":{"meta":{"args":["cargo","build","--release"]}}},"platform":{"Architecture":"arm","OS":"linux","Variant":"v7"}}}
          ]}}},
          "runDetails":{"metadata":{"buildkit_metadata":{"source":{"locations":{
            "step4":{"locations":[{"ranges":[{"start":{"line":9}}]}]}}}}}}}}"#;
        let steps = read(v1.as_bytes(), &"linux/arm/v7".parse().unwrap())
            .unwrap()
            .steps
            .unwrap();
        assert_eq!(steps.emulated.len(), 1);
        assert_eq!(
            steps.emulated[0].describe(),
            "Dockerfile:9 `cargo build --release`"
        );
        assert_eq!(steps.emulated[0].platform, "linux/arm/v7");
    }

    #[test]
    fn a_long_command_is_shortened() {
        let long = format!("echo {}", "x".repeat(100));
        let args = [Value::from("/bin/sh"), Value::from("-c"), Value::from(long)];
        assert_eq!(command(&args).chars().count(), 63);
    }
}
