package lmbatch_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"lmbatch"
)

// The astronaut frame of the evaluation set: 512x512 RGB8, no row padding.
const (
	astroW      = 512
	astroH      = 512
	astroStride = 3 * astroW
)

var astroBox = lmbatch.Box{X1: 177.2828, Y1: 80.559, X2: 271.8469, Y2: 175.1234}

// onnxruntime's points for the astronaut face, in frame pixels.
var reference = map[int][2]float32{
	1:   {223.65218, 131.01866}, // nose tip
	33:  {194.38627, 100.88255},
	263: {256.41855, 103.96334},
	152: {221.54256, 174.9834},
}

const tolerancePx = 1.5

var (
	frameOnce sync.Once
	frameData []byte
	frameErr  error
)

func astronautData(t testing.TB) []byte {
	t.Helper()
	frameOnce.Do(func() {
		frameData, frameErr = os.ReadFile(filepath.Join("..", "..", "tests", "data", "faces", "astronaut_rgb8_native.raw"))
		if frameErr == nil && len(frameData) != astroStride*astroH {
			frameErr = fmt.Errorf("astronaut frame has %d bytes, want %d", len(frameData), astroStride*astroH)
		}
	})
	if frameErr != nil {
		t.Fatal(frameErr)
	}
	return frameData
}

func astronaut(t testing.TB) lmbatch.Image {
	return lmbatch.Image{Data: astronautData(t), Width: astroW, Height: astroH, Stride: astroStride, Format: lmbatch.RGB8}
}

// shifted places the astronaut frame at (dx, dy) in a larger gray frame whose rows carry pad
// bytes of padding, so that every shift gives different, predictable points.
func shifted(t testing.TB, dx, dy, pad int) (lmbatch.Image, lmbatch.Box) {
	src := astronautData(t)
	w, h := astroW+dx, astroH+dy
	stride := 3*w + pad
	data := make([]byte, stride*h)
	for i := range data {
		data[i] = 0x80
	}
	for y := 0; y < astroH; y++ {
		copy(data[(y+dy)*stride+3*dx:], src[y*astroStride:(y+1)*astroStride])
	}
	b := lmbatch.Box{X1: astroBox.X1 + float32(dx), Y1: astroBox.Y1 + float32(dy),
		X2: astroBox.X2 + float32(dx), Y2: astroBox.Y2 + float32(dy)}
	return lmbatch.Image{Data: data, Width: w, Height: h, Stride: stride, Format: lmbatch.RGB8}, b
}

// checkPoints reports the reference points that are farther than tolerancePx from lm's,
// with the reference moved by (dx, dy).
func checkPoints(lm lmbatch.Landmarks, dx, dy float32) error {
	if len(lm.Points) != 468 {
		return fmt.Errorf("%d points, want 468", len(lm.Points))
	}
	for i, r := range reference {
		p := lm.Points[i]
		d := math.Hypot(float64(p.X-(r[0]+dx)), float64(p.Y-(r[1]+dy)))
		if !(d <= tolerancePx) {
			return fmt.Errorf("point %d at (%.3f, %.3f) is %.3f px from the reference (%.3f, %.3f)",
				i, p.X, p.Y, d, r[0]+dx, r[1]+dy)
		}
	}
	return nil
}

