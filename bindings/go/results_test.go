package lmbatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"lmbatch"
)

// One Results channel delivers every id once, while goroutines enqueue with shifted frames (so a
// result handed to the wrong id shows) and a competing PopWait takes some ids by id.
func TestResultsDeliversEveryIDOnce(t *testing.T) {
	const goroutines, perGoroutine = 4, 12
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxBatch: 8, QueueCapacity: 64,
		MaxWait: 2 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := p.Results(ctx)

	var mu sync.Mutex
	offsets := map[uint64][2]int{}
	takenByID := map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perGoroutine)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			img, box := shifted(t, 9*g, 5*g, 7*g)
			for i := 0; i < perGoroutine; i++ {
				id := uint64(1000*g + i)
				mu.Lock()
				offsets[id] = [2]int{9 * g, 5 * g}
				mu.Unlock()
				for {
					err := p.Enqueue(id, img, box)
					if err == nil {
						break
					}
					if !errors.Is(err, lmbatch.ErrQueueFull) {
						errs <- fmt.Errorf("enqueue %d: %w", id, err)
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
				if i == 0 {
					// Competes with the channel: whichever takes it, it arrives once.
					lm, err := p.PopWait(id, 60*time.Second)
					if err == nil {
						err = checkPoints(lm, float32(9*g), float32(5*g))
					} else if errors.Is(err, lmbatch.ErrNotFound) {
						continue // the Results goroutine took it first
					}
					if err != nil {
						errs <- fmt.Errorf("pop_wait %d: %w", id, err)
						continue
					}
					mu.Lock()
					takenByID[id] = true
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	want := len(offsets) - len(takenByID)
	mu.Unlock()
	seen := map[uint64]int{}
	timeout := time.After(120 * time.Second)
	for len(seen) < want {
		select {
		case r, ok := <-results:
			if !ok {
				t.Fatalf("the channel closed after %d of %d results", len(seen), want)
			}
			if r.Err != nil {
				t.Fatalf("id %d: %v", r.ID, r.Err)
			}
			seen[r.ID]++
			mu.Lock()
			off, known := offsets[r.ID]
			byID := takenByID[r.ID]
			mu.Unlock()
			if !known || byID {
				t.Fatalf("id %d delivered but not expected (known %v, taken by id %v)", r.ID, known, byID)
			}
			if err := checkPoints(r.Landmarks, float32(off[0]), float32(off[1])); err != nil {
				t.Fatalf("id %d: %v", r.ID, err)
			}
		case <-timeout:
			t.Fatalf("only %d of %d results arrived", len(seen), want)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("id %d delivered %d times", id, n)
		}
	}
	select {
	case r := <-results:
		t.Fatalf("an extra result: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	s := stats(t, p)
	if s.Popped != uint64(len(offsets)) {
		t.Errorf("popped %d, want %d", s.Popped, len(offsets))
	}
	t.Logf("%d ids through the channel, %d by PopWait", len(seen), len(takenByID))
}

// Cancelling ctx closes the channel; Close closes the others, even while nobody receives, and
// returns promptly; a Results after Close is closed at once.
func TestResultsEndsOnCancelAndClose(t *testing.T) {
	p, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := p.Results(ctx)
	cancel()
	select {
	case _, ok := <-first:
		if ok {
			t.Fatal("a result on an idle pipeline")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling ctx did not close the channel")
	}

	idle := p.Results(context.Background())
	// This one holds a result that nobody receives when Close comes.
	blocked := p.Results(context.Background())
	if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := stats(t, p)
		if s.Popped == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	p.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	for name, ch := range map[string]<-chan lmbatch.Result{"idle": idle, "blocked": blocked} {
		for range ch {
		}
		t.Logf("%s channel closed", name)
	}
	if _, ok := <-p.Results(context.Background()); ok {
		t.Fatal("Results after Close delivered something")
	}
}

// PopNext: the id with its result, and ErrTimeout when nothing is finished.
func TestPopNext(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU})
	if _, _, err := p.PopNext(0); !errors.Is(err, lmbatch.ErrTimeout) {
		t.Fatalf("PopNext on an empty pipeline: %v", err)
	}
	if err := p.Enqueue(77, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	id, lm, err := p.PopNext(60 * time.Second)
	if err != nil || id != 77 {
		t.Fatalf("PopNext: id %d, %v", id, err)
	}
	if err := checkPoints(lm, 0, 0); err != nil {
		t.Fatal(err)
	}
	// The 1.3 fields come through PopNext too: the next frame's box holds the nose tip.
	if tb, nose := lm.TrackBox, lm.Points[1]; !(tb.X1 < nose.X && nose.X < tb.X2 && tb.Y1 < nose.Y && nose.Y < tb.Y2) {
		t.Fatalf("PopNext's TrackBox %+v does not hold the nose %+v", tb, nose)
	}
	if _, err := p.Pop(77); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Fatalf("Pop after PopNext: %v", err)
	}
	if lmbatch.APIMinor < 3 {
		t.Fatalf("header minor %d: lm_pop_next needs ABI 1.3", lmbatch.APIMinor)
	}
}

// A result a Results goroutine had taken when its ctx ended is never lost: it is received on the
// channel, or else handed to the next Pop of its id (and its id stays live until then). Many
// rounds, since the goroutine's select between sending and ctx.Done is random.
func TestResultsHandsOverWhatItHeldWhenCtxEnds(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: lmbatch.ZeroDuration})
	handedOver := 0
	const rounds = 12
	for round := 0; round < rounds; round++ {
		id := uint64(1000 + round)
		ctx, cancel := context.WithCancel(context.Background())
		results := p.Results(ctx)
		before := stats(t, p).Popped
		if err := p.Enqueue(id, astronaut(t), astroBox); err != nil {
			t.Fatal(err)
		}
		// Wait until the goroutine has taken the result from the library, then end its ctx
		// while nobody receives.
		deadline := time.Now().Add(60 * time.Second)
		for stats(t, p).Popped == before {
			if time.Now().After(deadline) {
				t.Fatal("the Results goroutine took nothing within 60 s")
			}
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		received := 0
		for r := range results {
			if r.ID != id || r.Err != nil {
				t.Fatalf("round %d: received %d, %v", round, r.ID, r.Err)
			}
			received++
		}
		if received == 0 {
			handedOver++
			if err := p.Enqueue(id, astronaut(t), astroBox); !errors.Is(err, lmbatch.ErrDuplicateID) {
				t.Fatalf("round %d: Enqueue of a held id: %v", round, err)
			}
			lm, err := p.Pop(id)
			if err != nil {
				t.Fatalf("round %d: the held result was lost: %v", round, err)
			}
			if err := checkPoints(lm, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Pop(id); !errors.Is(err, lmbatch.ErrNotFound) {
			t.Fatalf("round %d: delivered twice: %v", round, err)
		}
	}
	t.Logf("%d of %d results were held and handed to Pop, the rest received", handedOver, rounds)
}
