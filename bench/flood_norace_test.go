//go:build !race

package bench

// testFloodPPS is TestSynFloodEstablishedSurvive's flood rate and
// testFloodMinSYNs the least it must send in the measured second.
const testFloodPPS, testFloodMinSYNs = 100_000, 10_000
