//go:build race

package stack

// raceEnabled tells tests to scale down work the race detector slows.
const raceEnabled = true
