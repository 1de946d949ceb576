// Package config parses xlb's configuration file, written in the
// keepalived.conf dialect, into typed values.
//
// An existing keepalived director moves to xlb with its file: the same
// blocks (global_defs, virtual_server, real_server, checkers, VRRP), the same
// keywords and the same defaults. xlb's own settings (xdp_interface,
// xdp_mode) live in global_defs.
//
// The syntax is keepalived's: white-space separated words, one directive per
// line, blocks in { } (the "{" may start the next line), comments from a
// word starting with '#' or '!' to the end of the line, and quoted strings
// ("..." or '...') for values with spaces.
//
// Parsing never stops at the first problem. Every error found is returned in
// an ErrorList, each error carrying the file:line:col of the offending word,
// so that an operator fixes a file in one pass:
//
//	cfg, err := config.ParseFile("/etc/xlb/xlb.conf")
//	var list config.ErrorList
//	if errors.As(err, &list) {
//		for _, e := range list {
//			fmt.Fprintln(os.Stderr, e) // xlb.conf:12:13: invalid port "0" in virtual_server (want 1..65535)
//		}
//	}
//
// A keepalived directive xlb does not implement is an error naming it (and
// what to use instead), never silently ignored. The package checks syntax
// and what the file alone can tell (addresses, ranges, duplicates); the
// control plane decides what the data plane supports (for example which
// schedulers) and reports with Errorf at the positions kept in the values.
//
// The package imports nothing of xlb.
package config
