// Package tools pins the versions of the tools the repository runs:
// protoc-gen-go (go generate ./pb/) and benchstat (bench/run.sh). It is a
// module of its own so that the library's go.mod requires only what the
// library and its tests use. Run a tool from this directory:
// (cd tools && go tool benchstat old.txt new.txt).
package tools
