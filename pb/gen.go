package pb

// pinba.pb.go is generated from pinba.proto. protoc comes from Debian's
// protobuf-compiler package; protoc-gen-go is pinned as a tool in tools/go.mod.
// Rerun with: go generate ./pb/

//go:generate sh -c "protoc --plugin=protoc-gen-go=\"$(cd ../tools && go tool -n protoc-gen-go)\" --go_out=. --go_opt=paths=source_relative pinba.proto"
