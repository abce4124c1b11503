module github.com/pynba-go/pynba/contrib/grpc

go 1.26.0

require (
	github.com/pynba-go/pynba v0.0.0
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.85.0
)

require (
	github.com/petermattis/goid v0.0.0-20261109124353-7cfa343ad0ab // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/pynba-go/pynba => ../..
