package pynba

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Tags are the tags of a timer or a request, as pynba.timer(**tags) takes
// them. See Flatten for the values allowed.
type Tags map[string]any

// Tag is one (name, value) pair as sent to Pinba, the result of flattening
// Tags.
type Tag struct {
	Name, Value string
}

const (
	// maxTagDepth is how many containers (slices, arrays, maps, pointers,
	// callables) a tag value may be nested in. A deeper value, such as a
	// slice or map that contains itself, drops its whole top-level tag.
	maxTagDepth = 16
	// maxTagValues is how many values (containers and elements, counted
	// through every level) one top-level tag may hold. Pinba datagrams are
	// at most 64 KiB, so a larger tag could never be sent; the limit also
	// keeps wide self-containing values from running for ages within the
	// depth limit.
	maxTagValues = 1 << 14
)

var (
	errTagEmptyName = errors.New("empty tag name")
	errTagEmptyKey  = errors.New("empty map key in a tag path")
	errTagNil       = errors.New("nil cannot be a tag value")
	errTagTooDeep   = fmt.Errorf("value nested more than %d levels deep (does it contain itself?)", maxTagDepth)
	errTagTooLarge  = fmt.Errorf("value holds more than %d elements", maxTagValues)
)

// Flatten turns tags into the sorted, deduplicated (name, value) pairs that
// pynba sends, and reports the tags it had to drop.
//
// The rules, those of Python's pynba with Go's formatting:
//
//   - A scalar gives one pair: a string or []byte as it is (invalid UTF-8
//     included; Pinba servers cut long strings, Flatten does not); a bool as
//     "true" or "false"; an integer in decimal; a float32 or float64 as
//     strconv.FormatFloat(x, 'g', -1, bitSize) gives it; a complex number as
//     strconv.FormatComplex(x, 'g', -1, bitSize) gives it, "(1+2i)"; an error
//     as its Error(); a fmt.Stringer as its String(). The error and Stringer
//     methods win over the kind, as in fmt (time.Duration gives "1.5s").
//     Named types of these kinds (type Level int) count as their kind.
//   - A slice or array gives one pair per distinct element, each element
//     flattened under the same name (so a []any may mix scalars, maps and
//     callables). A slice of bytes is a string; an array of bytes is an array.
//     A nil or empty slice gives no pair.
//   - A map whose keys are strings (Tags, map[string]any, map[string]string,
//     any map with a key of kind string) gives one name per key, the full
//     dotted path: Tags{"a": map[string]any{"b": map[string]int{"c": 1}}}
//     gives ("a.b.c", "1"). An empty map gives no pair.
//   - A function taking no argument and returning one value (func() any,
//     func() string, func() []string, or any other such type) is called when
//     the tags are flattened, that is when the request is sent, and its
//     result is flattened in its place.
//   - A non-nil pointer stands for the value it points to.
//
// A pair's value may be empty; its name may not. Dropped, each reported as a
// *TagError, the rest of the tags being kept:
//
//   - a tag with an empty name, or an empty key in a map ("a." is reported
//     as the name); other names and keys are kept as they are, dots
//     included, so Tags{"a.b": 1} and Tags{"a": Tags{"b": 1}} give the same
//     pair;
//   - a value that cannot be a tag: nil, a nil pointer, map or function
//     (a nil pointer Stringer or error is not called), a channel, a struct
//     that is neither an error nor a Stringer, an unsafe.Pointer, a map
//     whose keys are not strings, a function that takes arguments or does not
//     return exactly one value;
//   - a callable, String or Error method that panics (the panic is
//     recovered): only the pairs that value would have given are lost;
//   - a whole top-level tag whose value is nested in more than 16 containers
//     (slices, arrays, maps, pointers, callables; a slice or map that
//     contains itself ends there) or holds more than 16384 values, elements
//     and containers, in all.
//
// Pairs are sorted by name, then value, comparing bytes. The error is nil
// if nothing was dropped, else the errors.Join of the *TagError values,
// sorted by message. Flatten returns nil pairs if there are none. It is safe
// for concurrent use, as long as the tags are not modified meanwhile; the
// callables run in the calling goroutine.
func Flatten(tags Tags) ([]Tag, error) {
	f := flatBufPool.Get().(*flatBuf)
	var errs []error
	start, end := f.add(tags, func(err error) { errs = append(errs, err) })
	var out []Tag
	if end > start {
		// One string holds every name and value; the Tags share it.
		all := string(f.arena)
		out = make([]Tag, 0, end-start)
		for _, p := range f.pairs[start:end] {
			out = append(out, Tag{Name: all[p.name:p.value], Value: all[p.value:p.end]})
		}
	}
	f.reset()
	if cap(f.arena) <= maxPooledArena {
		flatBufPool.Put(f)
	}
	if len(errs) == 0 {
		return out, nil
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return out, errors.Join(errs...)
}

// flatBufPool holds the flatBufs Flatten uses; one whose arena grew past
// maxPooledArena is left to the garbage collector.
var flatBufPool = sync.Pool{New: func() any { return new(flatBuf) }}

const maxPooledArena = 64 << 10

// flatPair is one (name, value) pair held in a flatBuf's arena: the name is
// arena[name:value], the value arena[value:end].
type flatPair struct {
	name, value, end int
}

// flatBuf flattens Tags into pairs without allocating once its slices have
// grown: names and values are written into one arena of bytes, the pairs
// keep offsets into it. The zero value is ready to use. A flatBuf is not
// safe for concurrent use.
type flatBuf struct {
	arena []byte
	pairs []flatPair
	path  []byte // the dotted name of the value being walked
	nodes int    // values visited under the current top-level tag
}

// reset forgets every pair, keeping the capacity.
func (f *flatBuf) reset() {
	f.arena = f.arena[:0]
	f.pairs = f.pairs[:0]
	f.path = f.path[:0]
}

// len returns the number of pairs held, over every add since the last reset.
func (f *flatBuf) len() int { return len(f.pairs) }

// name returns pair i's name. It aliases the arena: valid until the next
// add or reset, and not to be modified.
func (f *flatBuf) name(i int) []byte {
	p := f.pairs[i]
	return f.arena[p.name:p.value:p.value]
}

// value returns pair i's value. It aliases the arena: valid until the next
// add or reset, and not to be modified.
func (f *flatBuf) value(i int) []byte {
	p := f.pairs[i]
	return f.arena[p.value:p.end:p.end]
}

// add flattens tags (see Flatten for the rules), appends their pairs and
// returns their range [start, end): sorted by (name, value), deduplicated.
// Each dropped tag is passed to onErr, if not nil, as a *TagError. add is
// not re-entrant: a tag callable must not add to the same flatBuf.
func (f *flatBuf) add(tags Tags, onErr func(error)) (start, end int) {
	start = len(f.pairs)
	for k, v := range tags {
		if k == "" {
			reportTag(onErr, "", errTagEmptyName)
			continue
		}
		pairs, arena := len(f.pairs), len(f.arena)
		f.path = append(f.path[:0], k...)
		f.nodes = 0
		if err := f.walk(v, 0, onErr); err != nil {
			f.pairs, f.arena = f.pairs[:pairs], f.arena[:arena]
			reportTag(onErr, k, err)
		}
	}
	f.path = f.path[:0]
	ps := f.pairs[start:]
	if len(ps) < 2 {
		return start, len(f.pairs)
	}
	// The closure does not escape, so it lives on the stack: no allocation.
	slices.SortFunc(ps, func(a, b flatPair) int { return f.comparePairs(a, b) })
	w := 1
	for i := 1; i < len(ps); i++ {
		if f.comparePairs(ps[i], ps[w-1]) != 0 {
			ps[w] = ps[i]
			w++
		}
	}
	f.pairs = f.pairs[:start+w]
	return start, len(f.pairs)
}

// comparePairs orders pairs by name, then value, byte-wise.
func (f *flatBuf) comparePairs(a, b flatPair) int {
	if c := bytes.Compare(f.arena[a.name:a.value], f.arena[b.name:b.value]); c != 0 {
		return c
	}
	return bytes.Compare(f.arena[a.value:a.end], f.arena[b.value:b.end])
}

// reportTag passes a *TagError to onErr, if there is one.
func reportTag(onErr func(error), name string, err error) {
	if onErr != nil {
		onErr(&TagError{Name: name, Err: err})
	}
}

// drop reports that the value at the current path cannot be a tag.
func (f *flatBuf) drop(onErr func(error), err error) {
	if onErr != nil {
		onErr(&TagError{Name: string(f.path), Err: err})
	}
}

// begin starts a pair named by the current path and returns its offsets;
// the caller appends the value to f.arena and calls finish.
func (f *flatBuf) begin() (name, value int) {
	name = len(f.arena)
	f.arena = append(f.arena, f.path...)
	return name, len(f.arena)
}

func (f *flatBuf) finish(name, value int) {
	f.pairs = append(f.pairs, flatPair{name: name, value: value, end: len(f.arena)})
}

func (f *flatBuf) emitString(s string) {
	n, v := f.begin()
	f.arena = append(f.arena, s...)
	f.finish(n, v)
}

func (f *flatBuf) emitBytes(s []byte) {
	n, v := f.begin()
	f.arena = append(f.arena, s...)
	f.finish(n, v)
}

func (f *flatBuf) emitBool(b bool) {
	n, v := f.begin()
	f.arena = strconv.AppendBool(f.arena, b)
	f.finish(n, v)
}

func (f *flatBuf) emitInt(i int64) {
	n, v := f.begin()
	f.arena = strconv.AppendInt(f.arena, i, 10)
	f.finish(n, v)
}

func (f *flatBuf) emitUint(u uint64) {
	n, v := f.begin()
	f.arena = strconv.AppendUint(f.arena, u, 10)
	f.finish(n, v)
}

func (f *flatBuf) emitFloat(x float64, bits int) {
	n, v := f.begin()
	f.arena = strconv.AppendFloat(f.arena, x, 'g', -1, bits)
	f.finish(n, v)
}

// emitComplex writes c as strconv.FormatComplex(c, 'g', -1, bits) does.
func (f *flatBuf) emitComplex(c complex128, bits int) {
	n, v := f.begin()
	bits /= 2
	f.arena = append(f.arena, '(')
	f.arena = strconv.AppendFloat(f.arena, real(c), 'g', -1, bits)
	im := len(f.arena)
	f.arena = strconv.AppendFloat(f.arena, imag(c), 'g', -1, bits)
	if f.arena[im] != '+' && f.arena[im] != '-' {
		f.arena = append(f.arena, 0)
		copy(f.arena[im+1:], f.arena[im:])
		f.arena[im] = '+'
	}
	f.arena = append(f.arena, 'i', ')')
	f.finish(n, v)
}

// count counts n more values under the current top-level tag.
func (f *flatBuf) count(n int) error {
	f.nodes += n
	if f.nodes > maxTagValues {
		return errTagTooLarge
	}
	return nil
}

// walk flattens v under the current path at the given depth. Values that
// cannot be tags are reported and skipped; the error returned (too deep,
// too large) drops the whole top-level tag.
func (f *flatBuf) walk(v any, depth int, onErr func(error)) error {
	if err := f.count(1); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		f.emitString(x)
	case []byte:
		f.emitBytes(x)
	case bool:
		f.emitBool(x)
	case int:
		f.emitInt(int64(x))
	case int64:
		f.emitInt(x)
	case int32:
		f.emitInt(int64(x))
	case int16:
		f.emitInt(int64(x))
	case int8:
		f.emitInt(int64(x))
	case uint:
		f.emitUint(uint64(x))
	case uint64:
		f.emitUint(x)
	case uint32:
		f.emitUint(uint64(x))
	case uint16:
		f.emitUint(uint64(x))
	case uint8:
		f.emitUint(uint64(x))
	case uintptr:
		f.emitUint(uint64(x))
	case float64:
		f.emitFloat(x, 64)
	case float32:
		f.emitFloat(float64(x), 32)
	case complex128:
		f.emitComplex(x, 128)
	case complex64:
		f.emitComplex(complex128(x), 64)
	case []string:
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		if err := f.count(len(x)); err != nil {
			return err
		}
		for _, s := range x {
			f.emitString(s)
		}
	case []any:
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		for _, e := range x {
			if err := f.walk(e, depth+1, onErr); err != nil {
				return err
			}
		}
	case map[string]any:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		return f.walkMap(x, depth, onErr)
	case Tags:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		return f.walkMap(x, depth, onErr)
	case map[string]string:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		if err := f.count(len(x)); err != nil {
			return err
		}
		n := len(f.path)
		for k, s := range x {
			f.path = append(append(f.path[:n], '.'), k...)
			if k == "" {
				f.drop(onErr, errTagEmptyKey)
				continue
			}
			f.emitString(s)
		}
		f.path = f.path[:n]
	case func() any:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		r, err := callTag("callable", x)
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		return f.walk(r, depth+1, onErr)
	case func() string:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		s, err := callTag("callable", x)
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		f.emitString(s)
	case func() []string:
		if x == nil {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		ss, err := callTag("callable", x)
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		if err := f.count(len(ss)); err != nil {
			return err
		}
		for _, s := range ss {
			f.emitString(s)
		}
	case error:
		if isNilPointer(v) {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		s, err := callTag("Error method", x.Error)
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		f.emitString(s)
	case fmt.Stringer:
		if isNilPointer(v) {
			f.drop(onErr, fmt.Errorf("nil %T cannot be a tag value", v))
			return nil
		}
		s, err := callTag("String method", x.String)
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		f.emitString(s)
	case nil:
		f.drop(onErr, errTagNil)
	default:
		return f.walkReflect(reflect.ValueOf(v), depth, onErr)
	}
	return nil
}

// walkMap flattens the entries of m under path.key.
func (f *flatBuf) walkMap(m map[string]any, depth int, onErr func(error)) error {
	if depth >= maxTagDepth {
		return errTagTooDeep
	}
	n := len(f.path)
	for k, e := range m {
		f.path = append(append(f.path[:n], '.'), k...)
		if k == "" {
			f.drop(onErr, errTagEmptyKey)
			continue
		}
		if err := f.walk(e, depth+1, onErr); err != nil {
			return err // add drops the tag and resets the path
		}
	}
	f.path = f.path[:n]
	return nil
}

// walkReflect flattens the kinds walk does not know by type: named types,
// other slices, arrays and maps, pointers, other callables.
func (f *flatBuf) walkReflect(rv reflect.Value, depth int, onErr func(error)) error {
	switch rv.Kind() {
	case reflect.String:
		f.emitString(rv.String())
	case reflect.Bool:
		f.emitBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.emitInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		f.emitUint(rv.Uint())
	case reflect.Float32:
		f.emitFloat(rv.Float(), 32)
	case reflect.Float64:
		f.emitFloat(rv.Float(), 64)
	case reflect.Complex64:
		f.emitComplex(rv.Complex(), 64)
	case reflect.Complex128:
		f.emitComplex(rv.Complex(), 128)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			f.emitBytes(rv.Bytes())
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		for i := range rv.Len() {
			if err := f.walk(rv.Index(i).Interface(), depth+1, onErr); err != nil {
				return err
			}
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			f.drop(onErr, fmt.Errorf("%s cannot be a tag value (map keys must be strings)", rv.Type()))
			return nil
		}
		if rv.IsNil() {
			f.drop(onErr, fmt.Errorf("nil %s cannot be a tag value", rv.Type()))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		n := len(f.path)
		for it := rv.MapRange(); it.Next(); {
			k := it.Key().String()
			f.path = append(append(f.path[:n], '.'), k...)
			if k == "" {
				f.drop(onErr, errTagEmptyKey)
				continue
			}
			if err := f.walk(it.Value().Interface(), depth+1, onErr); err != nil {
				return err
			}
		}
		f.path = f.path[:n]
	case reflect.Pointer:
		if rv.IsNil() {
			f.drop(onErr, fmt.Errorf("nil %s cannot be a tag value", rv.Type()))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		return f.walk(rv.Elem().Interface(), depth+1, onErr)
	case reflect.Func:
		t := rv.Type()
		if t.NumIn() != 0 || t.NumOut() != 1 {
			f.drop(onErr, fmt.Errorf("%s cannot be a tag value (a callable takes no argument and returns one value)", t))
			return nil
		}
		if rv.IsNil() {
			f.drop(onErr, fmt.Errorf("nil %s cannot be a tag value", t))
			return nil
		}
		if depth >= maxTagDepth {
			return errTagTooDeep
		}
		r, err := callTag("callable", func() any { return rv.Call(nil)[0].Interface() })
		if err != nil {
			f.drop(onErr, err)
			return nil
		}
		return f.walk(r, depth+1, onErr)
	case reflect.Struct:
		f.drop(onErr, fmt.Errorf("%s cannot be a tag value (a struct must be an error or a fmt.Stringer)", rv.Type()))
	default: // Chan, UnsafePointer
		f.drop(onErr, fmt.Errorf("%s cannot be a tag value", rv.Type()))
	}
	return nil
}

// callTag calls fn, turning a panic into an error that starts with what.
func callTag[T any](what string, fn func() T) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{What: what, Value: p}
		}
	}()
	return fn(), nil
}

// isNilPointer reports whether v holds a nil pointer.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
