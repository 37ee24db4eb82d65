package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type pingPongResult struct {
	Mode   string      `json:"mode"`
	Count  int         `json:"count"`
	P50us  float64     `json:"p50_us"`
	P99us  float64     `json:"p99_us"`
	MeanUs float64     `json:"mean_us"`
	Errors errorCounts `json:"errors"`
}

var pingPongDesc = grpc.StreamDesc{StreamName: "PingPong", ServerStreams: true, ClientStreams: true}

// runPingPong times sequential round trips on one PingPong call: warm-up round trips first
// (not timed), then `count` timed ones, each latency kept exactly in a preallocated slice.
func runPingPong(args []string) error {
	fs := flag.NewFlagSet("pingpong", flag.ExitOnError)
	target := fs.String("target", "", "server HOST:PORT")
	tlsCA := addTLSFlag(fs)
	count := fs.Int("count", 10000, "timed round trips")
	warmup := fs.Int("warmup", 1000, "untimed round trips before the timed ones")
	size := fs.Int("size", 100, "body bytes of each message")
	parseFlags(fs, args)
	if *target == "" || *count < 1 || *warmup < 0 || *size < 0 {
		return fmt.Errorf("need --target, --count >= 1, --warmup >= 0, --size >= 0")
	}
	conns, err := dialAll(*target, 1, *tlsCA)
	if err != nil {
		return err
	}
	defer conns[0].Close()

	errs := errorCounts{}
	latencies := make([]time.Duration, 0, *count)
	if err := pingPong(conns[0], encodePayload(*size), *warmup, &latencies); err != nil {
		errs.add(err)
	}
	result := pingPongResult{Mode: "pingpong", Count: len(latencies), Errors: errs}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		var sum time.Duration
		for _, d := range latencies {
			sum += d
		}
		result.P50us = micros(percentile(latencies, 0.50))
		result.P99us = micros(percentile(latencies, 0.99))
		result.MeanUs = micros(sum) / float64(len(latencies))
	}
	return printJSON(result)
}

// pingPong fills *latencies up to its capacity; the call must then end with status OK.
func pingPong(conn *grpc.ClientConn, request []byte, warmup int, latencies *[]time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := conn.NewStream(ctx, &pingPongDesc, methodPingPong)
	if err != nil {
		return err
	}
	var reply recvSize
	roundTrip := func() error {
		if err := stream.SendMsg(&request); err != nil {
			if err == io.EOF { // the call already ended; its status comes from RecvMsg
				return stream.RecvMsg(&reply)
			}
			return err
		}
		if err := stream.RecvMsg(&reply); err != nil {
			if err == io.EOF {
				return status.Error(codes.Unknown, "server ended the call early")
			}
			return err
		}
		if int(reply) != len(request) {
			return errBadResponse
		}
		return nil
	}
	for i := 0; i < warmup; i++ {
		if err := roundTrip(); err != nil {
			return err
		}
	}
	for len(*latencies) < cap(*latencies) {
		began := time.Now()
		if err := roundTrip(); err != nil {
			return err
		}
		*latencies = append(*latencies, time.Since(began))
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(&reply); !errors.Is(err, io.EOF) {
		if err == nil {
			return status.Error(codes.Unknown, "unexpected message after half-close")
		}
		return err
	}
	return nil
}

// percentile picks the nearest-rank value from sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p*float64(len(sorted)) + 0.999999)
	return sorted[max(rank, 1)-1]
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }
