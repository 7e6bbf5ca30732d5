// Package bench holds netsplice's in-process workloads, shared by the Go
// benchmarks (go test -bench) and by `netsplice bench`, which prints one
// JSON object per workload and configuration. Peer stacks (gVisor's
// netstack) live in separate modules under bench/peers so that the main
// module does not depend on them.
package bench
