#!/bin/sh
# Generic CI step for a repository of riskwall policies (GitLab CI, Jenkins, Buildkite, a Makefile ...).
# Exit status: 0 when the policy is valid and every test case passes, non-zero otherwise.
#
#   pip install "riskwall @ git+https://github.com/your-org/riskwall@v0.1.0"
#   sh ci.sh policies/
set -eu
policy_dir="${1:-policies/}"

riskwall policy check "$policy_dir"
riskwall policy test "$policy_dir"

# Optional, informational: what the policy would have blocked in a recorded capture (never fails the build).
if [ -n "${RISKWALL_CAPTURE:-}" ]; then
    riskwall replay --policy "$policy_dir" "$RISKWALL_CAPTURE"
fi
