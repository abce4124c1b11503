module github.com/pynba-go/pynba/contrib/gorillamux

go 1.26.0

require (
	github.com/gorilla/mux v1.8.1
	github.com/pynba-go/pynba v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/petermattis/goid v0.0.0-20261109124353-7cfa343ad0ab // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/pynba-go/pynba => ../..
