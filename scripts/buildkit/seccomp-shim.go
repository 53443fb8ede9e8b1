// Package seccomp stands in for github.com/moby/profiles/seccomp, which Debian does not
// package. BuildKit asks it only for Docker's default profile, which containerd ships too
// (contrib/seccomp, the same profile), so the stand-in is one call.
package seccomp

import (
	cdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// GetDefaultProfile returns the default seccomp profile for the spec's architecture.
func GetDefaultProfile(rs *specs.Spec) (*specs.LinuxSeccomp, error) {
	return cdseccomp.DefaultProfile(rs), nil
}
