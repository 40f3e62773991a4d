package execengine

import (
	"context"
	"errors"
	"os"
	"testing"
)

// On Windows LoginShellPath is this process's PATH, and an error naming
// PATH when there is none; a done ctx is its error.
func TestWindowsLoginShellPath(t *testing.T) {
	want := os.Getenv("PATH")
	if want == "" {
		t.Fatal("the test process has no PATH")
	}
	got, err := LoginShellPath(context.Background())
	if err != nil || got != want {
		t.Fatalf("LoginShellPath = %q, %v; want %q, nil", got, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoginShellPath(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("LoginShellPath(cancelled ctx) error = %v, want context.Canceled", err)
	}
	t.Setenv("PATH", "")
	if _, err := LoginShellPath(context.Background()); err == nil || err.Error() != "execengine: PATH is not set in this process's environment" {
		t.Errorf("LoginShellPath without PATH: error = %v", err)
	}
}
