package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

type streamResult struct {
	Mode     string      `json:"mode"`
	Messages int64       `json:"messages"`
	Seconds  float64     `json:"seconds"`
	MsgsPerS float64     `json:"msgs_per_s"`
	Errors   errorCounts `json:"errors"`
}

// paddedCounter keeps each stream's counter on its own cache line so receivers never contend.
type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

var serverStreamDesc = grpc.StreamDesc{StreamName: "ServerStream", ServerStreams: true}

// runStream opens K endless ServerStream calls (count 0) and counts the messages received
// between the end of the warm-up and the end of the measurement by snapshotting the counters,
// then cancels every call.
func runStream(args []string) error {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	target := fs.String("target", "", "server HOST:PORT")
	tlsCA := addTLSFlag(fs)
	streams := fs.Int("streams", 1, "concurrent ServerStream calls")
	connections := fs.Int("connections", 1, "HTTP/2 connections to spread the calls over")
	duration := fs.Float64("duration", 10, "measured seconds")
	warmup := fs.Float64("warmup", 2, "unmeasured seconds before the measurement")
	size := fs.Int("size", 100, "body bytes of each streamed message")
	parseFlags(fs, args)
	if *target == "" || *streams < 1 || *duration <= 0 || *warmup < 0 || *size < 0 {
		return fmt.Errorf("need --target, --streams >= 1, --duration > 0, --warmup >= 0, --size >= 0")
	}
	conns, err := dialAll(*target, *connections, *tlsCA)
	if err != nil {
		return err
	}
	defer closeConns(conns)

	request := encodeStreamRequest(0, int32(*size))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counters := make([]paddedCounter, *streams)
	var mu sync.Mutex
	errs := errorCounts{}
	var wg sync.WaitGroup
	for i := range counters {
		wg.Add(1)
		go func(conn *grpc.ClientConn, counter *atomic.Int64) {
			defer wg.Done()
			if err := receiveForever(ctx, conn, request, counter); err != nil && ctx.Err() == nil {
				mu.Lock()
				if errors.Is(err, io.EOF) {
					errs["EARLY_END"]++ // count 0 means endless; the server stopped on its own
				} else {
					errs.add(err)
				}
				mu.Unlock()
			}
		}(conns[i%len(conns)], &counters[i].n)
	}

	sum := func() int64 {
		var n int64
		for i := range counters {
			n += counters[i].n.Load()
		}
		return n
	}
	time.Sleep(seconds(*warmup))
	before, from := sum(), time.Now()
	time.Sleep(seconds(*duration))
	after, to := sum(), time.Now()
	cancel()
	wg.Wait()

	secs := to.Sub(from).Seconds()
	return printJSON(streamResult{
		Mode: "stream", Messages: after - before, Seconds: secs,
		MsgsPerS: float64(after-before) / secs, Errors: errs,
	})
}

// receiveForever runs one ServerStream call until it fails or ctx is cancelled.
func receiveForever(ctx context.Context, conn *grpc.ClientConn, request []byte, counter *atomic.Int64) error {
	stream, err := conn.NewStream(ctx, &serverStreamDesc, methodServerStream)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&request); err != nil {
		return stream.RecvMsg(new(recvSize)) // SendMsg hides the status; RecvMsg reports it
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	var msg recvSize
	for {
		if err := stream.RecvMsg(&msg); err != nil {
			return err
		}
		counter.Add(1)
	}
}
