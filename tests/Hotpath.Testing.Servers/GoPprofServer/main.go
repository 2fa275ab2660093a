// A Go service with net/http/pprof and known, steady work: CPU in burn, lock contention in contend,
// channel blocking in block, allocations in allocate. The tests scrape it as they would any Go service.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"time"
)

var sink []byte

func burn() {
	buf := make([]byte, 4096)
	for {
		sum := sha256.Sum256(buf)
		buf[0] = sum[0]
	}
}

func contend(mu *sync.Mutex) {
	for {
		mu.Lock()
		time.Sleep(5 * time.Millisecond)
		mu.Unlock()
	}
}

func block(ch chan int) {
	for {
		<-ch
	}
}

func allocate() {
	for {
		sink = make([]byte, 64*1024)
		time.Sleep(time.Millisecond)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	var mu sync.Mutex
	for i := 0; i < 3; i++ {
		go contend(&mu)
	}
	ch := make(chan int)
	go block(ch)
	go func() {
		for {
			time.Sleep(10 * time.Millisecond)
			ch <- 1
		}
	}()
	go burn()
	go allocate()

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	if err := http.Serve(listener, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
