//go:build !race

package bench

// testFloodPPS is TestSynFloodEstablishedSurvive's flood rate and
// testFloodMinSYNs the least its measurement must see sent.
const testFloodPPS, testFloodMinSYNs = 100_000, 10_000