func newPipeline(t testing.TB, cfg lmbatch.Config) *lmbatch.Pipeline {
	t.Helper()
	p, err := lmbatch.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func stats(t testing.TB, p *lmbatch.Pipeline) lmbatch.Stats {
	t.Helper()
	s, err := p.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if !s.Reconciles() {
		t.Fatalf("stats do not reconcile: %+v", s)
	}
	return s
}

func TestStatusesAndVersions(t *testing.T) {
	if got := lmbatch.StatusQueueFull.String(); got != "queue full" {
		t.Errorf("StatusQueueFull.String() = %q", got)
	}
	if got := lmbatch.Status(1000).String(); got != "unknown status" {
		t.Errorf("Status(1000).String() = %q", got)
	}
	// The constants are the header's values, which never change.
	want := []lmbatch.Status{lmbatch.StatusOK, lmbatch.StatusNullArgument, lmbatch.StatusInvalidArgument,
		lmbatch.StatusQueueFull, lmbatch.StatusPending, lmbatch.StatusNotFound, lmbatch.StatusExpired,
		lmbatch.StatusCancelled, lmbatch.StatusInferenceFailed, lmbatch.StatusDuplicateID,
		lmbatch.StatusTimeout, lmbatch.StatusBufferTooSmall, lmbatch.StatusBackendUnavailable,
		lmbatch.StatusModelError, lmbatch.StatusShuttingDown, lmbatch.StatusPanic, lmbatch.StatusInternal}
	for i, s := range want {
		if int(s) != i {
			t.Errorf("status %q is %d, want %d", s, int(s), i)
		}
		if s != lmbatch.StatusOK && s.String() == "unknown status" {
			t.Errorf("status %d has no description", i)
		}
	}
	err := error(&lmbatch.StatusError{Op: "enqueue", Status: lmbatch.StatusQueueFull})
	wrapped := fmt.Errorf("camera 3: %w", err)
	if !errors.Is(wrapped, lmbatch.ErrQueueFull) || errors.Is(wrapped, lmbatch.ErrPending) {
		t.Errorf("errors.Is does not match the status of %v", wrapped)
	}
	if !errors.Is(wrapped, &lmbatch.StatusError{Status: lmbatch.StatusQueueFull}) {
		t.Errorf("errors.Is does not match a *StatusError of the same status")
	}
	var st lmbatch.Status
	if !errors.As(wrapped, &st) || st != lmbatch.StatusQueueFull {
		t.Errorf("errors.As gives %v", st)
	}
	if got := err.Error(); got != "lmbatch: enqueue: queue full" {
		t.Errorf("Error() = %q", got)
	}
	if v := lmbatch.Version(); v == "" || !strings.Contains(v, ".") {
		t.Errorf("Version() = %q", v)
	}
	if lmbatch.APIMajor != 1 {
		t.Errorf("header API major %d", lmbatch.APIMajor)
	}
	if ma, mi := lmbatch.LibraryAPIVersion(); ma != lmbatch.APIMajor || mi < lmbatch.APIMinor {
		t.Errorf("library API %d.%d, header %d.%d", ma, mi, lmbatch.APIMajor, lmbatch.APIMinor)
	}
}

func TestCreateFailuresCarryTheLibrarysMessage(t *testing.T) {
	cases := []struct {
		name string
		cfg  lmbatch.Config
		want error
		word string
	}{
		{"max_batch 33", lmbatch.Config{Backend: lmbatch.BackendCPU, MaxBatch: 33}, lmbatch.ErrInvalidArgument, "max_batch"},
		{"negative device", lmbatch.Config{Backend: lmbatch.BackendCPU, DeviceID: -1}, lmbatch.ErrInvalidArgument, "device_id"},
		{"backend 7", lmbatch.Config{Backend: 7}, lmbatch.ErrInvalidArgument, "backend"},
		{"TensorRT", lmbatch.Config{Backend: lmbatch.BackendTensorRT}, lmbatch.ErrBackendUnavailable, "TensorRT"},
		{"missing model", lmbatch.Config{Backend: lmbatch.BackendCPU, ModelPath: "/nonexistent/model.onnx"},
			lmbatch.ErrModelError, "/nonexistent/model.onnx"},
		// Refused by the binding before the library sees them.
		{"negative max_batch", lmbatch.Config{MaxBatch: -1}, lmbatch.ErrInvalidArgument, "max_batch"},
		{"max_wait past uint32 us", lmbatch.Config{MaxWait: 2 * time.Hour}, lmbatch.ErrInvalidArgument, "max_wait"},
		{"NUL in path", lmbatch.Config{ModelPath: "a\x00b"}, lmbatch.ErrInvalidArgument, "NUL"},
	}
	for _, c := range cases {
		se, err := createError(t, c.name, c.cfg, c.want)
		if se == nil {
			continue
		}
		if !strings.Contains(se.Message, c.word) || !strings.Contains(err.Error(), c.word) {
			t.Errorf("%s: message %q should mention %q", c.name, se.Message, c.word)
		}
	}
}

// createError checks that New(cfg) fails with `want` from "create" and returns the error as a
// StatusError, or nil (after reporting) when it does not.
func createError(t *testing.T, name string, cfg lmbatch.Config, want error) (*lmbatch.StatusError, error) {
	t.Helper()
	p, err := lmbatch.New(cfg)
	if err == nil {
		p.Close()
		t.Errorf("%s: New succeeded", name)
		return nil, nil
	}
	var se *lmbatch.StatusError
	if !errors.Is(err, want) || !errors.As(err, &se) || se.Op != "create" {
		t.Errorf("%s: got %v, want %v", name, err, want)
		return nil, err
	}
	return se, err
}

func TestModelInfo(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxBatch: 4})
	info, err := p.ModelInfo()
	if err != nil {
		t.Fatal(err)
	}
	want := lmbatch.ModelInfo{Backend: "cpu-tract", NumPoints: 468, InputWidth: 192, InputHeight: 192, MaxBatch: 4,
		Dims: 3, Scheme: "mediapipe468", Precision: lmbatch.PrecisionFP32}
	if info != want {
		t.Errorf("ModelInfo() = %+v, want %+v", info, want)
	}

	// AUTO on a machine where TensorRT cannot run says why it fell back.
	auto := newPipeline(t, lmbatch.Config{})
	info, err = auto.ModelInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.MaxBatch != 32 || info.NumPoints != 468 {
		t.Errorf("defaults: %+v", info)
	}
	if info.Backend == "cpu-tract" && !strings.Contains(info.FallbackReason, "TensorRT") {
		t.Errorf("AUTO fell back to the CPU without a reason: %+v", info)
	}
}

