package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsplice/netsplice/stack"
)

// tcpConns is the stack's TCP connections by state, per softnet.
var tcpConns = desc("tcp_connections", "TCP connections by RFC 9293 state (every state but CLOSED), per softnet.", "softnet", "state")

// tcpStateCollector reads Stack.TCPStates at scrape time: counts the
// softnets keep as connections change state, not a walk of the flow
// tables.
type tcpStateCollector struct{ st *stack.Stack }

func (c *tcpStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tcpConns }

func (c *tcpStateCollector) Collect(ch chan<- prometheus.Metric) {
	for i := 0; i < c.st.NumSoftnets(); i++ {
		sn := strconv.Itoa(i)
		for _, s := range c.st.TCPStates(i) {
			gauge(ch, tcpConns, float64(s.Conns), sn, s.State)
		}
	}
}
