//go:build !windows

// The docs are checked once, on the host: the Windows test binary runs
// under Wine outside the checkout.

package execengine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README and docs/ stand alone: every relative link names a file in
// the repository, and nothing points outside it.
func TestDocsStandAlone(t *testing.T) {
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "README.md", "BENCHMARKS.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "../shared") {
			t.Errorf("%s points at ../shared, which a user does not have", page)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path := filepath.Join(filepath.Dir(page), target)
			if rel, err := filepath.Rel(".", path); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links to %s, outside the repository", page, m[1])
			} else if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s: %v", page, m[1], err)
			}
		}
	}
}

// `go run` reports every non-zero exit as 1, so an example that shows an
// exit code runs the built binary.
func TestReadmeExitCodeExamplesUseBinary(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	showsCode := regexp.MustCompile(`\$\?|#.*\bexit (code )?[0-9]+`)
	inCode, checked := false, 0
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode || !showsCode.MatchString(line) {
			continue
		}
		checked++
		if strings.Contains(line, "go run") {
			t.Errorf("README.md:%d shows an exit code through go run: %s", i+1, line)
		}
	}
	if checked == 0 {
		t.Error("no example in README.md shows an exit code; this test checks nothing")
	}
}

// The README's first example is the program a new user pastes: it
// builds and prints what its comments say.
func TestReadmeExampleRuns(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(b), 2)
	if len(blocks) < 2 || !strings.Contains(blocks[1][1], "engine.Run(ctx") {
		t.Fatal("README.md: the second Go block is not the Run example")
	}
	src := "package main\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\t\"log\"\n\t\"time\"\n\n" +
		"\t\"github.com/escher-dbai/execengine\"\n)\n\nfunc main() {\n" + blocks[1][1] + "}\n"
	file := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go run of the README example: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`^live: fetching\nlive: done\ncompleted in [0-9.]+[µm]?s: "fetching\\ndone\\n"\n$`)
	if !want.Match(out) {
		t.Fatalf("the README example printed %q", out)
	}
}
