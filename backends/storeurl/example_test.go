package storeurl_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sessionkit/session/backends/storeurl"
)

// A store taken from configuration: memory:// here, redis://… or a
// registered scheme (postgres://, sqlite://) in production.
func ExampleOpen() {
	st, err := storeurl.Open(context.Background(), "memory://?max_sessions=10000")
	if err != nil {
		log.Fatal(err)
	}
	defer storeurl.Close(st)
	fmt.Printf("%T\n", st)
	// Output: *memstore.Store
}
