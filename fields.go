package pynba

import "time"

// The fields of a request's packet that code sets and reads through its
// Collector handle, as Python's pynba exposes them as attributes. Each takes
// the request's lock, uncontended: only the request's own goroutines (and
// late users of stale handles, who leave at once) take it.

// SetEnabled turns sending on or off for this request: a request disabled
// when it ends sends nothing.
func (h Collector) SetEnabled(on bool) {
	if c := h.lock("SetEnabled"); c != nil {
		c.enabled = on
		c.mu.Unlock()
	}
}

// SetScriptName sets the script name sent, instead of the one Monitor
// derives from the request. The prefix (WithPrefix) is put before it, as
// Python's pynba.scriptname = name does.
func (h Collector) SetScriptName(name string) {
	if c := h.lock("SetScriptName"); c != nil {
		if c.owner != nil {
			name = c.owner.cfg.prefix + name
		}
		c.scriptName, c.scriptOK = name, true
		c.mu.Unlock()
	}
}

// SetHostname sets the hostname sent.
func (h Collector) SetHostname(name string) {
	if c := h.lock("SetHostname"); c != nil {
		c.hostname = name
		c.mu.Unlock()
	}
}

// SetServerName sets the server name sent.
func (h Collector) SetServerName(name string) {
	if c := h.lock("SetServerName"); c != nil {
		c.serverName = name
		c.mu.Unlock()
	}
}

// SetSchema sets the schema sent ("http", "https", ...).
func (h Collector) SetSchema(schema string) {
	if c := h.lock("SetSchema"); c != nil {
		c.schema = schema
		c.mu.Unlock()
	}
}

// SetStatus sets the status sent, instead of the response's code. The
// wire holds 0 to 4294967295; a value outside is clamped into that range,
// counted in Stats.Clamped and reported as a *RangeError.
func (h Collector) SetStatus(code int) {
	v, err := clampField("SetStatus", code)
	if c := h.lock("SetStatus"); c != nil {
		c.status, c.statusOK = v, true
		c.mu.Unlock()
		c.clamped(err)
	}
}

// SetDocumentSize sets the document size sent, in bytes, instead of the
// bytes of body the handler wrote. Clamped as SetStatus is.
func (h Collector) SetDocumentSize(n int) {
	v, err := clampField("SetDocumentSize", n)
	if c := h.lock("SetDocumentSize"); c != nil {
		c.docSize, c.docSizeOK = v, true
		c.mu.Unlock()
		c.clamped(err)
	}
}

// SetMemoryPeak sets the memory peak sent, in bytes (0 unless set).
// Clamped as SetStatus is.
func (h Collector) SetMemoryPeak(n int) {
	v, err := clampField("SetMemoryPeak", n)
	if c := h.lock("SetMemoryPeak"); c != nil {
		c.memPeak = v
		c.mu.Unlock()
		c.clamped(err)
	}
}

// SetMemoryFootprint sets the memory footprint sent, in bytes (0 unless
// set). Clamped as SetStatus is.
func (h Collector) SetMemoryFootprint(n int) {
	v, err := clampField("SetMemoryFootprint", n)
	if c := h.lock("SetMemoryFootprint"); c != nil {
		c.memFoot = v
		c.mu.Unlock()
		c.clamped(err)
	}
}

// clampField fits n into the wire's uint32, returning the error to report
// when it did not fit.
func clampField(what string, n int) (uint32, error) {
	switch {
	case n < 0:
		return 0, &RangeError{Field: what, Value: int64(n), Sent: 0}
	case uint64(n) > 1<<32-1:
		return 1<<32 - 1, &RangeError{Field: what, Value: int64(n), Sent: 1<<32 - 1}
	}
	return uint32(n), nil
}

// clamped counts and reports a value a setter had to clamp. Called without
// mu.
func (c *reqData) clamped(err error) {
	if err == nil || c.owner == nil {
		return
	}
	c.owner.stats.clamped.Add(1)
	c.reportError(err)
}

