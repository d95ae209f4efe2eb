//go:build !sdk050 && !sdk053 && !sdk054

package main

// Build with exactly one of the tags sdk050, sdk053, sdk054 (e2e/build-binaries.sh does).
var _ = chaind_needs_one_build_tag_sdk050_sdk053_or_sdk054
