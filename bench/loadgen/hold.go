package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type holdResult struct {
	Mode    string      `json:"mode"`
	Streams int         `json:"streams"`
	Errors  errorCounts `json:"errors"`
}

// runHold opens N PingPong calls spread over C connections, proves each open with one echo,
// prints `READY <n>` and keeps them open until stdin closes or SIGTERM/SIGINT arrives.
// grpc-go never exceeds a server's MAX_CONCURRENT_STREAMS on one connection: calls above it
// wait for a slot, so they count as failed (DEADLINE_EXCEEDED) after --open-timeout; raise
// --connections for servers with a low limit.
func runHold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	target := fs.String("target", "", "server HOST:PORT")
	tlsCA := addTLSFlag(fs)
	streams := fs.Int("streams", 1000, "PingPong calls to hold open")
	connections := fs.Int("connections", 10, "HTTP/2 connections to spread the calls over")
	openTimeout := fs.Float64("open-timeout", 60, "seconds allowed for all calls to get their echo")
	size := fs.Int("size", 100, "body bytes of the proving message")
	// Opening all calls at once overflows grpc-core's queue of calls not yet picked up by the
	// application (they fail with CANCELLED), so only this many are opening at any moment.
	openBatch := fs.Int("open-concurrency", 200, "calls being opened at once")
	parseFlags(fs, args)
	if *target == "" || *streams < 1 || *openTimeout <= 0 || *size < 0 || *openBatch < 1 {
		return fmt.Errorf("need --target, --streams >= 1, --open-timeout > 0, --size >= 0, --open-concurrency >= 1")
	}
	conns, err := dialAll(*target, *connections, *tlsCA)
	if err != nil {
		return err
	}
	defer closeConns(conns)

	// Listen before opening so a SIGTERM at any point still ends with the JSON result.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	request := encodePayload(*size)
	release, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	var (
		mu        sync.Mutex
		errs      = errorCounts{}
		opened    sync.WaitGroup // done when a call got its echo or failed
		finished  sync.WaitGroup // done when a call's goroutine returns
		ready     atomic.Int64
		releasing atomic.Bool // set before cancelling: the CANCELLED statuses that follow are ours
	)
	fail := func(err error) {
		if releasing.Load() {
			return
		}
		mu.Lock()
		errs.add(err)
		mu.Unlock()
	}
	openDeadline := time.Now().Add(seconds(*openTimeout))
	openSlots := make(chan struct{}, *openBatch)
	for i := 0; i < *streams; i++ {
		opened.Add(1)
		finished.Add(1)
		openSlots <- struct{}{}
		go func(conn *grpc.ClientConn) {
			defer finished.Done()
			stream, cancel, err := openHeld(release, conn, request, openDeadline)
			<-openSlots
			if err != nil {
				fail(err)
				opened.Done()
				return
			}
			defer cancel()
			ready.Add(1)
			opened.Done()
			if err := awaitRelease(release, stream); err != nil {
				fail(err)
			}
		}(conns[i%len(conns)])
	}
	opened.Wait()
	fmt.Fprintf(os.Stdout, "READY %d\n", ready.Load()) // os.Stdout is unbuffered: no flush needed

	waitForRelease(signals)
	releasing.Store(true)
	stopAll()
	finished.Wait()
	return printJSON(holdResult{Mode: "hold", Streams: int(ready.Load()), Errors: errs})
}

// openHeld starts one PingPong call and proves it open with one echo before openDeadline.
// The returned cancel ends the call; the deadline applies to the opening only.
func openHeld(release context.Context, conn *grpc.ClientConn, request []byte, openDeadline time.Time) (grpc.ClientStream, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(release)
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Until(openDeadline), func() { timedOut.Store(true); cancel() })
	stream, err := conn.NewStream(ctx, &pingPongDesc, methodPingPong)
	var reply recvSize
	if err == nil {
		if err = stream.SendMsg(&request); err != nil {
			err = stream.RecvMsg(&reply) // SendMsg hides the status; RecvMsg reports it
		} else if err = stream.RecvMsg(&reply); err == io.EOF {
			err = status.Error(codes.Unknown, "server ended the call before echoing")
		} else if err == nil && int(reply) != len(request) {
			err = errBadResponse
		}
	}
	if err == nil && !timer.Stop() {
		err = status.Error(codes.DeadlineExceeded, "echo arrived after --open-timeout")
	}
	if err != nil {
		timer.Stop()
		cancel()
		if timedOut.Load() {
			err = status.Error(codes.DeadlineExceeded, "no echo before --open-timeout")
		}
		return nil, nil, err
	}
	return stream, cancel, nil
}

// awaitRelease blocks until release is cancelled; a message or an end of the call before that
// means the server dropped a held stream.
func awaitRelease(release context.Context, stream grpc.ClientStream) error {
	var reply recvSize
	err := stream.RecvMsg(&reply)
	if release.Err() != nil {
		return nil
	}
	if err == nil {
		return status.Error(codes.Unknown, "unexpected message on a held call")
	}
	if err == io.EOF {
		return status.Error(codes.Unknown, "server ended a held call")
	}
	return err
}

// waitForRelease returns when stdin reaches end of file or SIGTERM/SIGINT arrives.
func waitForRelease(signals <-chan os.Signal) {
	done := make(chan struct{}, 1)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-signals:
	}
}