// ScriptName returns the script name the request would send now, prefix
// included (pynba's scriptname). Monitor names a request from its route
// after the handler ran, so during the handler this is the name set with
// SetScriptName, or the URL path.
func (h Collector) ScriptName() string {
	if c := h.lock("ScriptName"); c != nil {
		defer c.mu.Unlock()
		return c.scriptName
	}
	return ""
}

// Hostname returns the hostname the request sends (pynba's hostname).
func (h Collector) Hostname() string {
	if c := h.lock("Hostname"); c != nil {
		defer c.mu.Unlock()
		return c.hostname
	}
	return ""
}

// ServerName returns the server name the request sends.
func (h Collector) ServerName() string {
	if c := h.lock("ServerName"); c != nil {
		defer c.mu.Unlock()
		return c.serverName
	}
	return ""
}

// Schema returns the schema the request sends (pynba's schema).
func (h Collector) Schema() string {
	if c := h.lock("Schema"); c != nil {
		defer c.mu.Unlock()
		return c.schema
	}
	return ""
}

// Status returns the status the request would send now: the one set with
// SetStatus, else the response's code so far, else the default (200).
func (h Collector) Status() int {
	if c := h.lock("Status"); c != nil {
		defer c.mu.Unlock()
		return int(c.statusNow())
	}
	return 0
}

// DocumentSize returns the document size the request would send now: the
// one set with SetDocumentSize, else the bytes of body written so far
// (pynba's document_size).
func (h Collector) DocumentSize() int {
	if c := h.lock("DocumentSize"); c != nil {
		defer c.mu.Unlock()
		return int(c.docSizeNow())
	}
	return 0
}

// MemoryPeak returns the memory peak set with SetMemoryPeak (pynba's
// memory_peak).
func (h Collector) MemoryPeak() int {
	if c := h.lock("MemoryPeak"); c != nil {
		defer c.mu.Unlock()
		return int(c.memPeak)
	}
	return 0
}

// MemoryFootprint returns the memory footprint set with
// SetMemoryFootprint (pynba's memory_footprint).
func (h Collector) MemoryFootprint() int {
	if c := h.lock("MemoryFootprint"); c != nil {
		defer c.mu.Unlock()
		return int(c.memFoot)
	}
	return 0
}

// Started returns when the request started (pynba's started), the zero
// time outside a request.
func (h Collector) Started() time.Time {
	if c := h.lock("Started"); c != nil {
		defer c.mu.Unlock()
		return clockBase.Add(c.start)
	}
	return time.Time{}
}

// SetRequestTime sets the request time sent, instead of the time measured
// (as PHP's pinba_request_time_set).
func (h Collector) SetRequestTime(d time.Duration) {
	if c := h.lock("SetRequestTime"); c != nil {
		c.reqTime, c.reqTimeOK = d, true
		c.mu.Unlock()
	}
}

// SetTag sets a request tag. The value is flattened as timer tag values are
// (see Flatten) when the packet is built; it replaces a tag of the same name
// given with WithTags.
func (h Collector) SetTag(name string, value any) {
	if c := h.lock("SetTag"); c != nil {
		if c.tags == nil {
			c.tags = make(Tags)
		}
		c.tags[name] = value
		if len(c.tags) > keepTagsMap {
			c.grown.Store(true)
		}
		c.mu.Unlock()
	}
}

// DeleteTag removes a request tag set with SetTag.
func (h Collector) DeleteTag(name string) {
	if c := h.lock("DeleteTag"); c != nil {
		delete(c.tags, name)
		c.mu.Unlock()
	}
}

// Tag returns the value of a request tag set with SetTag, and whether it is
// set.
func (h Collector) Tag(name string) (any, bool) {
	if c := h.lock("Tag"); c != nil {
		v, ok := c.tags[name]
		c.mu.Unlock()
		return v, ok
	}
	return nil, false
}

// Elapsed returns the time since the request started (0 outside a request).
func (h Collector) Elapsed() time.Duration {
	if c := h.lock("Elapsed"); c != nil {
		d := mono() - c.start
		c.mu.Unlock()
		return d
	}
	return 0
}
