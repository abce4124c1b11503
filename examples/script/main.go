// Command script measures a batch job with a ScriptMonitor, pynba's
// ScriptMonitor: no web request, the same timers and tags, one packet per
// Send.
//
//	go run ./examples/script    # sends to 127.0.0.1:30002
package main

import (
	"log"
	"time"

	"github.com/pynba-go/pynba"
)

func main() {
	sm, err := pynba.NewScriptMonitor("127.0.0.1:30002", pynba.WithTags(pynba.Tags{"job": "import"}))
	if err != nil {
		log.Fatal(err)
	}

	for batch := range 3 {
		pynba.SetScriptName("import-batch")
		pynba.Time(pynba.Tags{"step": "fetch"}, func() { time.Sleep(5 * time.Millisecond) })
		for range 10 { // ten identical timers: one timer with 10 hits
			pynba.Time(pynba.Tags{"step": "insert"}, func() { time.Sleep(time.Millisecond) })
		}
		if batch < 2 {
			if err := sm.Send(); err != nil { // one packet per batch
				log.Fatal(err)
			}
		}
	}
	if err := sm.Close(); err != nil { // sends the last batch
		log.Fatal(err)
	}
	log.Printf("sent: %+v", sm.Stats())
}
