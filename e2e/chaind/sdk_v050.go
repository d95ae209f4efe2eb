//go:build sdk050

package main

// The genesis line: registers no upgrade handler.
const upgradeHandlerName = ""
