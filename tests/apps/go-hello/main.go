// go-hello is the sample Go service that kdap's tests, benchmarks and demo
// debug. It is deliberately small and built with -gcflags=all=-N -l so that a
// breakpoint inside handle() shows the values of the request that hit it.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
)

type stats struct {
	mu   sync.Mutex
	Hits int
}

var st stats

func handle(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	st.Hits++
	hits := st.Hits
	st.mu.Unlock()
	msg := fmt.Sprintf("hello %s #%d", r.URL.Path, hits)
	fmt.Fprintln(w, msg) // LINE:bp the tests' breakpoint (found by this marker)
	log.Printf("served %s", r.URL.Path)
}

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	http.HandleFunc("/", handle)
	log.Printf("go-hello listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
