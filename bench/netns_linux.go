package main

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// nsThread is an OS thread inside a network namespace of its own, made for
// this run; functions given to Do run there. The namespace goes away with
// the thread when Close ends it (the thread is never unlocked, so the
// runtime ends it rather than reusing it elsewhere).
type nsThread struct {
	calls chan func()
	done  chan struct{}
}

func newNSThread() (*nsThread, error) {
	t := &nsThread{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer close(t.done)
		ns, err := netns.New()
		if err != nil {
			ready <- fmt.Errorf("create network namespace: %w", err)
			return
		}
		defer ns.Close()
		ready <- nil
		for fn := range t.calls {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

// Do runs fn in the namespace and returns its error.
func (t *nsThread) Do(fn func() error) error {
	var err error
	finished := make(chan struct{})
	t.calls <- func() {
		defer close(finished)
		err = fn()
	}
	<-finished
	return err
}

func (t *nsThread) Close() {
	close(t.calls)
	<-t.done
}
