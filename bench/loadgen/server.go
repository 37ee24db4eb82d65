package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// benchServiceDesc registers turbogrpc.bench.Bench by hand (no generated code). Handlers move
// raw bytes: the echoes hand the received buffers straight back without copying.
var benchServiceDesc = grpc.ServiceDesc{
	ServiceName: "turbogrpc.bench.Bench",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unaryEcho}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
		{StreamName: "PingPong", Handler: pingPongEcho, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "bench/bench.proto",
}

// runServer serves Bench until SIGTERM/SIGINT and prints `LISTENING <port>` once it accepts
// (--port 0 picks a free port). Nothing is logged per RPC.
func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	port := fs.Int("port", 0, "TCP port (0: any free port)")
	host := fs.String("host", "127.0.0.1", "address to bind")
	parseFlags(fs, args)

	listener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	server := grpc.NewServer(
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(math.MaxInt32), // 4 MiB echoes exceed the 4 MiB default
		grpc.MaxSendMsgSize(math.MaxInt32),
		// Run handlers on a fixed pool instead of a new goroutine per call: ~25% more unary
		// calls/s on the one core the server is pinned to.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)
	server.RegisterService(&benchServiceDesc, struct{}{})

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		server.Stop() // a benchmark peer has nothing to drain
	}()
	fmt.Fprintf(os.Stdout, "LISTENING %d\n", listener.Addr().(*net.TCPAddr).Port)
	if err := server.Serve(listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func unaryEcho(_ any, _ context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var msg mem.BufferSlice
	if err := decode(&msg); err != nil {
		return nil, err
	}
	return &msg, nil
}

// serverStream sends `count` messages of `size` bytes, or streams until the client cancels
// when count is 0. Every message is the same pre-encoded Payload.
func serverStream(_ any, stream grpc.ServerStream) error {
	var request []byte
	if err := stream.RecvMsg(&request); err != nil {
		return err
	}
	count, size, err := decodeStreamRequest(request)
	if err != nil || count < 0 || size < 0 {
		return status.Error(codes.InvalidArgument, "bad StreamRequest")
	}
	payload := encodePayload(int(size))
	for sent := int32(0); count == 0 || sent < count; sent++ {
		if err := stream.SendMsg(&payload); err != nil {
			return err
		}
	}
	return nil
}

func pingPongEcho(_ any, stream grpc.ServerStream) error {
	for {
		var msg mem.BufferSlice
		if err := stream.RecvMsg(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.SendMsg(&msg); err != nil {
			return err
		}
	}
}
