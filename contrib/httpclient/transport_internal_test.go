package pynbahttp

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// Past the cache's bound, tags are still right, and the cache stays bounded.
func TestTagCacheBound(t *testing.T) {
	for i := range maxCachedTags + 50 {
		host := "127.0.0.1:" + strconv.Itoa(10000+i)
		req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/", nil)
		for range 2 {
			tg := tags(req, "5xx")
			if tg["server"] != host || tg["method"] != "POST" || tg["status"] != "5xx" || tg["group"] != "http" || len(tg) != 4 {
				t.Fatalf("host %s: tags %v", host, tg)
			}
		}
	}
	tagCache.RLock()
	n := len(tagCache.m)
	tagCache.RUnlock()
	if n > maxCachedTags {
		t.Errorf("cache holds %d entries, bound %d", n, maxCachedTags)
	}
}

// A request without a method is a GET; one whose URL has no host is named
// by its Host field.
func TestTagDefaults(t *testing.T) {
	u, _ := url.Parse("/path")
	req := &http.Request{Host: "127.0.0.1:1", URL: u}
	tg := tags(req, "2xx")
	if tg["method"] != "GET" || tg["server"] != "127.0.0.1:1" {
		t.Errorf("tags %v", tg)
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{
		99: "other", 100: "1xx", 101: "1xx", 199: "1xx", 200: "2xx", 299: "2xx", 300: "3xx",
		399: "3xx", 400: "4xx", 499: "4xx", 500: "5xx", 599: "5xx", 600: "other", 0: "other",
	} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
