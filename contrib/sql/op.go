package pynbasql

// An op is the value of a timer's op tag: what kind of call it measures.
type op uint8

// The ops. The statement ops come from a statement's first keyword (see
// opOf); the others name driver calls that carry no statement.
const (
	opOther op = iota
	opSelect
	opInsert
	opUpdate
	opDelete
	opReplace
	opMerge
	opWith
	opValues
	opCreate
	opAlter
	opDrop
	opTruncate
	opCall
	opExplain
	opPragma
	opSet
	opShow
	opUse
	opVacuum
	opAnalyze
	opAttach
	opDetach
	opCopy
	opLock
	opGrant
	opRevoke
	opSavepoint
	opRelease
	opBegin
	opCommit
	opRollback
	opPrepare
	opConnect
	opPing
	numOps
)

// opNames are the op tag values, by op.
var opNames = [numOps]string{
	opOther:     "other",
	opSelect:    "select",
	opInsert:    "insert",
	opUpdate:    "update",
	opDelete:    "delete",
	opReplace:   "replace",
	opMerge:     "merge",
	opWith:      "with",
	opValues:    "values",
	opCreate:    "create",
	opAlter:     "alter",
	opDrop:      "drop",
	opTruncate:  "truncate",
	opCall:      "call",
	opExplain:   "explain",
	opPragma:    "pragma",
	opSet:       "set",
	opShow:      "show",
	opUse:       "use",
	opVacuum:    "vacuum",
	opAnalyze:   "analyze",
	opAttach:    "attach",
	opDetach:    "detach",
	opCopy:      "copy",
	opLock:      "lock",
	opGrant:     "grant",
	opRevoke:    "revoke",
	opSavepoint: "savepoint",
	opRelease:   "release",
	opBegin:     "begin",
	opCommit:    "commit",
	opRollback:  "rollback",
	opPrepare:   "prepare",
	opConnect:   "connect",
	opPing:      "ping",
}

// String returns the op's tag value.
func (o op) String() string { return opNames[o] }

// Op returns the op tag value a statement gets: its first keyword, lower-cased,
// after white space, comments (-- and # to the end of the line, /* ... */)
// and opening parentheses. The keywords known are those of the usual SQL
// statements (select, insert, update, delete, replace, merge, values, create,
// alter, drop, truncate, call, explain, pragma, set, show, use, vacuum,
// analyze, attach, detach, copy, lock, grant, revoke, savepoint, release,
// begin, commit, rollback); START gives "begin", END gives "commit" and
// ABORT gives "rollback", as those statements mean. A statement starting
// with WITH gives the keyword of its main statement (select, insert, update,
// delete, replace or merge) found after the common table expressions, or
// "with" when there is none. Anything else gives "other", so that the op tag
// has few values whatever the application sends.
//
// Op does not allocate; it reads at most the statement's text once.
func Op(query string) string { return opOf(query).String() }

// opOf is Op, returning the op.
func opOf(query string) op {
	s := scanner{s: query}
	w, ok := s.firstWord()
	if !ok {
		return opOther
	}
	o := keywordOp(w)
	if o == opWith {
		return s.withMain()
	}
	return o
}

// keywordOp returns the op of a statement's first keyword.
func keywordOp(w string) op {
	var buf [12]byte
	if len(w) > len(buf) {
		return opOther
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(w)]) {
	case "select":
		return opSelect
	case "insert":
		return opInsert
	case "update":
		return opUpdate
	case "delete":
		return opDelete
	case "replace":
		return opReplace
	case "merge":
		return opMerge
	case "with":
		return opWith
	case "values":
		return opValues
	case "create":
		return opCreate
	case "alter":
		return opAlter
	case "drop":
		return opDrop
	case "truncate":
		return opTruncate
	case "call":
		return opCall
	case "explain":
		return opExplain
	case "pragma":
		return opPragma
	case "set":
		return opSet
	case "show":
		return opShow
	case "use":
		return opUse
	case "vacuum":
		return opVacuum
	case "analyze", "analyse":
		return opAnalyze
	case "attach":
		return opAttach
	case "detach":
		return opDetach
	case "copy":
		return opCopy
	case "lock":
		return opLock
	case "grant":
		return opGrant
	case "revoke":
		return opRevoke
	case "savepoint":
		return opSavepoint
	case "release":
		return opRelease
	case "begin", "start":
		return opBegin
	case "commit", "end":
		return opCommit
	case "rollback", "abort":
		return opRollback
	}
	return opOther
}

// scanner walks a statement's text, skipping what is not a keyword.
type scanner struct {
	s string
	i int
}

// skipSpace skips white space and comments.
func (s *scanner) skipSpace() {
	for s.i < len(s.s) {
		c := s.s[s.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.i++
		case c == '-' && s.i+1 < len(s.s) && s.s[s.i+1] == '-', c == '#':
			for s.i < len(s.s) && s.s[s.i] != '\n' {
				s.i++
			}
		case c == '/' && s.i+1 < len(s.s) && s.s[s.i+1] == '*':
			s.i += 2
			for s.i < len(s.s) && !(s.s[s.i] == '*' && s.i+1 < len(s.s) && s.s[s.i+1] == '/') {
				s.i++
			}
			s.i += 2
			if s.i > len(s.s) {
				s.i = len(s.s)
			}
		default:
			return
		}
	}
}

// wordBytes tells the bytes that can be part of a keyword or a bare name.
var wordBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '$' || c >= 0x80
	}
	return t
}()

// isWordByte reports whether c can be part of a keyword or a bare name.
func isWordByte(c byte) bool { return wordBytes[c] }

// word reads the word at the current position, if there is one.
func (s *scanner) word() (string, bool) {
	start := s.i
	for s.i < len(s.s) && isWordByte(s.s[s.i]) {
		s.i++
	}
	return s.s[start:s.i], s.i > start
}

// firstWord skips space, comments and opening parentheses and reads the
// statement's first word.
func (s *scanner) firstWord() (string, bool) {
	for {
		s.skipSpace()
		if s.i < len(s.s) && s.s[s.i] == '(' {
			s.i++
			continue
		}
		return s.word()
	}
}

// skipQuoted skips a quoted string or name that starts at the current
// position with quote and ends with end (a doubled end is part of it).
func (s *scanner) skipQuoted(end byte) {
	s.i++
	for s.i < len(s.s) {
		if s.s[s.i] == end {
			s.i++
			if s.i < len(s.s) && s.s[s.i] == end && end != ']' {
				s.i++
				continue
			}
			return
		}
		s.i++
	}
}

// withMain reads, after WITH, past the common table expressions (skipping
// every parenthesized part, with the strings and comments in it) and returns
// the op of the first main statement keyword at the outer level.
func (s *scanner) withMain() op {
	depth := 0
	for {
		if s.i < len(s.s) && wordBytes[s.s[s.i]] && depth > 0 {
			s.i++ // inside a parenthesized part, words are skipped byte by byte
			continue
		}
		s.skipSpace()
		if s.i >= len(s.s) {
			return opWith
		}
		c := s.s[s.i]
		switch {
		case c == '(':
			depth++
			s.i++
		case c == ')':
			if depth > 0 {
				depth--
			}
			s.i++
		case c == '\'' || c == '"' || c == '`':
			s.skipQuoted(c)
		case c == '[':
			s.skipQuoted(']')
		case isWordByte(c):
			w, _ := s.word()
			if depth == 0 {
				switch o := keywordOp(w); o {
				case opSelect, opInsert, opUpdate, opDelete, opReplace, opMerge:
					return o
				}
			}
		default:
			s.i++
		}
	}
}
