package execengine

import (
	"context"
	"errors"
	"os"
)

// loginShellPath returns this process's PATH: Windows gives every process
// the user's PATH from the registry, whether it was started from Explorer,
// the Start menu or a console.
func loginShellPath(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if p := os.Getenv("PATH"); p != "" {
		return p, nil
	}
	return "", errors.New("execengine: PATH is not set in this process's environment")
}
