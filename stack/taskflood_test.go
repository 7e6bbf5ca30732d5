package stack

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack/task"
)

// TestTaskFloodLosesNoWriteOrFIN drives a softnet's task queue far past
// what the old bounded ring held (4096 entries) while the application
// writes and shuts down its side: the softnet is held in a task, 100,000
// other tasks pile up behind it, then Write and CloseWrite queue theirs.
// The old queue refused them: Write waited forever for a task that was
// never queued, and a FIN could be lost. Every byte and the FIN must
// arrive, and every flooding task must run once.
func TestTaskFloodLosesNoWriteOrFIN(t *testing.T) {
	p := newPair(t, pairConfig{start: true, poll: PollAdaptive})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:9"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			got <- nil
			return
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:9"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	sn := c.Softnet()
	before := sn.Tasks().Stats()

	release := make(chan struct{})
	held := make(chan struct{})
	hold := task.New(func() { close(held); <-release })
	sn.Add(hold, nil)
	<-held
	const flood = 100000
	ran := 0
	tasks := make([]*task.Task, flood)
	for i := range tasks {
		tasks[i] = task.New(func() { ran++ }) // runs on the softnet only
		sn.Add(tasks[i], nil)
	}
	data := bytes.Repeat([]byte("netsplice"), 100000)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		wrote <- err
	}()
	// Write and CloseWrite queue behind the flood while the softnet is
	// held (Write blocks until its task has run: give it time to queue).
	waitFor(t, 5*time.Second, "the write task to queue", func() bool { return c.writeT.Queued() })
	close(release)
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, data) {
			t.Fatalf("peer got %d of %d bytes (or altered) before EOF", len(b), len(data))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("data or FIN lost: the peer never saw EOF")
	}
	p.a.Call(sn, func() {})
	if ran != flood {
		t.Fatalf("%d of %d flooding tasks ran", ran, flood)
	}
	if added := sn.Tasks().Stats().Added - before.Added; added < flood+2 {
		t.Fatalf("queue took %d tasks, want at least %d", added, flood+2)
	}
}
