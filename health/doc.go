// Package health checks real servers the way keepalived's checker process
// does, as a library with no xlb imports.
//
// It has two halves.
//
// Checkers probe one server once: [HTTPGet] and [SSLGet] (HTTP_GET and
// SSL_GET: url path, status codes, MD5 digest of the body, body regex,
// virtualhost, http_protocol), [TCPCheck], [SMTPCheck], [DNSCheck] and
// [MiscCheck] (MISC_CHECK: a program run without a shell, as a user, killed
// with its whole process group at misc_timeout; misc_dynamic exit codes set
// a weight). Each implements [Checker]; its Check method honours the
// context's deadline for the whole probe (connect, request and response), so
// a caller maps keepalived's connect_timeout onto a context deadline. A
// failed check returns an error whose text is the reason an operator reads,
// e.g. "HTTP status 500, want 200-299",
// "connect 198.18.1.2:80: connection refused" or
// "read HTTP response: timeout after 3s".
//
// A [Monitor] runs many checkers on a schedule: delay_loop,
// connect_timeout, retry (nb_get_retry) with delay_before_retry, rise and
// fall, warmup and alpha, as [LoopOptions] per [Target]. One scheduler
// goroutine keeps the next due time of every target in a heap and hands due
// targets to a fixed pool of workers, so 10,000 targets cost a bounded number
// of goroutines and file descriptors (at most one probe per worker is in
// flight). State changes (and misc_dynamic weight changes) are reported as
// [Event] values to a callback or a channel; the library never logs.
// Targets come and go while it runs (Add, Replace keeping the state,
// Remove), and Suspend / Resume pause one keeping its state (ha_suspend).
//
// [Script] runs notify_up / notify_down programs with the same rules as
// MISC_CHECK: no shell, keepalived-style quoting, an optional user, a timeout
// that kills the process group.
//
// A daemon maps each checker block of a keepalived.conf onto one checker
// value and one Target; a real server with several checkers is up when all
// of its targets are up, which is the caller's bookkeeping.
package health
