package config

import (
	"strconv"
	"strings"
)

// tokKind tells words from braces. A quoted "{" is a word.
type tokKind uint8

const (
	tokWord  tokKind = iota
	tokOpen          // {
	tokClose         // }
)

// token is one white-space separated word of the file, with quotes removed.
type token struct {
	kind tokKind
	text string
	pos  Position
}

// lex splits src into tokens, keepalived style: tokens are separated by
// white space; "{" and "}" are tokens of their own; '#' or '!' outside
// quotes starts a comment that runs to the end of the line; "..." and
// '...' quote white space (the quotes are removed, and a token may mix quoted
// and unquoted parts, as in the shell); in double quotes, backslash escapes
// as in C.
func lex(file string, src []byte, errs *ErrorList) []token {
	var toks []token
	line, lineStart := 1, 0
	i := 0
	pos := func(at int) Position {
		return Position{File: file, Line: line, Col: at - lineStart + 1}
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			i++
			line, lineStart = line+1, i
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			i++
			continue
		case c == '#' || c == '!':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '{':
			toks = append(toks, token{kind: tokOpen, text: "{", pos: pos(i)})
			i++
			continue
		case c == '}':
			toks = append(toks, token{kind: tokClose, text: "}", pos: pos(i)})
			i++
			continue
		}
		start := pos(i)
		var b strings.Builder
	word:
		for i < len(src) {
			c := src[i]
			switch c {
			case ' ', '\t', '\r', '\v', '\f', '\n', '{', '}', '#', '!':
				break word
			case '"', '\'':
				qpos := pos(i)
				i++
				closed := false
				for i < len(src) && src[i] != '\n' {
					if src[i] == c {
						closed = true
						i++
						break
					}
					if c == '"' && src[i] == '\\' && i+1 < len(src) && src[i+1] != '\n' {
						n := unescape(src[i+1:], &b)
						i += 1 + n
						continue
					}
					b.WriteByte(src[i])
					i++
				}
				if !closed {
					*errs = append(*errs, Errorf(qpos, "unterminated quoted string"))
				}
			default:
				b.WriteByte(c)
				i++
			}
		}
		toks = append(toks, token{kind: tokWord, text: b.String(), pos: start})
	}
	return toks
}

// unescape decodes the escape sequence at the start of s (just after a
// backslash) into b and returns how many bytes of s it used.
func unescape(s []byte, b *strings.Builder) int {
	simple := map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}
	c := s[0]
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		return 1
	}
	switch {
	case c >= '0' && c <= '7':
		n := 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			n++
		}
		v, _ := strconv.ParseUint(string(s[:n]), 8, 16)
		b.WriteByte(byte(v))
		return n
	case c == 'x':
		n := 1
		for n < len(s) && n < 3 && isHex(s[n]) {
			n++
		}
		if n == 1 {
			b.WriteByte('x')
			return 1
		}
		v, _ := strconv.ParseUint(string(s[1:n]), 16, 8)
		b.WriteByte(byte(v))
		return n
	case c == 'c' && len(s) > 1 && s[1] != '\n':
		b.WriteByte(s[1] & 0x1f)
		return 2
	}
	b.WriteByte(c)
	return 1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
