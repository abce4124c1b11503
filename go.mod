module github.com/pynba-go/pynba

go 1.26.0

require (
	github.com/petermattis/goid v0.0.0-20261109124353-7cfa343ad0ab
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)
