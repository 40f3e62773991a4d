package execengine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// outputLog writes the lines of both streams to the execution's log files.
type outputLog struct {
	mu    sync.Mutex
	w     *bufio.Writer
	files []*os.File
	ts    []byte // the formatted time of the batch being written
	err   error
}

// openLog opens the execution's log files; nil when it has none. It never
// blocks: a FIFO without a reader fails at once, and only regular files
// are written, never through a symbolic link.
func openLog(paths []string) (*outputLog, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	l := &outputLog{}
	var ws []io.Writer
	for _, p := range paths {
		f, err := openPrivate(p)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("open log: %w", err)
		}
		l.files = append(l.files, f)
		ws = append(ws, f)
	}
	l.w = bufio.NewWriterSize(io.MultiWriter(ws...), 32<<10)
	return l, nil
}

// openPrivate opens path to append, creating it (and its directory) for
// the engine's user only, and makes an existing file private too.
func openPrivate(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|openNoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%q is %s, not a regular file", path, fileKind(fi.Mode()))
	}
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkLogTarget refuses a log path that exists and is not a regular file
// (a FIFO would block the start, a symlink would redirect the output).
func checkLogTarget(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return nil // made when the execution starts; an error then is reported there
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q is %s, not a regular file", path, fileKind(fi.Mode()))
	}
	return nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// privateDir makes dir (mode 0700) if it is missing, and refuses one that
// other users can write: they could plant <id>.log there. The engine does
// not change the mode of a directory it did not make (it may be shared,
// like /tmp).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("not a directory")
	}
	if groupOrOtherWritable(fi) {
		return fmt.Errorf("writable by other users (mode %v): make it private (chmod 700) or choose another", fi.Mode().Perm())
	}
	return nil
}

// stamp formats the time of the batch about to be written, once for all
// its lines; l.mu is held.
func (l *outputLog) stamp(t time.Time) {
	l.ts = t.UTC().AppendFormat(l.ts[:0], time.RFC3339Nano)
}

// writeLocked writes "<RFC 3339 time> <stream> <line>"; l.mu is held.
func (l *outputLog) writeLocked(kind EventType, line []byte) {
	l.w.Write(l.ts)
	l.w.WriteByte(' ')
	l.w.WriteString(string(kind))
	l.w.WriteByte(' ')
	l.w.Write(line)
	if err := l.w.WriteByte('\n'); err != nil && l.err == nil {
		l.err = err
	}
}

func (l *outputLog) close() error {
	if l == nil {
		return nil
	}
	var err error
	if l.w != nil {
		err = l.w.Flush()
	}
	for _, f := range l.files {
		err = errors.Join(err, f.Close())
	}
	if err == nil {
		err = l.err
	}
	return err
}
