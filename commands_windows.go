//go:build windows

package execengine

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// defaultShell runs a Shell that names none: every Windows has cmd.exe.
const defaultShell = "cmd.exe"

// pathSeparators: a program name with one of these is a path, not looked up.
const pathSeparators = `/\:`

// envValue returns the value of key in env, matching names in any case, as
// Windows does (PATH is often spelled Path).
func envValue(env map[string]string, key string) (string, bool) {
	if v, ok := env[key]; ok {
		return v, true
	}
	for k, v := range env {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// requestPath returns the PATH the request's environment sets, if any.
func requestPath(env map[string]string) (string, bool) { return envValue(env, "PATH") }

// platformScript picks how Windows runs a script by its extension: batch
// files through cmd, PowerShell scripts through powershell, programs
// directly, Python through the py launcher (python when there is none).
// Others fall through to the portable rules (.sh bash, .js node, …), and
// an unknown extension is given to CreateProcess as it is.
func platformScript(path string) []string {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".bat", ".cmd":
		return []string{"cmd.exe", "/d", "/s", "/c", `"` + path + `"`}
	case ".ps1":
		return []string{"powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", path}
	case ".exe", ".com":
		return []string{path}
	case ".py":
		if _, err := exec.LookPath("py"); err == nil {
			return []string{"py", "-3", path}
		}
		return []string{"python", path}
	}
	if scriptInterpreters[ext] != "" {
		return nil
	}
	return []string{path}
}

// isCmdExe reports whether program names cmd.exe.
func isCmdExe(program string) bool { return shellName(program) == "cmd" }

// lookPathIn finds the program file in the directories of path, trying the
// extensions of PATHEXT (the request's, else this process's) when file
// has none of them, as cmd.exe and exec.LookPath do.
func lookPathIn(file, path string, env map[string]string) (string, bool) {
	pathext, ok := envValue(env, "PATHEXT")
	if !ok {
		pathext = os.Getenv("PATHEXT")
	}
	var exts []string
	for _, e := range strings.Split(strings.ToLower(pathext), ";") {
		if e != "" && e[0] == '.' {
			exts = append(exts, e)
		}
	}
	if len(exts) == 0 {
		exts = []string{".com", ".exe", ".bat", ".cmd"}
	}
	names := []string{file}
	if ext := strings.ToLower(filepath.Ext(file)); ext == "" || !slices.Contains(exts, ext) {
		names = names[:0]
		for _, e := range exts {
			names = append(names, file+e)
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // like exec.LookPath, never the current directory
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, true
			}
		}
	}
	return "", false
}
