package execengine

// starting bounds the executions between opening their log files and pipes
// and the child holding its copies of the pipe ends. A burst of Execute
// calls (5,000 submitted at once) otherwise has every execution hold its
// four pipe fds while it waits for the fork, and the process runs out of
// descriptors long before that many are running: a started execution
// keeps only its two read ends (and, on Linux, the pidfd). The slot is held
// for the length of one fork and exec.
var starting = make(chan struct{}, startingMax)

// startingMax is enough to keep the spawner threads busy: opening pipes
// takes microseconds, a fork about a millisecond.
const startingMax = 64
