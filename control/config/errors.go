package config

import (
	"fmt"
	"strings"
)

// Position is a place in a configuration file. Line and Col are 1-based;
// Col counts bytes, as compilers do.
type Position struct {
	File string
	Line int
	Col  int
}

// String returns "file:line:col".
func (p Position) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether p names a place in a file (Line > 0).
func (p Position) IsValid() bool { return p.Line > 0 }

// Error is one problem found in a configuration, at a position.
type Error struct {
	Pos Position
	Msg string
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string {
	return e.Pos.String() + ": " + e.Msg
}

// Errorf returns an Error at pos. The control plane uses it to report
// semantic problems (for example a scheduler xlb does not implement) at the
// place the operator wrote them.
func Errorf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList is every error found in a configuration, in file order.
type ErrorList []*Error

// Error returns all errors, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors of the list, so that errors.As finds an *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// MarshalText returns "file:line:col", so that positions read well in JSON
// and logs.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
