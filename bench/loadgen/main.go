// Command loadgen is the Go load generator and peer of turbogrpc's benchmark suite
// (bench/run.py). It speaks the turbogrpc.bench.Bench service without generated code.
//
//	loadgen unary    --target HOST:PORT --concurrency N [--connections C] --duration SEC --warmup SEC --size BYTES [--bytes-service]
//	loadgen stream   --target HOST:PORT --streams K --duration SEC --warmup SEC --size 100
//	loadgen pingpong --target HOST:PORT --count N --warmup N --size 100
//	loadgen hold     --target HOST:PORT --streams N [--connections C] [--open-timeout SEC]
//	loadgen server   --port P [--host 127.0.0.1] [--name N --fail-every K --fail-code C --delay-ms D --health]  (test backends: tests/e2e/test_go_backends.py)
//
// Every client mode also takes --tls-ca FILE: TLS (ALPN h2) instead of plaintext, trusting that
// root. Every client mode prints exactly one JSON object on stdout at the end (hold prints
// `READY <n>` first); logs go to stderr. Exit status is non-zero only for setup failures
// (bad flags, target unreachable); failed RPCs are reported by status name under "errors".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
)

const (
	methodUnary = "/turbogrpc.bench.Bench/Unary"
	// The same echo served with no (de)serializer on the server: bytes in, the same bytes out.
	methodUnaryBytes   = "/turbogrpc.bench.BenchBytes/Unary"
	methodServerStream = "/turbogrpc.bench.Bench/ServerStream"
	methodPingPong     = "/turbogrpc.bench.Bench/PingPong"
)

var modes = map[string]func(args []string) error{
	"unary":    runUnary,
	"stream":   runStream,
	"pingpong": runPingPong,
	"hold":     runHold,
	"server":   runServer,
}

func main() {
	if len(os.Args) < 2 || modes[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: loadgen unary|stream|pingpong|hold|server [flags] (-h for a mode's flags)")
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// Allocation-heavy RPC loops spend less CPU in GC with a larger heap target; memory is
		// not scarce here and the peer must not be the bottleneck.
		debug.SetGCPercent(400)
	}
	if err := modes[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// parseFlags parses a mode's flags and rejects stray arguments, exiting with status 2 on misuse.
func parseFlags(fs *flag.FlagSet, args []string) {
	fs.Init(fs.Name(), flag.ExitOnError)
	_ = fs.Parse(args) // ExitOnError: never returns an error
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "loadgen %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		os.Exit(2)
	}
}

// printJSON writes the mode's single result object on stdout.
func printJSON(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s\n", line)
	return err
}
