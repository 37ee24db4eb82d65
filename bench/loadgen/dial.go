package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

// connectTimeout bounds how long an unreachable target can stall a run.
const connectTimeout = 5 * time.Second

// dialAll opens n independent HTTP/2 connections to target and waits until each is ready.
// Each ClientConn owns exactly one connection, so n > 1 spreads RPCs over n sockets.
func dialAll(target string, n int) ([]*grpc.ClientConn, error) {
	if n < 1 {
		return nil, fmt.Errorf("--connections must be >= 1, got %d", n)
	}
	// A plain TCP probe turns "connection refused" into an immediate, readable error instead
	// of gRPC's silent reconnect loop.
	probe, err := net.DialTimeout("tcp", target, connectTimeout)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", target, err)
	}
	probe.Close()

	conns := make([]*grpc.ClientConn, 0, n)
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	for i := 0; i < n; i++ {
		conn, err := grpc.NewClient("passthrough:///"+target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithNoProxy(), // loopback only; never route through an HTTP proxy from the env
			grpc.WithDefaultCallOptions(
				grpc.ForceCodecV2(rawCodec{}),
				// Scenario 4 echoes 4 MiB bodies, just over gRPC's 4 MiB default.
				grpc.MaxCallRecvMsgSize(math.MaxInt32),
				grpc.MaxCallSendMsgSize(math.MaxInt32),
			),
		)
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, conn)
		if err := waitReady(ctx, conn); err != nil {
			closeAll()
			return nil, fmt.Errorf("connection %d to %s: %w", i+1, target, err)
		}
	}
	return conns, nil
}

// closeConns closes every connection dialAll opened.
func closeConns(conns []*grpc.ClientConn) {
	for _, c := range conns {
		c.Close()
	}
}

func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.Shutdown:
			return errors.New("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("not ready after %v (last state %v)", connectTimeout, state)
		}
	}
}
