// Package natsexec spreads execengine executions over many machines with
// NATS JetStream in the middle: the same Execute, Wait, Status, Cancel,
// List and Events as an [execengine.Engine], served by a cluster.
//
// A [Worker] takes requests from a durable JetStream work queue and runs
// them on its local engine; a [Client] on any machine submits, queries,
// waits for, cancels and streams any execution. Everything lives under one
// prefix (Options.Prefix, default "execengine"):
//
//	<P>_queue    stream, subjects <P>.queue.<id>: the requests (Request JSON), work-queue retention
//	<P>_events   stream, subjects <P>.events.<id>: every event (Event JSON), per-execution limit
//	<P>_state    KV bucket: x.<id> the execution's record (status, worker, final Result);
//	             w.<worker>.<id> an index of what each worker holds
//	<P>_workers  KV bucket: one heartbeat key per live worker, rewritten every heartbeat
//	<P>_results  object store: final results too large for one NATS message
//	<P>.cancel.<worker>  request subject: cancel an execution that worker runs
//
// # Guarantees
//
// At most once: a worker claims a request by a compare-and-set of its
// record from pending to running before it acknowledges the queue message
// and starts the process, so a request runs on exactly one worker and a
// redelivered message is dropped. A worker whose heartbeat revision has not
// changed for 2 heartbeats, by the observer's own clock while its
// connection stayed up, is lost: any other worker (which watches the
// heartbeat bucket) or any client that looks at the execution ends what
// it held failed with Result.ErrorCode [CodeWorkerLost], by the same
// compare-and-set, within 3 heartbeats of its death. Nothing is re-run.
// Requests not claimed stay in the queue and run elsewhere. After a
// disconnect every observer gives each worker 2 heartbeats afresh, so a
// server restart does not look like dead workers. A worker told to stop
// (Close) while the server is unreachable gives up on storing results
// after 5 heartbeats; those executions end worker_lost once it is back.
//
// Events are stored in the stream at the worker's pace; a client reads them
// at its own, so a slow client never stalls a worker. When the stream has
// already discarded events a client had not read (the per-execution limit,
// retention, or events lost while the server was unreachable), the client's
// handler gets an [EventDropped] event saying how many, and the stream goes on.
package natsexec
