package pynbagin_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pynba-go/pynba"
	pynbagin "github.com/pynba-go/pynba/contrib/gin"
	"github.com/pynba-go/pynba/pinbatest"
)

func ExampleMiddleware() {
	pinba := pinbatest.NewServer() // a Pinba receiver on 127.0.0.1
	defer pinba.Close()

	engine := gin.New()
	engine.Use(pynbagin.Middleware())
	engine.GET("/items/:id", func(c *gin.Context) {})
	h := pynba.Monitor(pinba.Addr())(engine)

	for _, target := range []string{"/items/1", "/items/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	pkts, err := pinba.Wait(3, 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pkts {
		fmt.Println(p.ScriptName, p.Status)
	}
	// Output:
	// GET /items/:id 200
	// GET /items/:id 200
	// (no route) 404
}
