package main

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorCounts counts failed RPCs by status code name ("UNAVAILABLE", ...). Not safe for
// concurrent use: each goroutine keeps its own or holds a lock.
type errorCounts map[string]int

var loggedCodes sync.Map

func (e errorCounts) add(err error) {
	if errors.Is(err, errBadResponse) {
		e["BAD_RESPONSE"]++
		return
	}
	name := codeName(status.Code(err))
	if _, seen := loggedCodes.LoadOrStore(name, true); !seen {
		// The first failure of each kind, process-wide, explains the count in the JSON.
		fmt.Fprintf(os.Stderr, "loadgen: first %s: %v\n", name, err)
	}
	e[name]++
}

func (e errorCounts) merge(other errorCounts) {
	for k, v := range other {
		e[k] += v
	}
}

// histogram records latencies in nanoseconds in log-linear buckets (128 per power of two,
// so a reported percentile is within 0.4% of the true value) at a fixed ~60 KB, cheap enough
// to keep one per goroutine and merge at the end.
const subBits = 7
const subCount = 1 << subBits

type histogram struct {
	counts [subCount * (64 - subBits + 1)]uint64
	total  uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	// v>>shift keeps the top subBits+1 bits, a value in [subCount, 2*subCount).
	shift := bits.Len64(v) - subBits - 1
	return shift*subCount + int(v>>uint(shift))
}

// bucketMid is the middle of the value range that bucket i covers.
func bucketMid(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := uint((i - subCount) / subCount)
	lower := uint64(subCount+(i-subCount)%subCount) << shift
	return lower + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// percentileMicros returns the p-th percentile (0 < p <= 1) in microseconds, 0 when empty.
func (h *histogram) percentileMicros(p float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(p*float64(h.total) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return float64(bucketMid(i)) / 1e3
		}
	}
	return 0
}

// codeNames are the canonical status names of the gRPC spec (grpc-go's Code.String() spells
// them in CamelCase, e.g. "Canceled").
var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED"}

func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}
