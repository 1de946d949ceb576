package config

// node is one statement of the file: a keyword, the words after it on the
// same line, and the statements of its { } block if it has one.
type node struct {
	name     string
	pos      Position
	args     []token
	hasBlock bool
	open     Position // of the "{"
	block    []*node
}

// argPos returns the position of argument i, or of the keyword when the
// argument is missing.
func (n *node) argPos(i int) Position {
	if i < len(n.args) {
		return n.args[i].pos
	}
	return n.pos
}

// treeParser builds the statement tree of one file.
type treeParser struct {
	toks  []token
	i     int
	depth int // of the block being parsed
	errs  *ErrorList
	// include expands an include statement into the statements of the
	// files it names; nil disables includes.
	include func(n *node) []*node
}

func (p *treeParser) peek() *token {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

// maxDepth bounds block nesting; keepalived's deepest is four.
const maxDepth = 32

// parseBlock parses statements up to the "}" that closes open, or to the end
// of the file when open is nil.
func (p *treeParser) parseBlock(open *node) []*node {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth+1 { // the file itself is depth 1
		*p.errs = append(*p.errs, Errorf(open.open, "blocks nested deeper than %d", maxDepth))
		p.skipBlock()
		return nil
	}
	var out []*node
	for {
		t := p.peek()
		if t == nil {
			if open != nil {
				*p.errs = append(*p.errs, Errorf(open.open, "unclosed \"{\" of %s", open.name))
			}
			return out
		}
		switch t.kind {
		case tokClose:
			p.i++
			if open != nil {
				return out
			}
			*p.errs = append(*p.errs, Errorf(t.pos, "unexpected \"}\" with no open block"))
			continue
		case tokOpen:
			// A block with no keyword before it: report it and skip it.
			*p.errs = append(*p.errs, Errorf(t.pos, "unexpected \"{\" with no directive before it"))
			p.i++
			anon := &node{name: "{", pos: t.pos, open: t.pos, hasBlock: true}
			p.parseBlock(anon)
			continue
		}
		n := &node{name: t.text, pos: t.pos}
		p.i++
		for a := p.peek(); a != nil && a.kind == tokWord && a.pos.Line == t.pos.Line; a = p.peek() {
			n.args = append(n.args, *a)
			p.i++
		}
		if a := p.peek(); a != nil && a.kind == tokOpen {
			p.i++
			n.hasBlock = true
			n.open = a.pos
			n.block = p.parseBlock(n)
		}
		if n.name == "include" && p.include != nil && !n.hasBlock {
			out = append(out, p.include(n)...)
			continue
		}
		out = append(out, n)
	}
}

// skipBlock skips tokens up to the "}" that closes the block just opened.
func (p *treeParser) skipBlock() {
	for n := 1; p.i < len(p.toks); p.i++ {
		switch p.toks[p.i].kind {
		case tokOpen:
			n++
		case tokClose:
			if n--; n == 0 {
				p.i++
				return
			}
		}
	}
}
