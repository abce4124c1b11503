package pynbasql

import (
	"maps"

	"github.com/pynba-go/pynba"
)

// Option configures Wrap, WrapConnector and Open.
type Option interface {
	apply(*config)
}

// config is what the options set.
type config struct {
	server    string
	serverSet bool
	group     string
	tags      pynba.Tags
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// newConfig applies opts to the defaults.
func newConfig(opts []Option) config {
	c := config{group: "db"}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithServer sets the server tag value of every timer, instead of the one
// ServerFromDSN derives from the data source name. An empty name sends no
// server tag.
func WithServer(name string) Option {
	return optionFunc(func(c *config) { c.server, c.serverSet = name, true })
}

// WithGroup sets the group tag value of every timer (default "db"), for an
// application that tells its databases apart by group. An empty group sends
// no group tag.
func WithGroup(group string) Option {
	return optionFunc(func(c *config) { c.group = group })
}

// WithTags adds tags to every timer, beside group, op and server, which
// they cannot replace. The map is copied.
func WithTags(tags pynba.Tags) Option {
	return optionFunc(func(c *config) {
		if c.tags == nil {
			c.tags = make(pynba.Tags, len(tags))
		}
		maps.Copy(c.tags, tags)
	})
}
