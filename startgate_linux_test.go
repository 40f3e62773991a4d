package execengine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	// burst lowers its fd limit to args[0], submits args[1] × `sleep 60`
	// at once and prints "running N" once all run, or the first failure.
	helpers["burst"] = func(args []string) int {
		limit, _ := strconv.ParseUint(args[0], 10, 64)
		n, _ := strconv.Atoi(args[1])
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			fmt.Println("setrlimit:", err)
			return 2
		}
		cfg := DefaultConfig()
		cfg.MaxConcurrentExecutions = n
		e, err := New(cfg)
		if err != nil {
			fmt.Println(err)
			return 2
		}
		defer e.Close()
		for range n {
			if _, err := e.Execute(context.Background(), Request{Command: Exec{Program: "sleep", Args: []string{"60"}}}); err != nil {
				fmt.Println("execute:", err)
				return 1
			}
		}
		deadline := time.Now().Add(time.Minute)
		for {
			st := e.Stats()
			if st.Running == int64(n) {
				fmt.Printf("running %d\n", n)
				return 0
			}
			if st.Failed > 0 {
				var first string
				e.execs.Range(func(_, v any) bool {
					x := v.(*execution)
					x.mu.Lock()
					defer x.mu.Unlock()
					if x.result != nil {
						first = x.result.Error
						return false
					}
					return true
				})
				fmt.Printf("%d running, %d failed: %s\n", st.Running, st.Failed, first)
				return 1
			}
			if time.Now().After(deadline) {
				fmt.Printf("%d running after a minute\n", st.Running)
				return 1
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A burst of executions submitted at once all start under an fd limit that
// leaves room for 3 fds per running execution but not for 4 per execution
// waiting to fork: pipes are opened only by the few about to start.
func TestStartBurstWithinFDLimit(t *testing.T) {
	t.Parallel()
	cmd := helperCmd("burst", "1024", "300")
	cmd.Stderr = os.Stderr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("the burst helper did not finish in 2 minutes")
	}
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "running 300\n", string(out))
}
