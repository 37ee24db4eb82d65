package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
)

type unaryResult struct {
	Mode    string      `json:"mode"`
	RPCs    int         `json:"rpcs"`
	OK      int         `json:"ok"`
	Errors  errorCounts `json:"errors"`
	Seconds float64     `json:"seconds"`
	QPS     float64     `json:"qps"`
	P50us   float64     `json:"p50_us"`
	P99us   float64     `json:"p99_us"`
	MBps    float64     `json:"mb_per_s"`
}

// unaryWorker holds one goroutine's tallies; merged only after all goroutines finish, so the
// hot loop touches no shared memory.
type unaryWorker struct {
	rpcs, ok  int
	respBytes int64
	errors    errorCounts
	latency   histogram
}

// runUnary drives back-to-back Unary echo calls from `concurrency` goroutines spread
// round-robin over `connections` connections. Only RPCs completing inside the measurement
// window (after warm-up) count toward rpcs/ok/qps/latency; "errors" counts failures of every
// RPC, warm-up included, so a run with any failure is visible.
func runUnary(args []string) error {
	fs := flag.NewFlagSet("unary", flag.ExitOnError)
	target := fs.String("target", "", "server HOST:PORT")
	tlsCA := addTLSFlag(fs)
	concurrency := fs.Int("concurrency", 1, "RPCs in flight (one goroutine each)")
	connections := fs.Int("connections", 1, "HTTP/2 connections to spread the goroutines over")
	duration := fs.Float64("duration", 10, "measured seconds")
	warmup := fs.Float64("warmup", 2, "unmeasured seconds before the measurement")
	size := fs.Int("size", 100, "request body bytes (echoed back)")
	bytesService := fs.Bool("bytes-service", false, "call "+methodUnaryBytes+" instead of "+methodUnary)
	parseFlags(fs, args)
	method := methodUnary
	if *bytesService {
		method = methodUnaryBytes
	}
	if *target == "" || *concurrency < 1 || *duration <= 0 || *warmup < 0 || *size < 0 {
		return fmt.Errorf("need --target, --concurrency >= 1, --duration > 0, --warmup >= 0, --size >= 0")
	}

	conns, err := dialAll(*target, *connections, *tlsCA)
	if err != nil {
		return err
	}
	defer closeConns(conns)

	request := encodePayload(*size)
	start := time.Now()
	measureFrom := start.Add(seconds(*warmup))
	measureTo := measureFrom.Add(seconds(*duration))
	// RPCs still in flight at measureTo finish normally (not counted); the grace deadline only
	// stops a hung server from hanging the run.
	ctx, cancel := context.WithDeadline(context.Background(), measureTo.Add(10*time.Second))
	defer cancel()

	workers := make([]*unaryWorker, *concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &unaryWorker{errors: errorCounts{}}
		workers[i] = w
		wg.Add(1)
		go func(conn *grpc.ClientConn) {
			defer wg.Done()
			w.run(ctx, conn, method, request, int64(*size), measureFrom, measureTo)
		}(conns[i%len(conns)])
	}
	wg.Wait()

	total := &unaryWorker{errors: errorCounts{}}
	for _, w := range workers {
		total.rpcs += w.rpcs
		total.ok += w.ok
		total.respBytes += w.respBytes
		total.errors.merge(w.errors)
		total.latency.merge(&w.latency)
	}
	secs := measureTo.Sub(measureFrom).Seconds()
	return printJSON(unaryResult{
		Mode: "unary", RPCs: total.rpcs, OK: total.ok, Errors: total.errors,
		Seconds: secs, QPS: float64(total.ok) / secs,
		P50us: total.latency.percentileMicros(0.50), P99us: total.latency.percentileMicros(0.99),
		MBps: float64(total.respBytes) / secs / 1e6,
	})
}

func (w *unaryWorker) run(ctx context.Context, conn *grpc.ClientConn, method string, request []byte, bodyLen int64, from, to time.Time) {
	var resp recvSize
	wantLen := len(request) // an echo comes back byte for byte
	for {
		began := time.Now()
		if !began.Before(to) {
			return
		}
		err := conn.Invoke(ctx, method, &request, &resp)
		ended := time.Now()
		if err == nil && int(resp) != wantLen {
			err = errBadResponse
		}
		if err != nil {
			w.errors.add(err)
		}
		if ended.Before(from) || !ended.Before(to) {
			continue
		}
		w.rpcs++
		if err == nil {
			w.ok++
			w.respBytes += bodyLen
			w.latency.record(ended.Sub(began))
		}
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
