package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// connectTimeout bounds how long an unreachable target can stall a run.
const connectTimeout = 5 * time.Second

// addTLSFlag registers --tls-ca on a client mode's flags; its value goes to dialAll.
func addTLSFlag(fs *flag.FlagSet) *string {
	return fs.String("tls-ca", "", "dial TLS (ALPN h2) trusting this root (PEM); plaintext if empty")
}

// tlsConfig trusts the roots in caFile and offers h2 by ALPN; nil for plaintext (caFile "").
// The server's certificate must name the dialled host (the bench's certificate names 127.0.0.1).
func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}, nil
}

// probe opens and closes one connection (a TLS handshake too, with config), so that "connection
// refused" or a failed handshake is an immediate, readable error instead of gRPC's silent
// reconnect loop.
func probe(target string, config *tls.Config) error {
	dialer := &net.Dialer{Timeout: connectTimeout}
	if config == nil {
		conn, err := dialer.Dial("tcp", target)
		if err != nil {
			return fmt.Errorf("cannot reach %s: %w", target, err)
		}
		return conn.Close()
	}
	conn, err := tls.DialWithDialer(dialer, "tcp", target, config)
	if err != nil {
		return fmt.Errorf("TLS to %s: %w", target, err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
		return fmt.Errorf("TLS to %s: the server chose ALPN %q, not h2", target, got)
	}
	return nil
}

// dialAll opens n independent HTTP/2 connections to target and waits until each is ready,
// over TLS when caFile is set (see tlsConfig). Each ClientConn owns exactly one
// connection, so n > 1 spreads RPCs over n sockets.
func dialAll(target string, n int, caFile string) ([]*grpc.ClientConn, error) {
	if n < 1 {
		return nil, fmt.Errorf("--connections must be >= 1, got %d", n)
	}
	config, err := tlsConfig(caFile)
	if err != nil {
		return nil, err
	}
	if err := probe(target, config); err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if config != nil {
		creds = credentials.NewTLS(config)
	}

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
			grpc.WithTransportCredentials(creds),
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
