package pynba

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// What keeps Pinba's reports small and their strings whole: a cap on the
// distinct script names and tag values a process sends, and cutting long
// strings where pinba_engine would, but at a character boundary.

const (
	// DefaultMaxScriptNames is how many distinct script names a process
	// sends by default (WithMaxScriptNames).
	DefaultMaxScriptNames = 2000
	// DefaultMaxTagValues is how many distinct values of one tag name a
	// process sends by default (WithMaxTagValues).
	DefaultMaxTagValues = 1000
	// OverflowName replaces a script name, or a tag value, past its cap.
	OverflowName = "(other)"

	// maxTagNames bounds the tag names whose values are tracked: values of
	// names past it are all sent as OverflowName, so memory stays flat
	// even when names hold ids.
	maxTagNames = 4096
)

// capSet is a set of strings that stops growing at a limit. Reads are a
// pointer load and a map lookup, with no lock and no allocation; adding
// copies the map, which happens at most limit times in the process's life.
type capSet struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]struct{}]
}

// admit reports whether s is in the set, adding it when the set holds
// fewer than limit strings.
func (cs *capSet) admit(s string, limit int) bool {
	if m := cs.m.Load(); m != nil {
		if _, ok := (*m)[s]; ok {
			return true
		}
		if len(*m) >= limit {
			return false
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.m.Load()
	n := 0
	if old != nil {
		if _, ok := (*old)[s]; ok {
			return true
		}
		n = len(*old)
	}
	if n >= limit {
		return false
	}
	next := make(map[string]struct{}, n+1)
	if old != nil {
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	next[strings.Clone(s)] = struct{}{} // s may point into a reused buffer
	cs.m.Store(&next)
	return true
}

// len returns how many strings the set holds.
func (cs *capSet) len() int {
	if m := cs.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// The process's sets: every Middleware, ScriptMonitor and Runner shares
// them, as the reports they feed are the servers'.
var (
	scriptNames capSet
	tagValues   tagSets
)

// tagSets maps a tag name to the set of its values, read without a lock or
// an allocation (a pointer load and a string map lookup); a name is added
// by copying the map, at most maxTagNames times in the process's life.
type tagSets struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*capSet]
}

// get returns name's set, adding it while fewer than maxTagNames names are
// tracked; nil past that.
func (ts *tagSets) get(name string) *capSet {
	if m := ts.m.Load(); m != nil {
		if cs := (*m)[name]; cs != nil {
			return cs
		}
		if len(*m) >= maxTagNames {
			return nil
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	old := ts.m.Load()
	n := 0
	if old != nil {
		if cs := (*old)[name]; cs != nil {
			return cs
		}
		n = len(*old)
	}
	if n >= maxTagNames {
		return nil
	}
	next := make(map[string]*capSet, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	cs := new(capSet)
	next[strings.Clone(name)] = cs // name may point into a reused buffer
	ts.m.Store(&next)
	return cs
}

// guardScript returns name, or OverflowName when the process already sent
// the most distinct script names allowed.
func (k *core) guardScript(name string) string {
	limit := k.cfg.maxScriptNames
	if limit < 0 || name == OverflowName || scriptNames.admit(name, limit) {
		return name
	}
	k.stats.scriptOverflows.Add(1)
	return OverflowName
}

// guardTagValue returns value, or OverflowName when the process already
// sent the most distinct values of the tag name allowed.
func (k *core) guardTagValue(name, value string) string {
	limit := k.cfg.maxTagValues
	if limit < 0 || value == OverflowName {
		return value
	}
	if cs := tagValues.get(name); cs != nil && cs.admit(value, limit) {
		return value
	}
	k.stats.tagOverflows.Add(1)
	return OverflowName
}

// pinba_engine's limits, in bytes: it keeps at most this much of each
// string and drops the rest (pinba2 keeps strings whole).
const (
	engineHostLen   = 32 // hostname, server_name
	engineScriptLen = 128
	engineSchemaLen = 16
	engineWordLen   = 64 // each tag name and value (dictionary word)
)

// cutString returns s cut to at most n bytes at a UTF-8 character
// boundary, and whether it was cut. Invalid bytes count as characters of
// one byte.
func cutString(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	if utf8.RuneStart(s[n]) {
		return s[:n], true
	}
	// s[n] continues a character: cut before that character's start,
	// when it starts a valid character that crosses n.
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if r, size := utf8.DecodeRuneInString(s[i:]); (r != utf8.RuneError || size > 1) && i+size > n {
				return s[:i], true
			}
			break
		}
	}
	return s[:n], true
}

// cut applies pinba_engine's limit n to s when WithEngineLimits is on,
// counting the cut.
func (k *core) cut(s string, n int) string {
	if !k.cfg.engineLimits {
		return s
	}
	c, did := cutString(s, n)
	if did {
		k.stats.stringsCut.Add(1)
	}
	return c
}
