//go:build !windows

package execengine

import (
	"os"
	"path/filepath"
)

// defaultShell runs a Shell that names none.
const defaultShell = "bash"

// pathSeparators: a program name with one of these is a path, not looked up.
const pathSeparators = "/"

// requestPath returns the PATH the request's environment sets, if any.
func requestPath(env map[string]string) (string, bool) {
	p, ok := env["PATH"]
	return p, ok
}

// platformScript: on unix a script is run by its shebang or by extension
// (see scriptArgv); nothing is special.
func platformScript(string) []string { return nil }

// lookPathIn finds an executable named file in the directories of path.
func lookPathIn(file, path string, _ map[string]string) (string, bool) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // like exec.LookPath, never the current directory
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
