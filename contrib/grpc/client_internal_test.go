package pynbagrpc

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
)

// Past the cache's bound, tags are still right, and the cache stays bounded.
func TestTagCacheBound(t *testing.T) {
	for i := range maxCachedTags + 50 {
		method := "/pkg.Service/M" + strconv.Itoa(i)
		for range 2 {
			tg := clientTags(method, nil, codes.NotFound)
			if tg["method"] != method || tg["code"] != "NotFound" || tg["group"] != "grpc" || tg["server"] != "" || len(tg) != 4 {
				t.Fatalf("%s: tags %v", method, tg)
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