func TestAccuracyOnTheAstronaut(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 200 * time.Microsecond})
	if err := p.Enqueue(7, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	lm, err := p.PopWait(7, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPoints(lm, 0, 0); err != nil {
		t.Error(err)
	}
	if lm.FaceScore < 0.9 || lm.FaceScore > 1 {
		t.Errorf("face score %v", lm.FaceScore)
	}
	if lm.InferTime <= 0 || lm.QueueTime < 0 {
		t.Errorf("times: queue %v, inference %v", lm.QueueTime, lm.InferTime)
	}
	for _, pt := range lm.Points {
		if math.IsNaN(float64(pt.Z)) || pt.X < 100 || pt.X > 350 || pt.Y < 0 || pt.Y > 250 {
			t.Fatalf("point %+v is not on the face", pt)
		}
	}
	// Delivered once; the id is free again.
	if _, err := p.Pop(7); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("second Pop: %v, want ErrNotFound", err)
	}
	// The same face in a padded, shifted frame, popped without waiting once it is done.
	img, box := shifted(t, 40, 25, 13)
	if err := p.Enqueue(7, img, box); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		lm, err = p.Pop(7)
		if !errors.Is(err, lmbatch.ErrPending) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPoints(lm, 40, 25); err != nil {
		t.Error(err)
	}
}

func TestConcurrentEnqueueAndPop(t *testing.T) {
	const goroutines, perGoroutine = 6, 5
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxBatch: 8, MaxWait: 2 * time.Millisecond})
	// Each goroutine has its own offset and row padding, so a result handed to the wrong id shows.
	images := make([]lmbatch.Image, goroutines)
	boxes := make([]lmbatch.Box, goroutines)
	for g := range images {
		images[g], boxes[g] = shifted(t, 9*g, 5*g, 7*g)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines*perGoroutine)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			dx, dy := 9*g, 5*g
			img, box := images[g], boxes[g]
			for i := 0; i < perGoroutine; i++ {
				id := uint64(1000*g + i)
				if err := p.Enqueue(id, img, box); err != nil {
					errs <- fmt.Errorf("enqueue %d: %w", id, err)
					return
				}
				if i%2 == 1 {
					// Leave one in the queue while enqueueing the next.
					continue
				}
				for _, pid := range []uint64{id - 1, id} {
					if pid == id-1 && i == 0 {
						continue
					}
					lm, err := p.PopWait(pid, 60*time.Second)
					if err != nil {
						errs <- fmt.Errorf("pop %d: %w", pid, err)
						return
					}
					if err := checkPoints(lm, float32(dx), float32(dy)); err != nil {
						errs <- fmt.Errorf("id %d (goroutine %d): %w", pid, g, err)
					}
				}
			}
			// perGoroutine is odd: the last one was popped in the loop.
		}(g)
	}
	// Stats may be read while the others work; every snapshot reconciles.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var midRun error
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(3 * time.Millisecond):
			if s, err := p.Stats(); (err != nil || !s.Reconciles()) && midRun == nil {
				midRun = fmt.Errorf("stats mid-run: %+v, %v", s, err)
			}
		}
	}
	if midRun != nil {
		t.Error(midRun)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := stats(t, p)
	n := uint64(goroutines * perGoroutine)
	if s.Accepted != n || s.Popped != n || s.Queued+s.InFlight+s.Ready+s.Expired+s.Cancelled+s.Failed != 0 {
		t.Errorf("stats after %d faces: %+v", n, s)
	}
	var batches, items uint64
	for size, count := range s.BatchSizeHist {
		if size > 8 && count != 0 {
			t.Errorf("%d batches of %d items with MaxBatch 8", count, size)
		}
		batches += count
		items += uint64(size) * count
	}
	if s.BatchSizeHist[0] != 0 || batches != s.Batches || items != n {
		t.Errorf("histogram %v: %d batches of %d items, stats say %d batches of %d", s.BatchSizeHist,
			batches, items, s.Batches, n)
	}
	if s.InferP50 <= 0 || s.InferP99 < s.InferP50 || s.QueueP99 < s.QueueP50 || s.Degraded {
		t.Errorf("latencies: %+v", s)
	}
}

