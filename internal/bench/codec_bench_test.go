package bench

import (
	"encoding/json"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

// The producer and consumer payload paths, for benchstat comparisons:
//
//	go test -run '^$' -bench 'Task|Decode' -count 10 ./internal/bench/ > new.txt

func BenchmarkNewReserveTask(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := tasks.NewInventoryReserveTask(reservePayload(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareReserveTask(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		data, err := json.Marshal(reservePayload(i))
		if err != nil {
			b.Fatal(err)
		}
		_ = asynq.NewTask(tasks.TypeInventoryReserve, data)
	}
}

func BenchmarkDecodeReserve(b *testing.B) {
	t, err := tasks.NewInventoryReserveTask(reservePayload(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tasks.Decode[tasks.InventoryReservePayload](t.Payload()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewPriceUpdateTask(b *testing.B) {
	fam := families()[1]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := fam.Task(i); err != nil {
			b.Fatal(err)
		}
	}
}
