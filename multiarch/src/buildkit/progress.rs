//! BuildKit's status stream, told the way `docker buildx build --progress plain` tells it.
//!
//! BuildKit reports a build as a graph of vertices (`[linux/arm64 build 2/3] RUN ...`),
//! each started, cached, completed or failed, with sub-statuses (bytes transferred) and
//! log lines. People know buildx's rendering of it: a number per step in the order the
//! steps appear, `#N CACHED`, `#N DONE 1.2s`, the step's own output, and `#N ERROR`.
//! [`Progress`] turns each status message into those lines; it keeps no terminal state,
//! so it serves terminals and logs alike, and it remembers the first failing step's
//! message for the error at the end.

use std::collections::{HashMap, HashSet};

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{StatusResponse, Vertex};

use crate::buildkit::profile::StepTime;

/// What has been said about the build so far.
#[derive(Debug, Default)]
pub struct Progress {
    numbers: HashMap<String, usize>,
    announced: HashSet<String>,
    finished: HashSet<String>,
    statuses_done: HashSet<String>,
    failure: Option<String>,
    times: Vec<StepTime>,
}

impl Progress {
    /// The lines to print for one status message.
    pub fn lines(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut lines = Vec::new();
        for vertex in &status.vertexes {
            self.vertex_lines(vertex, &mut lines);
        }
        for sub in &status.statuses {
            let Some(&number) = self.numbers.get(&sub.vertex) else {
                continue;
            };
            if sub.completed.is_some() && self.statuses_done.insert(sub.id.clone()) {
                let amount = if sub.total > 0 {
                    format!(" {}", human_bytes(sub.total))
                } else if sub.current > 0 {
                    format!(" {}", human_bytes(sub.current))
                } else {
                    String::new()
                };
                lines.push(format!("#{number} {}{amount} done", sub.id));
            }
        }
        for log in &status.logs {
            let Some(&number) = self.numbers.get(&log.vertex) else {
                continue;
            };
            let text = String::from_utf8_lossy(&log.msg);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                lines.push(format!("#{number} {line}"));
            }
        }
        for warning in &status.warnings {
            lines.push(format!(
                "WARNING: {}",
                String::from_utf8_lossy(&warning.short).trim()
            ));
        }
        lines
    }

    fn vertex_lines(&mut self, vertex: &Vertex, lines: &mut Vec<String>) {
        let next = self.numbers.len() + 1;
        let number = *self.numbers.entry(vertex.digest.clone()).or_insert(next);
        if self.announced.insert(vertex.digest.clone()) {
            lines.push(format!("#{number} {}", vertex.name));
        }
        if self.finished.contains(&vertex.digest) {
            return;
        }
        if !vertex.error.is_empty() {
            self.finished.insert(vertex.digest.clone());
            lines.push(format!("#{number} ERROR: {}", vertex.error));
            // The first failing step is the cause; later ones are cancelled because of it.
            if self.failure.is_none() && !vertex.error.contains("context canceled") {
                self.failure = Some(format!("{}: {}", vertex.name, vertex.error));
            }
        } else if vertex.cached {
            self.finished.insert(vertex.digest.clone());
            lines.push(format!("#{number} CACHED"));
            self.times.push(StepTime {
                name: vertex.name.clone(),
                start: vertex.started.as_ref().map_or(0.0, epoch_seconds),
                seconds: 0.0,
                cached: true,
            });
        } else if let Some(completed) = &vertex.completed {
            self.finished.insert(vertex.digest.clone());
            let seconds = vertex
                .started
                .as_ref()
                .map_or(0.0, |started| seconds_between(started, completed));
            lines.push(format!("#{number} DONE {seconds:.1}s"));
            self.times.push(StepTime {
                name: vertex.name.clone(),
                start: vertex.started.as_ref().map_or(0.0, epoch_seconds),
                seconds,
                cached: false,
            });
        }
    }

    /// The failing step and BuildKit's message for it, once a step has failed.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The steps that finished, with their times, in the order they finished.
    pub fn times(&self) -> &[StepTime] {
        &self.times
    }

    /// How many steps BuildKit reported.
    #[cfg(test)]
    pub fn steps(&self) -> usize {
        self.numbers.len()
    }
}

fn epoch_seconds(at: &Timestamp) -> f64 {
    at.seconds as f64 + f64::from(at.nanos) / 1e9
}

fn seconds_between(start: &Timestamp, end: &Timestamp) -> f64 {
    let nanos = (end.seconds - start.seconds) as f64 * 1e9 + f64::from(end.nanos - start.nanos);
    (nanos / 1e9).max(0.0)
}

/// `3.2MB`, as buildx writes sizes.
fn human_bytes(bytes: i64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1e9 {
        format!("{:.2}GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.2}MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.2}kB", bytes / 1e3)
    } else {
        format!("{bytes}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::{VertexLog, VertexStatus};

    fn at(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn steps_are_numbered_in_order_and_told_once() {
        let mut progress = Progress::default();
        let started = Vertex {
            started: at(10, 0),
            ..vertex("sha256:a", "[linux/arm64 1/2] COPY a /a")
        };
        let cached = Vertex {
            cached: true,
            ..vertex("sha256:b", "[linux/amd64 1/2] COPY a /a")
        };
        let lines = progress.lines(&StatusResponse {
            vertexes: vec![started.clone(), cached.clone()],
            ..Default::default()
        });
        assert_eq!(
            lines,
            [
                "#1 [linux/arm64 1/2] COPY a /a",
                "#2 [linux/amd64 1/2] COPY a /a",
                "#2 CACHED"
            ]
        );
        let done = Vertex {
            completed: at(11, 500_000_000),
            ..started
        };
        let lines = progress.lines(&StatusResponse {
            vertexes: vec![done.clone(), cached],
            statuses: vec![VertexStatus {
                id: "transferring context".into(),
                vertex: "sha256:a".into(),
                total: 3_200_000,
                completed: at(11, 0),
                ..Default::default()
            }],
            logs: vec![VertexLog {
                vertex: "sha256:a".into(),
                msg: b"hello\n\nworld\n".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(
            lines,
            [
                "#1 DONE 1.5s",
                "#1 transferring context 3.20MB done",
                "#1 hello",
                "#1 world"
            ]
        );
        // The same completion again says nothing new.
        let lines = progress.lines(&StatusResponse {
            vertexes: vec![done],
            ..Default::default()
        });
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(progress.steps(), 2);
        assert_eq!(progress.failure(), None);
    }

    #[test]
    fn the_first_real_error_is_the_failure() {
        let mut progress = Progress::default();
        let failed = Vertex {
            error: "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"
                .into(),
            ..vertex("sha256:a", "[build 2/2] RUN false")
        };
        let cancelled = Vertex {
            error: "context canceled".into(),
            ..vertex("sha256:b", "[linux/arm64 build 2/2] RUN false")
        };
        let lines = progress.lines(&StatusResponse {
            vertexes: vec![cancelled, failed],
            ..Default::default()
        });
        assert_eq!(lines[1], "#1 ERROR: context canceled");
        assert_eq!(
            progress.failure(),
            Some(
                "[build 2/2] RUN false: process \"/bin/sh -c false\" did not complete successfully: exit code: 1"
            )
        );
    }
}
