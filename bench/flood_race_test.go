//go:build race

package bench

// testFloodPPS is TestSynFloodEstablishedSurvive's flood rate and
// testFloodMinSYNs the least its measurement must see sent: the
// race detector slows the relay's answer to each SYN some tenfold.
const testFloodPPS, testFloodMinSYNs = 5_000, 2_500