func TestBadInputs(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 100 * time.Microsecond})
	img := astronaut(t)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	// Refused by the library: counted in RejectedInvalid.
	library := []struct {
		name string
		img  lmbatch.Image
		box  lmbatch.Box
	}{
		{"inverted box", img, lmbatch.Box{X1: 271, Y1: 80, X2: 177, Y2: 175}},
		{"NaN box", img, lmbatch.Box{X1: nan, Y1: 80, X2: 271, Y2: 175}},
		{"infinite box", img, lmbatch.Box{X1: 177, Y1: 80, X2: 271, Y2: inf}},
		{"empty box", img, lmbatch.Box{X1: 177, Y1: 80, X2: 177, Y2: 175}},
		{"box outside the frame", img, lmbatch.Box{X1: 600, Y1: 80, X2: 700, Y2: 175}},
		{"format 9", lmbatch.Image{Data: img.Data, Width: astroW, Height: astroH, Stride: astroStride, Format: 9}, astroBox},
		{"format -1", lmbatch.Image{Data: img.Data, Width: astroW, Height: astroH, Stride: astroStride, Format: -1}, astroBox},
		{"zero width", lmbatch.Image{Data: img.Data, Width: 0, Height: astroH, Stride: astroStride, Format: lmbatch.RGB8}, astroBox},
		{"stride below a row", lmbatch.Image{Data: img.Data, Width: astroW, Height: astroH, Stride: astroStride - 1, Format: lmbatch.RGB8}, astroBox},
		{"no data", lmbatch.Image{Width: 0, Height: 0, Format: lmbatch.RGB8}, astroBox},
	}
	for i, c := range library {
		err := p.Enqueue(uint64(i), c.img, c.box)
		var se *lmbatch.StatusError
		if !errors.Is(err, lmbatch.ErrInvalidArgument) || !errors.As(err, &se) || se.Op != "enqueue" {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	// Refused by the binding, which must not let the library read past Data.
	binding := []struct {
		name string
		img  lmbatch.Image
	}{
		{"data one byte short", lmbatch.Image{Data: img.Data[:len(img.Data)-1], Width: astroW, Height: astroH, Stride: astroStride, Format: lmbatch.RGB8}},
		{"RGBA view of RGB data", lmbatch.Image{Data: img.Data, Width: astroW, Height: astroH, Stride: 4 * astroW, Format: lmbatch.RGBA8}},
		{"nil data", lmbatch.Image{Width: 4, Height: 4, Stride: 12, Format: lmbatch.RGB8}},
		{"negative height", lmbatch.Image{Data: img.Data, Width: astroW, Height: -1, Stride: astroStride, Format: lmbatch.RGB8}},
		{"overflowing stride", lmbatch.Image{Data: img.Data, Width: 4, Height: 30000, Stride: math.MaxInt64 / 1000, Format: lmbatch.GRAY8}},
	}
	for i, c := range binding {
		if err := p.Enqueue(uint64(100+i), c.img, astroBox); !errors.Is(err, lmbatch.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	s := stats(t, p)
	if s.RejectedInvalid != uint64(len(library)) || s.Accepted != 0 {
		t.Errorf("RejectedInvalid %d (want %d), Accepted %d (want 0)", s.RejectedInvalid, len(library), s.Accepted)
	}

	// A duplicate id, while the first is live.
	if err := p.Enqueue(5, img, astroBox); err != nil {
		t.Fatal(err)
	}
	if err := p.Enqueue(5, img, astroBox); !errors.Is(err, lmbatch.ErrDuplicateID) {
		t.Errorf("duplicate id: %v, want ErrDuplicateID", err)
	}
	if _, err := p.PopWait(5, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	// Unknown ids answer at once.
	if _, err := p.Pop(12345); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("Pop of an unknown id: %v", err)
	}
	t0 := time.Now()
	if _, err := p.PopWait(12345, 5*time.Second); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("PopWait of an unknown id: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("PopWait of an unknown id took %v", d)
	}
	if err := p.Cancel(12345); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("Cancel of an unknown id: %v", err)
	}
	s = stats(t, p)
	if s.Accepted != 1 || s.Popped != 1 || s.RejectedInvalid != uint64(len(library)) {
		t.Errorf("stats: %+v", s)
	}
}

func TestPendingTimeoutAndCancel(t *testing.T) {
	// A long deadline keeps a lone face pending.
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 20 * time.Second, DrainTimeout: lmbatch.ZeroDuration})
	img := astronaut(t)
	if err := p.Enqueue(1, img, astroBox); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pop(1); !errors.Is(err, lmbatch.ErrPending) {
		t.Errorf("Pop: %v, want ErrPending", err)
	}
	if _, err := p.PopWait(1, 0); !errors.Is(err, lmbatch.ErrPending) {
		t.Errorf("PopWait(0): %v, want ErrPending", err)
	}
	t0 := time.Now()
	if _, err := p.PopWait(1, 30*time.Millisecond); !errors.Is(err, lmbatch.ErrTimeout) {
		t.Errorf("PopWait(30ms): %v, want ErrTimeout", err)
	}
	if d := time.Since(t0); d < 25*time.Millisecond {
		t.Errorf("PopWait(30ms) returned after %v", d)
	}
	// A PopWait blocked on the id wakes with ErrCancelled. If Cancel wins the race with the
	// waiter, the waiter sees ErrNotFound instead: try a few times.
	cancelled := false
	tries := 0
	for ; tries < 3 && !cancelled; tries++ {
		id := uint64(10 + tries)
		if err := p.Enqueue(id, img, astroBox); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			_, err := p.PopWait(id, 30*time.Second)
			got <- err
		}()
		time.Sleep(200 * time.Millisecond)
		if err := p.Cancel(id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		select {
		case err := <-got:
			switch {
			case errors.Is(err, lmbatch.ErrCancelled):
				cancelled = true
			case !errors.Is(err, lmbatch.ErrNotFound):
				t.Fatalf("the waiter got %v, want ErrCancelled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Cancel did not wake the waiter")
		}
	}
	if !cancelled {
		t.Error("no waiter saw ErrCancelled")
	}
	if err := p.Cancel(1); err != nil {
		t.Errorf("Cancel(1): %v", err)
	}
	if err := p.Cancel(1); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("second Cancel(1): %v, want ErrNotFound", err)
	}
	if _, err := p.Pop(1); !errors.Is(err, lmbatch.ErrNotFound) {
		t.Errorf("Pop after Cancel: %v, want ErrNotFound", err)
	}
	s := stats(t, p)
	if n := uint64(1 + tries); s.Accepted != n || s.Cancelled != n || s.Queued != 0 || s.Popped != 0 || s.Batches != 0 {
		t.Errorf("stats: %+v", s)
	}
	// The id is free again after Cancel; leave it queued: Close discards it.
	if err := p.Enqueue(1, img, astroBox); err != nil {
		t.Errorf("re-enqueue after Cancel: %v", err)
	}
	s = stats(t, p)
	if s.Accepted != uint64(2+tries) || s.Queued != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	p, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if err := p.Enqueue(2, astronaut(t), astroBox); !errors.Is(err, lmbatch.ErrShuttingDown) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if _, err := p.PopWait(1, time.Second); !errors.Is(err, lmbatch.ErrShuttingDown) {
		t.Errorf("PopWait after Close: %v", err)
	}
	if _, err := p.Stats(); !errors.Is(err, lmbatch.ErrShuttingDown) {
		t.Errorf("Stats after Close: %v", err)
	}
	if _, err := p.ModelInfo(); !errors.Is(err, lmbatch.ErrShuttingDown) {
		t.Errorf("ModelInfo after Close: %v", err)
	}
	if err := p.Cancel(1); !errors.Is(err, lmbatch.ErrShuttingDown) {
		t.Errorf("Cancel after Close: %v", err)
	}
	var nilPipeline *lmbatch.Pipeline
	nilPipeline.Close()
}

