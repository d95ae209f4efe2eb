//go:build sdk053

package main

// v0.53 runs the governance upgrade from the v0.50 chain.
const upgradeHandlerName = "v050-to-v053"
