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
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
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
//
// The other flags make it one backend of a client's load-balancing, retry or hedging test
// (tests/e2e/test_go_backends.py); all are off by default, and then the benchmark's echo
// handler and codec are used unchanged (the choice is made here, not per call).
func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	port := fs.Int("port", 0, "TCP port (0: any free port)")
	host := fs.String("host", "127.0.0.1", "address to bind")
	var r replica
	fs.StringVar(&r.name, "name", "", "trailing metadata `backend: NAME` on every Unary response")
	fs.Uint64Var(&r.failEvery, "fail-every", 0, "fail every Nth Unary call (0: never)")
	failCode := fs.Uint("fail-code", uint(codes.Unavailable), "status code of --fail-every's failures")
	delayMS := fs.Uint("delay-ms", 0, "Unary sleeps this many ms before answering")
	withHealth := fs.Bool("health", false,
		"serve grpc.health.v1.Health (SIGUSR1: NOT_SERVING, SIGUSR2: SERVING again)")
	parseFlags(fs, args)
	if *failCode == 0 || *failCode > 16 {
		return fmt.Errorf("--fail-code %d is not an error status code (1..16)", *failCode)
	}
	r.failCode = codes.Code(*failCode)
	r.delay = time.Duration(*delayMS) * time.Millisecond

	desc := benchServiceDesc
	var codec encoding.CodecV2 = rawCodec{}
	if r.name != "" || r.failEvery > 0 || r.delay > 0 {
		desc.Methods = []grpc.MethodDesc{{MethodName: "Unary", Handler: r.unary}}
	}
	if *withHealth {
		codec = healthCodec{proto: encoding.GetCodecV2(proto.Name)}
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	server := grpc.NewServer(
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(math.MaxInt32), // 4 MiB echoes exceed the 4 MiB default
		grpc.MaxSendMsgSize(math.MaxInt32),
		// Run handlers on a fixed pool instead of a new goroutine per call: ~25% more unary
		// calls/s on the one core the server is pinned to.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)
	server.RegisterService(&desc, struct{}{})
	if *withHealth {
		serveHealth(server, desc.ServiceName)
	}

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

// replica is the Unary handler of a server started with --name, --fail-every or --delay-ms.
type replica struct {
	name      string
	failEvery uint64
	failCode  codes.Code
	delay     time.Duration
	calls     atomic.Uint64 // Unary calls received, counted for --fail-every
}

// unary echoes like unaryEcho, after the optional delay, unless this call is one that fails.
// Its trailers name the backend and echo grpc-previous-rpc-attempts ("0" on a first attempt),
// so a client sees which backend answered and whether its call was a retry.
func (r *replica) unary(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var msg mem.BufferSlice
	if err := decode(&msg); err != nil {
		return nil, err
	}
	attempts := "0"
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if seen := md.Get("grpc-previous-rpc-attempts"); len(seen) > 0 {
			attempts = seen[0]
		}
	}
	trailer := metadata.Pairs("attempts-seen", attempts)
	if r.name != "" {
		trailer.Set("backend", r.name)
	}
	_ = grpc.SetTrailer(ctx, trailer) // fails only outside a handler
	if r.failEvery > 0 && r.calls.Add(1)%r.failEvery == 0 {
		msg.Free()
		return nil, status.Errorf(r.failCode, "%s fails every call number %d", r.name, r.failEvery)
	}
	if r.delay > 0 {
		timer := time.NewTimer(r.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done(): // a hedged call answered elsewhere cancels this attempt
			msg.Free()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return &msg, nil
}

// serveHealth registers grpc-go's health service with the server as a whole ("") and
// `service` SERVING; SIGUSR1 turns both NOT_SERVING and SIGUSR2 back, so a test can take
// a backend out of a health-checked client's rotation without stopping it.
func serveHealth(server *grpc.Server, service string) {
	checker := health.NewServer()
	healthpb.RegisterHealthServer(server, checker)
	set := func(state healthpb.HealthCheckResponse_ServingStatus) {
		checker.SetServingStatus("", state)
		checker.SetServingStatus(service, state)
	}
	set(healthpb.HealthCheckResponse_SERVING)
	toggles := make(chan os.Signal, 1)
	signal.Notify(toggles, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for sig := range toggles {
			if sig == syscall.SIGUSR1 {
				set(healthpb.HealthCheckResponse_NOT_SERVING)
			} else {
				set(healthpb.HealthCheckResponse_SERVING)
			}
		}
	}()
}

// healthCodec is rawCodec for the bench's byte messages and grpc-go's protobuf codec for the
// health service's (ForceServerCodecV2 applies one codec to every service on the server).
type healthCodec struct{ proto encoding.CodecV2 }

func (healthCodec) Name() string { return proto.Name }

func (c healthCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch v.(type) {
	case *[]byte, *mem.BufferSlice:
		return rawCodec{}.Marshal(v)
	}
	return c.proto.Marshal(v)
}

func (c healthCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch v.(type) {
	case *[]byte, *mem.BufferSlice, *recvSize:
		return rawCodec{}.Unmarshal(data, v)
	}
	return c.proto.Unmarshal(data, v)
}