func TestLogCallback(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	levels := map[lmbatch.LogLevel]int{}
	p, err := lmbatch.New(lmbatch.Config{Log: func(level lmbatch.LogLevel, message string) {
		mu.Lock()
		defer mu.Unlock()
		levels[level]++
		logged = append(logged, fmt.Sprintf("%d %s", level, message))
	}})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	if levels[lmbatch.LogInfo] == 0 {
		t.Errorf("no info message: %q", logged)
	}
	for level := range levels {
		if level < lmbatch.LogError || level > lmbatch.LogDebug {
			t.Errorf("log level %d: %q", level, logged)
		}
	}
	// From lm_create (the calling thread) and from the worker as lm_destroy stops it.
	for _, word := range []string{"ready", "stopped"} {
		found := false
		for _, m := range logged {
			found = found || strings.Contains(m, word)
		}
		if !found {
			t.Errorf("no message says %q: %q", word, logged)
		}
	}
}

func TestGarbageCollectedPipelineIsClosed(t *testing.T) {
	// The finalizer is a safety net: a Pipeline dropped without Close is destroyed, which the
	// worker's last log message ("lmbatch worker stopped", at debug level) shows.
	stopped := make(chan struct{})
	var once sync.Once
	func() {
		p, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU, DrainTimeout: lmbatch.ZeroDuration,
			Log: func(level lmbatch.LogLevel, message string) {
				if strings.Contains(message, "stopped") {
					once.Do(func() { close(stopped) })
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.After(20 * time.Second)
	for {
		runtime.GC()
		select {
		case <-stopped:
			return
		case <-deadline:
			t.Fatal("the finalizer did not destroy an unreachable Pipeline")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CPUThreads reaches the library: one thread runs the astronaut as well as every core; a negative
// count is refused before the library sees it.
func TestCPUThreads(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, CPUThreads: 1, MaxWait: lmbatch.ZeroDuration})
	if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	lm, err := p.PopWait(1, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPoints(lm, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU, CPUThreads: -1}); !errors.Is(err, lmbatch.ErrInvalidArgument) {
		t.Fatalf("CPUThreads -1: %v", err)
	}
}

// The aligned chip (ABI 1.4): ChipSize 112 gives a 112x112 RGB chip through Pop and PopNext,
// ChipBGR swaps its bytes, and no ChipSize gives none.
func TestAlignedChip(t *testing.T) {
	rgb := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 200 * time.Microsecond, ChipSize: 112})
	bgr := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 200 * time.Microsecond, ChipSize: 112, ChipBGR: true})
	plain := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, MaxWait: 200 * time.Microsecond})
	for _, p := range []*lmbatch.Pipeline{rgb, bgr, plain} {
		if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
			t.Fatal(err)
		}
	}
	a, err := rgb.PopWait(1, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.ChipSide != 112 || len(a.Chip) != 112*112*3 {
		t.Fatalf("chip side %d, %d bytes", a.ChipSide, len(a.Chip))
	}
	id, b, err := bgr.PopNext(60 * time.Second)
	if err != nil || id != 1 {
		t.Fatalf("PopNext: %d, %v", id, err)
	}
	for i := 0; i < len(a.Chip); i += 3 {
		if a.Chip[i] != b.Chip[i+2] || a.Chip[i+2] != b.Chip[i] {
			t.Fatalf("pixel %d: RGB %v, BGR %v", i/3, a.Chip[i:i+3], b.Chip[i:i+3])
		}
	}
	c, err := plain.PopWait(1, 60*time.Second)
	if err != nil || c.Chip != nil || c.ChipSide != 0 {
		t.Fatalf("no ChipSize: %d bytes, side %d, %v", len(c.Chip), c.ChipSide, err)
	}
	if _, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU, ChipSize: 1025}); !errors.Is(err, lmbatch.ErrInvalidArgument) {
		t.Errorf("ChipSize 1025: %v", err)
	}
}
