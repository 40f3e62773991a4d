package execengine

import "context"

// LoginShellPath returns the PATH that the user's login shell sets up: the
// one a terminal would have. It is for desktop apps, which do not start
// from a terminal and so do not see the user's profile. A macOS app started
// from Finder or the Dock gets PATH /usr/bin:/bin:/usr/sbin:/sbin, so tools
// from Homebrew (aws in /opt/homebrew/bin or /usr/local/bin) are not found.
// Call it once at startup, then either os.Setenv("PATH", p), so that every
// execution and the engine's own program lookup use it, or put it in
// Request.Env["PATH"] of the executions that need it.
//
// On unix it runs $SHELL (or /bin/sh when SHELL is unset) as
// "$SHELL -l -c <command>", where the command prints PATH between two
// markers made for this call, so that whatever the profile prints itself is
// ignored. The shell runs in a session of its own with stdin on the null
// device, so a profile that prompts cannot wait for an answer. Only the
// files a login shell reads are read (.zprofile, .bash_profile, .profile,
// config.fish, ...), not the interactive ones (.zshrc, .bashrc); a shell
// that does not take "-l -c" (tcsh) is an error.
//
// It waits at most until ctx is done, and at most 10 s in any case; then the
// shell's session (the shell and what it started, unless that called
// setsid) is killed, and the error matches ctx's error or
// [context.DeadlineExceeded]. Every error names the shell; one
// that exited non-zero is an [*ExitError] and the error shows the end of
// what it wrote to stderr.
//
// On Windows, apps get the user's PATH from the registry however they are
// started, so LoginShellPath returns this process's PATH, or an error if it
// is not set.
func LoginShellPath(ctx context.Context) (string, error) { return loginShellPath(ctx) }
