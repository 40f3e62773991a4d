package execengine

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv names the helper command the test binary runs as, when set: the
// binary itself is the portable child program of the tests (the os/exec
// tests' helper-process pattern), so they need no shell or coreutils.
const helperEnv = "EXECENGINE_TEST_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		h, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "no helper %q\n", name)
			os.Exit(2)
		}
		os.Exit(h(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helpers are the commands the test binary runs as a child. Platform files
// add their own in init.
var helpers = map[string]func(args []string) int{
	// echo prints its arguments on stdout and "err" on stderr.
	"echo": func(args []string) int {
		fmt.Println(strings.Join(args, " "))
		fmt.Fprintln(os.Stderr, "err")
		return 0
	},
	// exit exits with the code args[0].
	"exit": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		return n
	},
	// sleep sleeps for the duration args[0], then prints "slept".
	"sleep": func(args []string) int {
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		fmt.Println("slept")
		return 0
	},
	// tree starts a grandchild that sleeps a minute holding stdout and
	// stderr, prints "grandchild <pid>" and args[1] (if given) lines of
	// spew, then hangs (args[0] "hang") or exits 0 (args[0] "exit").
	"tree": func(args []string) int {
		gc := helperCmd("sleep", "60s")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start grandchild:", err)
			return 3
		}
		fmt.Printf("grandchild %d\n", gc.Process.Pid)
		if len(args) > 1 {
			spew(args[1:])
		}
		if args[0] == "hang" {
			time.Sleep(time.Minute)
		}
		return 0
	},
	// stdin prints os.DevNull when its stdin is the null device (the same
	// file), else stdin's mode.
	"stdin": func([]string) int {
		in, err := os.Stdin.Stat()
		if err != nil {
			fmt.Println("stdin:", err)
			return 1
		}
		if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(in, null) {
			fmt.Println(os.DevNull)
		} else {
			fmt.Println("stdin is", in.Mode(), err)
		}
		return 0
	},
	// spew writes args[0] lines of 99 'x' and a newline to stdout.
	"spew": spew,
	// touch creates the file args[0]: proof that the process ran.
	"touch": func(args []string) int {
		if err := os.WriteFile(args[0], nil, 0o600); err != nil {
			return 1
		}
		return 0
	},
}

func spew(args []string) int {
	n, _ := strconv.Atoi(args[0])
	line := strings.Repeat("x", 99) + "\n"
	for range n {
		os.Stdout.WriteString(line)
	}
	return 0
}

// helperCmd is an exec.Cmd running the test binary as helper name.
func helperCmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(testBinary(), args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	return cmd
}

// helperReq is a request running the test binary as helper name.
func helperReq(name string, args ...string) Request {
	return Request{
		Command: Exec{Program: testBinary(), Args: args},
		Env:     map[string]string{helperEnv: name},
	}
}

func testBinary() string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}

// tempDir is t.TempDir with a cleanup that removes file by file, deepest
// first: under Wine os.RemoveAll fails on a directory that is not empty
// (FileDispositionInformationEx is not implemented), so t.TempDir's own
// cleanup fails the test.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "execengine-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				paths = append(paths, p)
			}
			return nil
		})
		slices.Reverse(paths) // children before their directory
		for _, p := range paths {
			if err := os.Remove(p); err != nil {
				t.Errorf("remove %s: %v", p, err)
			}
		}
	})
	return dir
}

// The test binary as a child, on every platform: exact output, exit code,
// and a log file in a directory tempDir removes.
func TestHelperProcessChild(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EnableAutoCleanup, cfg.LogDir = false, tempDir(t)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Run(ctx, helperReq("echo", "a b"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCompleted || res.Stdout != "a b\n" || res.Stderr != "err\n" {
		t.Fatalf("echo: %s %q %q %s", res.Status, res.Stdout, res.Stderr, res.Error)
	}
	res, err = e.Run(ctx, helperReq("exit", "7"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 || res.Status != StatusFailed {
		t.Fatalf("exit 7: %s exit code %d", res.Status, res.ExitCode)
	}
	if _, err := os.Stat(filepath.Join(cfg.LogDir, res.ID.String()+".log")); err != nil {
		t.Fatal(err)
	}
}
